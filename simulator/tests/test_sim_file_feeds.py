"""The simulator's file drops and registries: testing sites (CSV/XLSX) and isolation hotels (XLSX/JSON)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
import unicodedata
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from epifeeds.feeds.names import District, DistrictRoster, load_district_roster, normalise_label
from epifeeds_sim import hotels as sim_hotels
from epifeeds_sim import testing_sites as sim_sites
from epifeeds_sim.files import xlsx_bytes
from epifeeds_sim.generate import generate
from epifeeds_sim.ground_truth import GroundTruth
from epifeeds_sim.randomness import parse_iso_utc
from epifeeds_sim.registries import build_registries
from epifeeds_sim.roster import simulation_roster
from epifeeds_sim.testing_sites import FILE_FORMATS

pytestmark = pytest.mark.unit

ROSTER = load_district_roster()
DISTRICT_IDS = [d.district_id for d in ROSTER.reporting_districts]
DISTRICT_NAMES = [d.district_name for d in ROSTER.reporting_districts]
TAIYUAN = DistrictRoster(districts=(ROSTER.city, *ROSTER.reporting_districts), aliases=ROSTER.aliases)
FILE_RULES = {"C1-sites", "C1", "C3", "R2", "R3", "R4", "I3", "I4", "V2"}


# --------------------------------------------------------------------------- reading what agencies sent


def read_site_file(path: Path) -> dict[str, Any]:
    """Parse a testing-site file the way a tolerant parser would; say what was odd about it."""
    data = path.read_bytes()
    report: dict[str, Any] = {"bytes": len(data), "rows": [], "totals": [], "header": None}
    if not data:
        return report
    if path.suffix == ".xlsx":
        sheet = load_workbook(io.BytesIO(data), read_only=True).active
        table = [list(r) for r in sheet.iter_rows(values_only=True)]
        report["encoding"] = None
    else:
        report["is_truncated"] = not data.endswith(b"\r\n")
        complete = data[: data.rfind(b"\r\n") + 2]
        for encoding in ("utf-8", "gbk"):
            try:
                text = complete.decode(encoding)
            except UnicodeDecodeError:
                continue
            report["encoding"] = "utf-8-sig" if text.startswith("\ufeff") else encoding
            break
        table = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    report["header"] = table[0]
    for row in table[1:]:
        values = [
            unicodedata.normalize("NFKC", str(v)).replace(",", "") if v is not None else "" for v in row
        ]
        record = {
            "site_id": values[0],
            "pool": int(values[3].removesuffix("混1")) if values[3] else None,
            "samples": int(values[4]),
            "tubes": int(values[5]),
            "sent": int(values[6]),
            "positive": int(values[7]),
            "raw": row,
        }
        (report["totals"] if values[0] == "合计" else report["rows"]).append(record)
    return report


def read_hotel_file(path: Path, names: list[str] = DISTRICT_NAMES) -> dict[str, Any]:
    """A hotel's report; `names`: its city's districts (the XLSX has a column for each, in this order)."""
    if path.suffix == ".json":
        document = json.loads(path.read_text(encoding="utf-8"))
        by_name = document["check_ins_by_district"]
        assert set(by_name) <= set(names), (path, by_name)
        return {**document, "check_ins_by_district": {n: by_name.get(n, 0) for n in names}}
    sheet = load_workbook(path).active
    top, sub, row = ([c.value for c in r] for r in sheet.iter_rows(min_row=1, max_row=3))
    merged = sorted(str(r) for r in sheet.merged_cells.ranges)
    assert sub[8:-1] == names and len(row) == 9 + len(names), (path, sub)
    return {
        "hotel_id": row[0],
        "hotel_name": row[1],
        "report_date": row[2].date().isoformat(),
        "rooms_total": row[3],
        "rooms_occupied": row[4],
        "guests": row[5],
        "check_ins": row[6],
        "check_outs": row[7],
        "check_ins_by_district": dict(zip(sub[8:-1], row[8:-1], strict=True)),
        "staff": row[-1],
        "header": (top, sub),
        "merged": merged,
    }


def load(sim_dir: Path, roster: DistrictRoster = TAIYUAN) -> dict[str, Any]:
    """Everything a simulation delivered, read back; `roster`: the districts it covers."""
    truth = GroundTruth.load(sim_dir)
    district_ids = [d.district_id for c in roster.cities for d in roster.districts_of(c.district_id)]
    days = [date.fromisoformat(truth.start) + timedelta(days=i) for i in range(truth.days)]
    registries = {
        name: json.loads((sim_dir / f"registries/{name}.json").read_text(encoding="utf-8"))["items"]
        for name in ("streets", "testing_sites", "isolation_hotels")
    }
    district: dict[tuple[str, str], dict[str, Any]] = {}
    for day in days:
        items = json.loads((sim_dir / f"district_reports/{day}.json").read_text(encoding="utf-8"))["items"]
        for item in sorted(items, key=lambda i: i["available_at"]):  # the latest valid version wins
            district_id = roster.resolve(item["district"])
            if district_id is not None and item["report_date"] == day.isoformat():
                district[(district_id, day.isoformat())] = item
    sites = {}
    for d in district_ids:
        for day in days:
            (path,) = (sim_dir / f"file_drop/testing_sites/{d}").glob(f"{day}.*")  # one file, csv or xlsx
            sites[(d, day.isoformat())] = read_site_file(path)
    hotels = {}
    for hotel in registries["isolation_hotels"]:
        city_id = roster.by_id(hotel["district_id"]).parent_district_id
        names = [d.district_name for d in roster.districts_of(city_id)]
        for day in days:
            path = sim_dir / f"file_drop/hotel_reports/{hotel['hotel_id']}/{day}.{hotel['report_format']}"
            if path.exists():
                hotels[(hotel["hotel_id"], day.isoformat())] = read_hotel_file(path, names)
    return {
        "roster": roster,
        "district_ids": district_ids,
        "truth": truth,
        "days": days,
        "registries": registries,
        "district": district,
        "sites": sites,
        "hotels": hotels,
    }


def active(record: dict[str, Any], day: date, start: str, end: str) -> bool:
    opened, closed = record[start], record[end]
    return opened <= day.isoformat() and (closed is None or day.isoformat() < closed)


# ------------------------------------------------------------------------------------ a small checker


def file_findings(sim: dict[str, Any]) -> set[tuple[str, str, str]]:
    """Every rule the file drops break, checked independently of the generator."""
    found: set[tuple[str, str, str]] = set()
    days, district = sim["days"], sim["district"]

    def new_positives(district_id: str, day: date) -> int:
        return district.get((district_id, day.isoformat()), {}).get("new_positives", 0)

    for (district_id, report_date), report in sim["sites"].items():
        day = date.fromisoformat(report_date)
        if report["bytes"] == 0 or report.get("is_truncated"):
            found.add(("C3", district_id, report_date))
        expected_sites = {
            s["site_id"]
            for s in sim["registries"]["testing_sites"]
            if s["district_id"] == district_id and active(s, day, "opened_on", "closed_on")
        }
        if expected_sites - {r["site_id"] for r in report["rows"]}:
            found.add(("C1-sites", district_id, report_date))
        for row in report["rows"]:
            if row["tubes"] != math.ceil(row["samples"] / row["pool"]):
                found.add(("I4", row["site_id"], report_date))
            if not row["positive"] <= row["sent"] <= row["tubes"] <= row["samples"]:
                found.add(("V2", row["site_id"], report_date))
        if report.get("header") and "阳性管数" not in report["header"]:
            found.add(("S1", district_id, report_date))  # an unknown spelling of an optional measure
        published = district.get((district_id, report_date))
        if published is None:
            continue  # no valid district report: nothing to reconcile with
        site_samples = sum(r["samples"] for r in report["rows"])
        if abs(site_samples - published["samples_collected"]) > 0.02 * published["samples_collected"]:
            found.add(("R2", district_id, report_date))
        window = published["new_positives"] + new_positives(district_id, day + timedelta(days=1))
        if sum(r["positive"] for r in report["rows"]) > window:
            found.add(("R4", district_id, report_date))

    check_ins: dict[tuple[str, str], int] = defaultdict(int)
    for (hotel_id, report_date), report in sim["hotels"].items():
        for name, count in report["check_ins_by_district"].items():
            check_ins[(sim["roster"].resolve(name), report_date)] += count
        if report["rooms_occupied"] > report["rooms_total"]:
            found.add(("V2", hotel_id, report_date))
        capacity = next(
            h["capacity"] for h in sim["registries"]["isolation_hotels"] if h["hotel_id"] == hotel_id
        )
        if report["guests"] > min(capacity, 2 * report["rooms_occupied"]):
            found.add(("P1", hotel_id, report_date))  # more than two guests a room, or beyond capacity
        previous = sim["hotels"].get(
            (hotel_id, (date.fromisoformat(report_date) - timedelta(days=1)).isoformat())
        )
        if previous and report["guests"] != previous["guests"] + report["check_ins"] - report["check_outs"]:
            found.add(("I3", hotel_id, report_date))
    for hotel in sim["registries"]["isolation_hotels"]:
        for day in days:
            is_due = active(hotel, day, "requisitioned_from", "requisitioned_to")
            if is_due and (hotel["hotel_id"], day.isoformat()) not in sim["hotels"]:
                found.add(("C1", hotel["hotel_id"], day.isoformat()))
    for district_id in sim["district_ids"]:
        for day, next_day in zip(days, days[1:], strict=False):
            published = district.get((district_id, day.isoformat()))
            arrived = (
                check_ins[(district_id, day.isoformat())] + check_ins[(district_id, next_day.isoformat())]
            )
            if published and arrived < published["transferred_to_isolation"]:
                found.add(("R3", district_id, day.isoformat()))
    return found


def declared_file_findings(truth: GroundTruth) -> set[tuple[str, str, str]]:
    expected = set()
    for fault in truth.faults:
        if fault.feed != "district_reports" and fault.rule is not None:
            expected.add((fault.rule, fault.reporter, fault.report_date))
        for consequence in fault.consequences:
            if "only_before" in consequence:
                continue
            rule = "C1-sites" if "site_ids" in consequence else consequence["rule"]
            if rule in FILE_RULES and (fault.feed != "district_reports" or rule not in {"C1", "V2"}):
                expected.add((rule, consequence["reporter"], consequence["report_date"]))
    return expected


# ---------------------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    sim_dir = tmp_path_factory.mktemp("clean")
    generate(sim_dir, days=8, seed=21, faults="none", scale="small")
    return sim_dir, load(sim_dir)


def test_city_scale_registries_have_thousands_of_sites_and_the_seed_pages_places() -> None:
    registries = build_registries(ROSTER, seed=7, start=date(2022, 3, 1), days=14, scale="city")
    hotels = {h.hotel_name: h for h in registries.hotels}
    streets = {(s.district_id, s.street_name): s for s in registries.streets}

    assert 4_500 <= len(registries.sites) <= 5_500
    assert 90 <= len(registries.hotels) <= 110
    assert len({s.site_id for s in registries.sites}) == len(registries.sites)
    for name in ("银海酒店", "锦江之星"):
        assert (hotels[name].district_id, hotels[name].street_name) == ("140105", "平阳路街道")
        assert hotels[name].requisitioned_from == date(2022, 2, 23)
    assert "亲贤社区" in [c.community_name for c in streets[("140105", "平阳路街道")].communities]
    assert "五龙口三社区" in [c.community_name for c in streets[("140106", "文庙街道")].communities]
    assert "金玉社区" in [c.community_name for c in streets[("140109", "千峰街道")].communities]
    assert ("140106", "桥东街道") in streets
    assert all(s.street_id.startswith(s.district_id) for s in registries.streets)


def test_clean_site_files_add_up_to_each_districts_samples(clean: tuple[Path, dict[str, Any]]) -> None:
    _, sim = clean
    formats_seen = set()
    for (district_id, report_date), report in sim["sites"].items():
        day = date.fromisoformat(report_date)
        formats_seen.add((FILE_FORMATS[district_id][0], report["encoding"]))
        assert report["encoding"] == FILE_FORMATS[district_id][1]
        assert report["header"] == [
            "采样点编号",
            "采样点名称",
            "日期",
            "混采模式",
            "采样人次",
            "采管数",
            "送检管数",
            "阳性管数",
        ]
        assert not report["totals"] and not report.get("is_truncated")
        published = sim["district"][(district_id, report_date)]
        assert sum(r["samples"] for r in report["rows"]) == published["samples_collected"]
        assert sum(r["positive"] for r in report["rows"]) <= published["new_positives"]
        active_sites = [
            s["site_id"]
            for s in sim["registries"]["testing_sites"]
            if s["district_id"] == district_id and active(s, day, "opened_on", "closed_on")
        ]
        assert [r["site_id"] for r in report["rows"]] == active_sites
        for row in report["rows"]:
            assert row["tubes"] == math.ceil(row["samples"] / row["pool"]) and row["pool"] in (10, 20)
            assert row["positive"] <= row["sent"] <= row["tubes"] <= row["samples"]
    assert formats_seen == {("csv", "gbk"), ("csv", "utf-8-sig"), ("xlsx", None)}
    assert file_findings(sim) == set()


def test_clean_hotel_reports_keep_the_flow_identity_and_take_in_every_transfer(
    clean: tuple[Path, dict[str, Any]],
) -> None:
    _, sim = clean
    days = [d.isoformat() for d in sim["days"]]
    kinds = {report.get("merged") is not None for report in sim["hotels"].values()}
    assert kinds == {True, False}  # XLSX (merged two-row header) for most, JSON for some
    for (hotel_id, report_date), report in sim["hotels"].items():
        assert report["rooms_occupied"] <= report["rooms_total"]
        assert report["check_ins"] == sum(report["check_ins_by_district"].values())
        previous = (
            sim["hotels"].get((hotel_id, days[days.index(report_date) - 1]))
            if report_date != days[0]
            else None
        )
        if previous:
            assert report["guests"] == previous["guests"] + report["check_ins"] - report["check_outs"]
        if "merged" in report:
            assert report["header"][0][:4] == ["隔离点编号", "隔离点名称", "日期", "房间情况"]
            assert report["header"][1][8:18] == DISTRICT_NAMES
            assert {"A1:A2", "D1:E1", "F1:H1", "I1:R1"} <= set(report["merged"])
    for district_id in DISTRICT_IDS:
        transferred = [sim["district"][(district_id, d)]["transferred_to_isolation"] for d in days]
        arrived = [
            sum(
                r["check_ins_by_district"][ROSTER.by_id(district_id).district_name]
                for (_, rd), r in sim["hotels"].items()
                if rd == d
            )
            for d in days
        ]
        for t in range(len(days)):  # every transfer checks in on its day or the next
            assert sum(transferred[:t]) <= sum(arrived[: t + 1]) <= sum(transferred[: t + 1]), (
                district_id,
                t,
            )
    assert file_findings(sim) == set()


def test_every_file_is_in_the_arrivals_manifest_with_its_mtime(clean: tuple[Path, dict[str, Any]]) -> None:
    sim_dir, _ = clean
    arrivals = json.loads((sim_dir / "file_drop/arrivals.json").read_text(encoding="utf-8"))["files"]
    on_disk = {
        str(p.relative_to(sim_dir))
        for p in (sim_dir / "file_drop").rglob("*")
        if p.is_file() and p.name != "arrivals.json"
    }
    assert set(arrivals) == on_disk
    for relative, arrived_at in arrivals.items():
        assert os.stat(sim_dir / relative).st_mtime == parse_iso_utc(arrived_at).timestamp()
        report_date = date.fromisoformat(Path(relative).stem)
        assert (
            parse_iso_utc(arrived_at)
            > datetime(report_date.year, report_date.month, report_date.day).astimezone()
        )


def test_default_file_faults_are_visible_as_declared(tmp_path: Path) -> None:
    truth = generate(tmp_path, days=8, seed=7, scale="small")
    sim = load(tmp_path)

    kinds = {f.kind for f in truth.faults if f.feed != "district_reports"}
    assert kinds == {
        "header_drift",
        "thousands_separators",
        "totals_row",
        "samples_mismatch",
        "flow_identity_break",
    }
    (drift,) = truth.select(kind="header_drift")
    assert sim["sites"][(drift.reporter, drift.report_date)]["header"][4] == "采样人数"
    (separators,) = truth.select(kind="thousands_separators")
    raw = [
        v for r in sim["sites"][(separators.reporter, separators.report_date)]["rows"] for v in r["raw"][4:]
    ]
    assert sum("," in v for v in raw) == separators.values["cells_with_separator"] > 0
    (totals,) = truth.select(kind="totals_row")
    site_file = sim["sites"][(totals.reporter, totals.report_date)]
    (row,) = site_file["totals"]
    assert row["samples"] == sum(r["samples"] for r in site_file["rows"]) == totals.values["row"][4]
    (mismatch,) = truth.select(kind="samples_mismatch")
    rows = sim["sites"][(mismatch.reporter, mismatch.report_date)]["rows"]
    assert sum(r["samples"] for r in rows) == mismatch.values["site_samples_sum"]
    assert (
        sim["district"][(mismatch.reporter, mismatch.report_date)]["samples_collected"]
        == mismatch.values["district_samples"]
    )
    (flow,) = truth.select(kind="flow_identity_break")
    assert (
        sim["hotels"][(flow.reporter, flow.report_date)]["guests"]
        == flow.values["guests"]
        != flow.expected["guests"]
    )

    assert file_findings(sim) == declared_file_findings(truth)


@pytest.mark.parametrize(("seed", "days"), [(7, 8), (12, 5), (2022, 14)])
def test_all_file_faults_are_planted_exactly_and_explain_every_finding(
    tmp_path: Path, seed: int, days: int
) -> None:
    truth = generate(tmp_path, days=days, seed=seed, faults="all", scale="small")
    sim = load(tmp_path)

    kinds = {f.kind for f in truth.faults if f.feed != "district_reports"}
    assert {
        "full_width_digits",
        "wrong_encoding",
        "truncated_file",
        "empty_file",
        "tube_pooling_break",
        "site_positives_exceed_cases",
        "transfers_not_checked_in",
        "missing_report",
        "occupancy_over_rooms",
    } <= kinds
    (full_width,) = truth.select(kind="full_width_digits")
    raw = {
        r["site_id"]: r["raw"] for r in sim["sites"][(full_width.reporter, full_width.report_date)]["rows"]
    }
    assert all(raw[s][4] != unicodedata.normalize("NFKC", raw[s][4]) for s in full_width.values["site_ids"])
    (encoding,) = truth.select(kind="wrong_encoding")
    assert sim["sites"][(encoding.reporter, encoding.report_date)]["encoding"] == "gbk"
    (truncated,) = truth.select(kind="truncated_file")
    assert sim["sites"][(truncated.reporter, truncated.report_date)]["bytes"] == truncated.values["bytes"]
    assert (
        len(sim["sites"][(truncated.reporter, truncated.report_date)]["rows"])
        == truncated.values["complete_rows"]
    )
    (empty,) = truth.select(kind="empty_file")
    assert sim["sites"][(empty.reporter, empty.report_date)]["bytes"] == 0
    (missing_hotel,) = truth.select(feed="hotel_reports", kind="missing_report")
    assert not (tmp_path / missing_hotel.file).exists()

    assert file_findings(sim) == declared_file_findings(truth)


def test_a_fourteen_day_city_simulation_takes_well_under_a_minute(tmp_path: Path) -> None:
    started = time.perf_counter()
    truth = generate(tmp_path, days=14, seed=7, faults="all", scale="city")
    elapsed = time.perf_counter() - started

    assert elapsed < 60, f"14-day city simulation took {elapsed:.1f}s"
    assert truth.feeds["testing_sites"]["rows"] > 60_000  # ~5,000 sites a day


# ------------------------------------------------------------------------------------ province scale


def roster_from_file(sim_dir: Path) -> DistrictRoster:
    """The roster the simulation wrote (registries/districts.json): canonical names and aliases."""
    items = json.loads((sim_dir / "registries/districts.json").read_text(encoding="utf-8"))["items"]
    districts = tuple(
        District(
            i["district_id"],
            i["district_name"],
            i["district_name_en"],
            i["district_level"],
            i["parent_district_id"] or "",
        )
        for i in items
    )
    aliases = {
        normalise_label(a): i["district_id"] for i in items for a in (i["district_name"], *i["aliases"])
    }
    return DistrictRoster(districts=districts, aliases=aliases)


@pytest.fixture(scope="module")
def province_clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    sim_dir = tmp_path_factory.mktemp("province_clean")
    generate(sim_dir, days=2, seed=21, faults="none", scale="province-small")  # a tenth of the sites
    return load(sim_dir, roster_from_file(sim_dir))


def test_clean_province_file_drops_add_up_district_by_district_and_city_by_city(
    province_clean: dict[str, Any],
) -> None:
    sim, roster = province_clean, province_clean["roster"]
    registries = sim["registries"]

    assert len(roster.cities) == 11 and len(sim["district_ids"]) >= 110
    assert {s["district_id"] for s in registries["testing_sites"]} == set(sim["district_ids"])
    for city in roster.cities:  # every city has hotels, one of them in use on every day
        own = [
            h
            for h in registries["isolation_hotels"]
            if roster.jurisdiction_of(h["district_id"]) == city.district_id
        ]
        assert any(
            all(active(h, d, "requisitioned_from", "requisitioned_to") for d in sim["days"]) for h in own
        )
    for (district_id, report_date), report in sim["sites"].items():
        published = sim["district"][(district_id, report_date)]
        assert sum(r["samples"] for r in report["rows"]) == published["samples_collected"]
    for (hotel_id, _), report in sim["hotels"].items():  # close contacts stay in their own city
        hotel = next(h for h in registries["isolation_hotels"] if h["hotel_id"] == hotel_id)
        city_id = roster.jurisdiction_of(hotel["district_id"])
        assert set(report["check_ins_by_district"]) == {d.district_name for d in roster.districts_of(city_id)}
    days = [d.isoformat() for d in sim["days"]]
    for district_id in sim["district_ids"]:
        name = roster.by_id(district_id).district_name
        transferred = [sim["district"][(district_id, d)]["transferred_to_isolation"] for d in days]
        arrived = [
            sum(r["check_ins_by_district"].get(name, 0) for (_, rd), r in sim["hotels"].items() if rd == d)
            for d in days
        ]
        for t in range(len(days)):  # every transfer checks in on its day or the next
            assert sum(transferred[:t]) <= sum(arrived[: t + 1]) <= sum(transferred[: t + 1]), (
                district_id,
                t,
            )
    assert file_findings(sim) == set()


def test_all_file_faults_at_province_scale_are_planted_over_the_cities_and_visible(tmp_path: Path) -> None:
    truth = generate(tmp_path, days=2, seed=7, faults="all", scale="province-small")
    roster = roster_from_file(tmp_path)
    sim = load(tmp_path, roster)

    assert {f.kind for f in truth.faults if f.feed != "district_reports"} == {
        "header_drift",
        "thousands_separators",
        "totals_row",
        "samples_mismatch",
        "flow_identity_break",
        "full_width_digits",
        "wrong_encoding",
        "truncated_file",
        "empty_file",
        "tube_pooling_break",
        "site_positives_exceed_cases",
        "transfers_not_checked_in",
        "missing_report",
        "occupancy_over_rooms",
        "header_renamed",
        "guests_beyond_rooms",
    }

    def district_of(reporter: str) -> str:  # TS<district_id>nnnn, H<district_id>nnn or a district_id
        return (
            reporter[2:8] if reporter.startswith("TS") else reporter[1:7] if reporter[0] == "H" else reporter
        )

    cities = {
        roster.jurisdiction_of(district_of(f.reporter)) for f in truth.faults if f.feed != "district_reports"
    }
    assert len(cities) >= 6, cities  # the file-drop faults spread over the province too

    assert file_findings(sim) == declared_file_findings(truth)


def test_full_province_registries_have_about_fifty_thousand_sites_and_a_thousand_hotels() -> None:
    roster = simulation_roster("province")
    registries = build_registries(roster, seed=7, start=date(2022, 3, 1), days=14, scale="province")

    assert 45_000 <= len(registries.sites) <= 55_000
    assert 900 <= len(registries.hotels) <= 1_100
    assert len({s.site_id for s in registries.sites}) == len(registries.sites)
    assert len({h.hotel_id for h in registries.hotels}) == len(registries.hotels)
    assert {h.district_id[:4] for h in registries.hotels} == {c.district_id[:4] for c in roster.cities}


def test_the_fast_xlsx_writer_writes_exactly_what_openpyxl_writes() -> None:
    linfen = [d.district_name for d in simulation_roster("province").districts_of("141000")]  # 17 columns
    for names in (DISTRICT_NAMES, linfen):
        for hotel_name, check_outs in (("云冈商务酒店", 0), ("A&B 酒店", 7)):  # "&": openpyxl writes it
            report = sim_hotels.HotelDay(
                hotel_id="H141002007",
                hotel_name=hotel_name,
                day=date(2022, 3, 9),
                file_format="xlsx",
                rooms_total=120,
                rooms_occupied=118,
                guests=131,
                check_ins={name: n % 4 for n, name in enumerate(names)},
                check_outs=check_outs,
                staff=21,
                arrived_at=datetime(2022, 3, 9, 23, 41, 5, tzinfo=UTC),
            )
            expected = xlsx_bytes(sim_hotels._workbook(report, names), report.arrived_at)
            assert sim_hotels._xlsx(report, names) == expected
            fast = sim_hotels._skeleton(tuple(names)).render(
                [sim_hotels._data_row(report)], report.arrived_at
            )
            assert (fast is None) == ("&" in hotel_name)  # plain rows never need openpyxl
    rows = [["TS1401050001", "亲贤社区1号核酸采样点", "2022-03-09", "20混1", 1234, 62, 61, 1]] * 3 + [
        ["TS1401050002", "并二社区 ", "2022-03-09", "10混1", 0, 0, 0, 0]  # trailing space: openpyxl's path
    ]
    site_file = sim_sites.SiteFile(
        "140105", date(2022, 3, 9), [], "xlsx", None, datetime(2022, 3, 9, 18, tzinfo=UTC)
    )
    for header in (list(sim_sites.HEADERS), [*sim_sites.HEADERS[:4], "采样人数", *sim_sites.HEADERS[5:]]):
        for table in (
            rows[:3],
            rows,
            [[*rows[0][:4], -5, 0, 0, 0]],
            [["合计", "", "2022-03-09", "", 9, 1, 1, 0]],
        ):
            expected = xlsx_bytes(sim_sites._workbook(site_file.day, header, table), site_file.arrived_at)
            assert sim_sites._xlsx(site_file, header, table) == expected
