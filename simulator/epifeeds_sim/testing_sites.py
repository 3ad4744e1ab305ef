"""Testing-site daily reports (采样点日报): one CSV or XLSX per district and day, dropped as files.

A district's `samples_collected` is split over its active sites, so the sites add up to the district's
figure exactly when no fault is planted (rule R2 allows ±2%). Tubes are pooled: 10-in-1, 20-in-1 on a
sampling-round day in an urban district; 采管数 = ceil(采样人次 / pool) (I4), 送检管数 ≤ 采管数, and
阳性管数 ≤ 送检管数 (V2). Positive tubes add up to at most the district's new positives that day (R4).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from epifeeds.feeds.names import DistrictRoster
from epifeeds_sim.district_feed import DistrictFeedPlan, SlotPicker
from epifeeds_sim.files import SheetSkeleton, csv_bytes, to_full_width, xlsx_bytes
from epifeeds_sim.ground_truth import GroundTruth, PlantedFault
from epifeeds_sim.randomness import binomial, iso_utc, local_moment, partition, stream
from epifeeds_sim.reference import DISTRICT_PROFILES
from epifeeds_sim.registries import TestingSite
from epifeeds_sim.roster import city_of, simulated_districts

FEED = "testing_sites"
FEED_DIR = "file_drop/testing_sites"
HEADERS = ("采样点编号", "采样点名称", "日期", "混采模式", "采样人次", "采管数", "送检管数", "阳性管数")
SAMPLES_HEADER_DRIFT = "采样人数"
POSITIVES_HEADER_DRIFT = "阳性结果管数"  # not an alias: rule S1's drift
TOTALS_LABEL = "合计"
R2_TOLERANCE = 0.02
# How each district's office exports its file (a habit, not a fault). Taiyuan's; see file_format().
FILE_FORMATS: dict[str, tuple[str, str | None]] = {
    "140105": ("csv", "gbk"),
    "140106": ("csv", "utf-8-sig"),
    "140107": ("xlsx", None),
    "140108": ("csv", "gbk"),
    "140109": ("csv", "utf-8-sig"),
    "140110": ("xlsx", None),
    "140121": ("csv", "gbk"),
    "140122": ("csv", "utf-8-sig"),
    "140123": ("csv", "gbk"),
    "140181": ("xlsx", None),
}
# Outside Taiyuan each office's habit is drawn once per district (fixed, whatever the seed), in the same
# proportions: four in ten GBK CSV, three UTF-8-with-BOM CSV, three XLSX.
_HABITS: tuple[tuple[str, str | None], ...] = (
    *[("csv", "gbk")] * 4,
    *[("csv", "utf-8-sig")] * 3,
    *[("xlsx", None)] * 3,
)


def file_format(district_id: str) -> tuple[str, str | None]:
    """(format, encoding) a district's office exports its testing-site file in."""
    if district_id in FILE_FORMATS:
        return FILE_FORMATS[district_id]
    return random.Random(f"epifeeds-sim-file-format:{district_id}").choice(_HABITS)


@dataclass
class SiteRow:
    site_id: str
    site_name: str
    pool: int
    samples: int
    tubes: int
    sent: int
    positive: int


@dataclass
class SiteFile:
    """One district's file for one day, and how it is to be (mis)written."""

    district_id: str
    day: date
    rows: list[SiteRow]
    file_format: str
    encoding: str | None
    arrived_at: datetime
    samples_header: str = HEADERS[4]
    positives_header: str = HEADERS[7]
    has_totals_row: bool = False
    has_thousands_separators: bool = False
    full_width_rows: set[int] = field(default_factory=set)
    truncate_fraction: float | None = None
    is_empty: bool = False

    @property
    def path(self) -> str:
        return f"{FEED_DIR}/{self.district_id}/{self.day.isoformat()}.{self.file_format}"


def _pool_size(district_id: str, t: int, round_days: dict[int, float]) -> int:
    """20混1 on the district's city's sampling-round days in urban districts, else 10混1."""
    return 20 if t in round_days and DISTRICT_PROFILES[district_id].is_urban else 10


def _site_rows(
    rng: random.Random, sites: list[TestingSite], samples_total: int, new_positives: int, pool: int
) -> list[SiteRow]:
    shares = partition(rng, samples_total, [s.throughput_weight for s in sites])
    rows = []
    for site, samples in zip(sites, shares, strict=True):
        tubes = math.ceil(samples / pool)
        sent = tubes - 1 if tubes > 1 and rng.random() < 0.02 else tubes
        rows.append(SiteRow(site.site_id, site.site_name, pool, samples, tubes, sent, 0))
    for _ in range(binomial(rng, new_positives, 0.6)):  # the rest are found among isolated contacts
        candidates = [r for r in rows if r.positive < r.sent]
        if not candidates:
            break
        rng.choice(candidates).positive += 1
    return rows


def simulate_site_files(
    roster: DistrictRoster, sites: list[TestingSite], district_plan: DistrictFeedPlan, *, seed: int
) -> dict[tuple[str, int], SiteFile]:
    truth = district_plan.truth
    files: dict[tuple[str, int], SiteFile] = {}
    sites_of: dict[str, list[TestingSite]] = {}
    for site in sites:
        sites_of.setdefault(site.district_id, []).append(site)
    for district in simulated_districts(roster):
        own = sites_of.get(district.district_id, [])
        habit, encoding = file_format(district.district_id)
        for t in range(truth.days):
            day = truth.day(t)
            rng = stream(seed, "sites", district.district_id, day.isoformat())
            values = truth.values[(district.district_id, t)]
            active = [s for s in own if s.is_active(day)]
            pool = _pool_size(district.district_id, t, truth.rounds_of(district.district_id))
            rows = _site_rows(rng, active, values["samples_collected"], values["new_positives"], pool)
            arrived_at = local_moment(day + timedelta(days=1), 30 + rng.randint(0, 300), rng.randint(0, 59))
            files[(district.district_id, t)] = SiteFile(
                district.district_id, day, rows, habit, encoding, arrived_at
            )
    return files


# ------------------------------------------------------------------------------------------- faults


def plan_site_faults(
    roster: DistrictRoster,
    files: dict[tuple[str, int], SiteFile],
    district_plan: DistrictFeedPlan,
    *,
    seed: int,
    fault_profile: str,
    ground_truth: GroundTruth,
) -> None:
    truth = district_plan.truth
    if fault_profile != "none":
        _note_revision_consequences(files, district_plan, ground_truth)
    if fault_profile == "none":
        return
    rng = stream(seed, "sites", "faults")
    district_ids = [d.district_id for d in simulated_districts(roster)]
    picker = SlotPicker(rng, district_ids, truth.days, group=city_of)
    picker.used |= district_plan.fault_slots
    names = {d.district_id: d.district_name for d in roster.districts}
    csv_districts = {d for d in district_ids if file_format(d)[0] == "csv"}

    def fault(kind: str, rule: str | None, slot: tuple[str, int], **kwargs: Any) -> PlantedFault:
        site_file = files[slot]
        kwargs.setdefault("reporter", slot[0])
        kwargs.setdefault("reporter_name", names[slot[0]])
        return ground_truth.add(
            PlantedFault(
                kind=kind,
                rule=rule,
                feed=FEED,
                report_date=site_file.day.isoformat(),
                file=site_file.path,
                **kwargs,
            )
        )

    slot = picker.take()
    if slot:
        files[slot].samples_header = SAMPLES_HEADER_DRIFT
        fault(
            "header_drift",
            None,
            slot,
            values={"header": SAMPLES_HEADER_DRIFT},
            expected={"header": HEADERS[4]},
            detail="采样人数 instead of 采样人次: the contract's header aliases must map it",
        )

    slot = picker.take(
        accept=lambda s: s[0] in csv_districts,
        prefer=lambda s: max((r.samples for r in files[s].rows), default=0) >= 1000,
    )
    if slot and max((r.samples for r in files[slot].rows), default=0) >= 1000:
        files[slot].has_thousands_separators = True
        cells = sum(
            1 for r in files[slot].rows for v in (r.samples, r.tubes, r.sent, r.positive) if v >= 1000
        )
        fault(
            "thousands_separators",
            None,
            slot,
            values={
                "cells_with_separator": cells,
                "example": f"{max(r.samples for r in files[slot].rows):,}",
            },
            detail="numbers of 1,000 and more written with a thousands separator (quoted in the CSV)",
        )

    slot = picker.take()
    if slot:
        site_file = files[slot]
        site_file.has_totals_row = True
        fault(
            "totals_row",
            None,
            slot,
            values={"row": _totals_row(site_file)},
            detail="a 合计 (totals) row after the data: drop it; kept, it is an unknown site (V1) and doubles "
            "the district's sum (R2)",
        )

    slot = picker.take(prefer=lambda s: sum(r.samples for r in files[s].rows) >= 1000)
    if slot:
        site_file = files[slot]
        district_samples = sum(r.samples for r in site_file.rows)
        target = round(district_samples * rng.uniform(0.03, 0.08))
        top: list[SiteRow] = []
        for row in sorted(site_file.rows, key=lambda r: (-r.samples, r.site_id)):
            if sum(r.samples for r in top) >= 2 * target:
                break
            top.append(row)
        for row, cut in zip(top, partition(rng, target, [r.samples for r in top]), strict=True):
            row.samples -= min(cut, row.samples)
            row.tubes = math.ceil(row.samples / row.pool)
            row.sent = min(row.sent, row.tubes)
            row.positive = min(row.positive, row.sent)
        site_sum = sum(r.samples for r in site_file.rows)
        fault(
            "samples_mismatch",
            "R2",
            slot,
            values={"district_samples": district_samples, "site_samples_sum": site_sum},
            expected={"site_samples_sum": district_samples},
            detail=f"the district reports {district_samples} samples, its sites add up to {site_sum} "
            f"({(district_samples - site_sum) / district_samples:.1%} short, beyond the ±2% of R2)",
        )

    if fault_profile == "default":
        return

    slot = picker.take(accept=lambda s: s[0] in csv_districts and len(files[s].rows) >= 5)
    if slot:
        site_file = files[slot]
        site_file.full_width_rows = set(range(0, len(site_file.rows), 5))
        fault(
            "full_width_digits",
            None,
            slot,
            values={"site_ids": [site_file.rows[i].site_id for i in sorted(site_file.full_width_rows)]},
            detail="every fifth row's counts in full-width digits (１２３): normalise with NFKC",
        )

    slot = picker.take(accept=lambda s: file_format(s[0])[1] == "utf-8-sig")
    if slot:
        files[slot].encoding = "gbk"
        fault(
            "wrong_encoding",
            None,
            slot,
            values={"encoding": "gbk"},
            expected={"encoding": "utf-8-sig"},
            detail="a district that sends UTF-8 with BOM sent GBK this once: decoding as UTF-8 fails",
        )

    slot = picker.take(accept=lambda s: s[0] in csv_districts and len(files[s].rows) >= 10)
    if slot:
        site_file = files[slot]
        site_file.truncate_fraction = rng.uniform(0.4, 0.8)
        full, cut = _encoded(site_file, truncate=False), _encoded(site_file)
        complete_rows = cut.count(b"\r\n") - 1
        kept = site_file.rows[:complete_rows]
        fault(
            "truncated_file",
            "C3",
            slot,
            values={"bytes": len(cut), "complete_rows": complete_rows},
            expected={"bytes": len(full), "rows": len(site_file.rows)},
            consequences=_lost_rows_consequences(site_file, kept),
            detail="the upload stopped part-way: the file ends inside a row (possibly inside a GBK character)",
        )

    slot = picker.take()
    if slot:
        site_file = files[slot]
        site_file.is_empty = True
        fault(
            "empty_file",
            "C3",
            slot,
            values={"bytes": 0},
            expected={"rows": len(site_file.rows)},
            consequences=_lost_rows_consequences(site_file, []),
            detail="a zero-byte file where every active site should have a row",
        )

    slot = picker.take(accept=lambda s: any(r.samples >= 3 * r.pool for r in files[s].rows))
    if slot:
        site_file = files[slot]
        row = max(site_file.rows, key=lambda r: (r.samples, r.site_id))
        expected_tubes = row.tubes
        row.tubes = row.sent = row.samples
        fault(
            "tube_pooling_break",
            "I4",
            slot,
            reporter=row.site_id,
            reporter_name=row.site_name,
            values={"samples": row.samples, "tubes": row.tubes, "pool": row.pool},
            expected={"tubes": expected_tubes},
            detail="one tube per sample at a site that pools: 采管数 far from ceil(采样人次 / pool)",
        )

    def new_positives(district_id: str, t: int) -> int:
        return truth.values[(district_id, t)]["new_positives"] if t < truth.days else 0

    slot = picker.take(
        accept=lambda s: (
            sum(r.sent for r in files[s].rows) >= new_positives(*s) + new_positives(s[0], s[1] + 1) + 4
        )
    )
    if slot:
        district_id, t = slot
        site_file = files[slot]
        today, tomorrow = new_positives(district_id, t), new_positives(district_id, t + 1)
        target = today + tomorrow + rng.randint(2, 4)
        for row in sorted(site_file.rows, key=lambda r: (-r.sent, r.site_id)):
            current = sum(r.positive for r in site_file.rows)
            row.positive = min(row.sent, row.positive + target - current)
        fault(
            "site_positives_exceed_cases",
            "R4",
            slot,
            values={"site_positive_tubes": sum(r.positive for r in site_file.rows)},
            expected={"district_new_positives": today, "district_new_positives_next_day": tomorrow},
            detail="more positive tubes at the district's sites than new positives it reports that day and the next",
        )

    slot = picker.take()
    if slot:
        files[slot].positives_header = POSITIVES_HEADER_DRIFT
        fault(
            "header_renamed",
            "S1",
            slot,
            values={"header": POSITIVES_HEADER_DRIFT},
            expected={"header": HEADERS[7]},
            detail="阳性结果管数 instead of 阳性管数, a spelling the contract does not know: drift (S1), or "
            "the file's positive tubes land empty",
        )


def _note_revision_consequences(
    files: dict[tuple[str, int], SiteFile], district_plan: DistrictFeedPlan, ground_truth: GroundTruth
) -> None:
    """A revised district report whose first version had other samples also breaks R2 until revised."""
    for fault in ground_truth.select(kind="revised_report"):
        before = fault.values["before"].get("samples_collected")
        if before is None:
            continue
        t = (date.fromisoformat(fault.report_date) - district_plan.truth.start).days
        site_sum = sum(r.samples for r in files[(fault.reporter, t)].rows)
        if abs(before - site_sum) > R2_TOLERANCE * site_sum:
            fault.consequences.append(
                {
                    "rule": "R2",
                    "reporter": fault.reporter,
                    "report_date": fault.report_date,
                    "only_before": fault.values["after_available_at"],
                }
            )


def _lost_rows_consequences(site_file: SiteFile, kept: list[SiteRow]) -> list[dict[str, Any]]:
    consequences: list[dict[str, Any]] = []
    report_date = site_file.day.isoformat()
    lost = [r.site_id for r in site_file.rows[len(kept) :]]
    if lost:
        consequences.append(
            {"rule": "C1", "reporter": site_file.district_id, "report_date": report_date, "site_ids": lost}
        )
    full = sum(r.samples for r in site_file.rows)
    if abs(full - sum(r.samples for r in kept)) > R2_TOLERANCE * full:
        consequences.append({"rule": "R2", "reporter": site_file.district_id, "report_date": report_date})
    return consequences


# ------------------------------------------------------------------------------------------ writing


def _totals_row(site_file: SiteFile) -> list[Any]:
    rows = site_file.rows
    return [
        TOTALS_LABEL,
        "",
        site_file.day.isoformat(),
        "",
        sum(r.samples for r in rows),
        sum(r.tubes for r in rows),
        sum(r.sent for r in rows),
        sum(r.positive for r in rows),
    ]


def _table(site_file: SiteFile) -> tuple[list[str], list[list[Any]]]:
    header = list(HEADERS)
    header[4] = site_file.samples_header
    header[7] = site_file.positives_header
    rows: list[list[Any]] = [
        [
            r.site_id,
            r.site_name,
            site_file.day.isoformat(),
            f"{r.pool}混1",
            r.samples,
            r.tubes,
            r.sent,
            r.positive,
        ]
        for r in site_file.rows
    ]
    if site_file.has_totals_row:
        rows.append(_totals_row(site_file))
    return header, rows


def _encoded(site_file: SiteFile, *, truncate: bool = True) -> bytes:
    if site_file.is_empty:
        return b""
    header, rows = _table(site_file)
    if site_file.file_format == "xlsx":
        return _xlsx(site_file, header, rows)
    for i in site_file.full_width_rows:
        rows[i][4:] = [to_full_width(str(v)) for v in rows[i][4:]]
    if site_file.has_thousands_separators:
        rows = [[f"{v:,}" if isinstance(v, int) else v for v in row] for row in rows]
    data = csv_bytes(header, rows, encoding=site_file.encoding or "utf-8")
    if truncate and site_file.truncate_fraction is not None:
        data = data[: int(len(data) * site_file.truncate_fraction)]
    return data


def _workbook(day: date, header: list[str], rows: list[list[Any]]) -> Workbook:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "采样点日报"
    sheet.append(header)
    for row in rows:
        sheet.append([day if i == 2 else v for i, v in enumerate(row)])
        sheet.cell(row=sheet.max_row, column=3).number_format = "yyyy-mm-dd"
    sheet.column_dimensions["B"].width = 28
    return workbook


@cache
def _skeleton(header: tuple[str, ...]) -> SheetSkeleton:
    sample = [["TS1401050001", "亲贤社区1号核酸采样点", "", "10混1", 95, 10, 10, 0]]
    return SheetSkeleton(_workbook(date(2022, 3, 1), list(header), sample), header_rows=1)


def _xlsx(site_file: SiteFile, header: list[str], rows: list[list[Any]]) -> bytes:
    """The XLSX openpyxl would write (written without it where the skeleton can: ~50x faster)."""
    day = site_file.day
    fast = _skeleton(tuple(header)).render(
        [[day if i == 2 else v for i, v in enumerate(row)] for row in rows], site_file.arrived_at
    )
    return fast if fast is not None else xlsx_bytes(_workbook(day, header, rows), site_file.arrived_at)


def write_site_files(out_dir: Path, files: dict[tuple[str, int], SiteFile]) -> dict[str, str]:
    """Write every file; returns path -> arrival time (the file drop's manifest)."""
    arrivals = {}
    for key in sorted(files):
        site_file = files[key]
        path = out_dir / site_file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_encoded(site_file))
        arrivals[site_file.path] = iso_utc(site_file.arrived_at)
    return arrivals


def feed_metadata(
    files: dict[tuple[str, int], SiteFile], sites: list[TestingSite], roster: DistrictRoster | None = None
) -> dict[str, Any]:
    district_ids = [d.district_id for d in simulated_districts(roster)] if roster else list(FILE_FORMATS)
    formats = {d: file_format(d) for d in district_ids}
    return {
        "dir": FEED_DIR,
        "file_pattern": f"{FEED_DIR}/<district_id>/<report_date>.(csv|xlsx)",
        "headers": list(HEADERS),
        "formats": {d: {"format": f, "encoding": e} for d, (f, e) in formats.items()},
        "pooling": "10混1; 20混1 on sampling-round days in urban districts",
        "registry": "registries/testing_sites.json",
        "sites": len(sites),
        "rows": sum(len(f.rows) for f in files.values()),
        "arrival": "D+1 00:30-05:30 Asia/Shanghai (file_drop/arrivals.json)",
    }
