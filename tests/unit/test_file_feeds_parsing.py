"""Parsing what the simulator's district offices and hotels send, messy inputs included (no services)."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from epifeeds.feeds.contracts import ISOLATION_HOTELS, TESTING_SITES
from epifeeds.feeds.hotels import parse_hotel_report
from epifeeds.feeds.names import load_district_roster
from epifeeds.feeds.parsing import UnreadablePayload
from epifeeds.feeds.records import RegisteredReporter
from epifeeds.feeds.registries import parse_registry, registry_date
from epifeeds.feeds.testing_sites import parse_testing_site_file
from epifeeds_sim.generate import generate
from epifeeds_sim.ground_truth import GroundTruth, PlantedFault

pytestmark = pytest.mark.unit

ROSTER = load_district_roster()
RECEIVED = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> tuple[Path, GroundTruth]:
    sim_dir = tmp_path_factory.mktemp("sim")
    return sim_dir, generate(sim_dir, days=6, seed=7, faults="all", scale="small")


def registry(sim_dir: Path, contract) -> dict[str, RegisteredReporter]:
    payload = (sim_dir / "registries" / f"{contract.feed}.json").read_bytes()
    parsed = parse_registry(contract, payload, roster=ROSTER, default_as_of=date(2022, 3, 1))
    active = (
        ("opened_on", "closed_on")
        if contract is TESTING_SITES
        else ("requisitioned_from", "requisitioned_to")
    )
    return {
        r[contract.key[0]]: RegisteredReporter(
            r[contract.key[0]], r["district_id"], r[active[0]], r[active[1]]
        )
        for r in parsed.rows
    }


def fault(truth: GroundTruth, kind: str) -> PlantedFault:
    [found] = truth.select(kind=kind)
    return found


def site_file(
    sim_dir: Path, path: str, payload: bytes | None = None, sites=None, district_id: str | None = None
):
    """Parse a testing-site file as the ingest does: district from the folder, date from the name."""
    district, name = path.split("/")[-2:]
    report_date = date.fromisoformat(name.split(".")[0])
    return parse_testing_site_file(
        (sim_dir / path).read_bytes() if payload is None else payload,
        file_format=name.rsplit(".", 1)[1],
        district_id=district if district_id is None else district_id,
        district_label=district,
        report_date=report_date,
        received_at=RECEIVED,
        sites=registry(sim_dir, TESTING_SITES) if sites is None else sites,
    )


def active_sites(sim_dir: Path, district_id: str, day: date) -> list[str]:
    return [
        site_id
        for site_id, site in registry(sim_dir, TESTING_SITES).items()
        if site.district_id == district_id
        and site.active_from <= day
        and (site.active_to is None or day < site.active_to)
    ]


def test_header_drift_采样人数_maps_to_samples_collected(sim):
    sim_dir, truth = sim
    drift = fault(truth, "header_drift")
    raw = (sim_dir / drift.file).read_bytes()
    assert any("采样人数" in raw.decode(encoding, errors="replace") for encoding in ("gbk", "utf-8"))
    parsed = site_file(sim_dir, drift.file)
    assert parsed.rejects == []
    assert parsed.rows and all(isinstance(r["samples_collected"], int) for r in parsed.rows)


def test_thousands_separators_are_read_as_numbers(sim):
    sim_dir, truth = sim
    separators = fault(truth, "thousands_separators")
    parsed = site_file(sim_dir, separators.file)
    assert parsed.rejects == []
    example = int(separators.values["example"].replace(",", ""))
    assert example == max(r["samples_collected"] for r in parsed.rows)


def test_full_width_digits_are_normalised(sim):
    sim_dir, truth = sim
    full_width = fault(truth, "full_width_digits")
    text = (sim_dir / full_width.file).read_bytes().decode("utf-8-sig", errors="replace")
    raw = {row[0]: row for row in csv.reader(io.StringIO(text)) if row}
    parsed = site_file(sim_dir, full_width.file)
    by_site = {r["site_id"]: r for r in parsed.rows}
    assert parsed.rejects == []
    for site_id in full_width.values["site_ids"]:
        assert raw[site_id][4] != unicodedata.normalize(
            "NFKC", raw[site_id][4]
        )  # really full-width in the file
        assert by_site[site_id]["samples_collected"] == int(unicodedata.normalize("NFKC", raw[site_id][4]))


def test_a_totals_row_is_dropped_and_noted_not_landed(sim):
    sim_dir, truth = sim
    totals = fault(truth, "totals_row")
    parsed = site_file(sim_dir, totals.file)
    day = date.fromisoformat(totals.report_date)
    assert parsed.rejects == []
    assert sorted(r["site_id"] for r in parsed.rows) == sorted(active_sites(sim_dir, totals.reporter, day))
    assert sum(r["samples_collected"] for r in parsed.rows) == totals.values["row"][4]
    assert any("dropped totals row" in note and "equal to the sum" in note for note in parsed.notes)


def test_gbk_utf8_bom_and_a_district_that_switched_to_gbk_are_all_read(sim):
    sim_dir, truth = sim
    formats = truth.feeds["testing_sites"]["formats"]
    wrong = fault(truth, "wrong_encoding")
    names = {
        s["site_id"]: s["site_name"]
        for s in json.loads((sim_dir / "registries/testing_sites.json").read_text())["items"]
    }
    gbk_district = next(d for d, f in formats.items() if f["encoding"] == "gbk")
    bom_district = next(d for d, f in formats.items() if f["encoding"] == "utf-8-sig" and d != wrong.reporter)
    cases = [
        (f"file_drop/testing_sites/{gbk_district}/{truth.start}.csv", "gbk"),
        (f"file_drop/testing_sites/{bom_district}/{truth.start}.csv", "utf-8-sig"),
        (wrong.file, "gbk"),  # a UTF-8-with-BOM district that sent GBK once
    ]
    for path, encoding in cases:
        parsed = site_file(sim_dir, path)
        assert f"read as {encoding} CSV" in parsed.notes, path
        assert parsed.rejects == [] and parsed.rows
        assert all(r["site_name_reported"] == names[r["site_id"]] for r in parsed.rows)  # no mojibake


def test_a_truncated_file_lands_its_complete_rows_and_rejects_the_cut_row(sim):
    sim_dir, truth = sim
    truncated = fault(truth, "truncated_file")
    parsed = site_file(sim_dir, truncated.file)
    complete = truncated.values["complete_rows"]
    assert len(parsed.rows) == complete
    [cut] = parsed.rejects
    assert cut.row_number == complete + 2  # header is row 1
    assert "cut short" in cut.reason and "upload the whole file again" in cut.reason
    assert parsed.rows_read == complete + 1
    lost = next(c["site_ids"] for c in truncated.consequences if c["rule"] == "C1")
    assert not {r["site_id"] for r in parsed.rows} & set(lost)


def test_an_empty_file_is_unreadable(sim):
    sim_dir, truth = sim
    empty = fault(truth, "empty_file")
    with pytest.raises(UnreadablePayload, match="empty"):
        site_file(sim_dir, empty.file)


def test_an_xlsx_site_file_with_real_date_cells(sim):
    sim_dir, truth = sim
    formats = truth.feeds["testing_sites"]["formats"]
    district = next(d for d, f in formats.items() if f["format"] == "xlsx")
    day = date.fromisoformat(truth.start) + timedelta(days=2)
    parsed = site_file(sim_dir, f"file_drop/testing_sites/{district}/{day}.xlsx")
    assert parsed.rejects == []
    assert {r["report_date"] for r in parsed.rows} == {day}
    assert {r["pool_size"] for r in parsed.rows} <= {10, 20}
    assert sorted(r["site_id"] for r in parsed.rows) == sorted(active_sites(sim_dir, district, day))


def test_blank_rows_and_a_title_row_are_skipped(sim):
    sim_dir, truth = sim
    path = f"file_drop/testing_sites/140105/{truth.start}.csv"
    lines = (sim_dir / path).read_bytes().split(b"\r\n")
    title = "小店区核酸采样点日报".encode("gbk")
    messy = b"\r\n".join([title, *lines[:3], b",,,,,,,", b"", *lines[3:]])
    clean, parsed = site_file(sim_dir, path), site_file(sim_dir, path, payload=messy)
    assert parsed.rows == clean.rows and parsed.rejects == []
    assert any("skipped 2 blank row(s)" in note for note in parsed.notes)


def test_unknown_site_and_a_site_of_another_district_are_rejected_with_reasons(sim):
    sim_dir, truth = sim
    path = f"file_drop/testing_sites/140105/{truth.start}.csv"
    sites = registry(sim_dir, TESTING_SITES)
    clean = site_file(sim_dir, path)
    missing, moved = clean.rows[0]["site_id"], clean.rows[1]["site_id"]
    sites.pop(missing)
    sites[moved] = RegisteredReporter(moved, "140106", sites[moved].active_from, None)
    parsed = site_file(sim_dir, path, sites=sites)
    reasons = {r.raw_values["采样点编号"]: r.reason for r in parsed.rejects}
    assert f"unknown site {missing}: not in the testing_sites registry" in reasons[missing]
    assert "belongs to district 140106" in reasons[moved]
    assert parsed.rows_read == len(clean.rows) and len(parsed.rows) == len(clean.rows) - 2


def test_a_file_from_an_unknown_district_folder_is_refused_whole(sim):
    """One cause, one refusal: not a reject, and a finding, for every site of the file."""
    sim_dir, truth = sim
    path = f"file_drop/testing_sites/140105/{truth.start}.csv"
    with pytest.raises(UnreadablePayload, match="the file's folder '高新区' is not a district"):
        parse_testing_site_file(
            (sim_dir / path).read_bytes(),
            file_format="csv",
            district_id=None,  # the folder did not resolve through the alias table
            district_label="高新区",
            report_date=date.fromisoformat(truth.start),
            received_at=RECEIVED,
            sites=registry(sim_dir, TESTING_SITES),
        )


def test_rows_breaking_v2_or_i4_still_land_for_the_checks_to_judge(sim):
    sim_dir, truth = sim
    pooling = fault(truth, "tube_pooling_break")
    parsed = site_file(sim_dir, pooling.file)
    [row] = [r for r in parsed.rows if r["site_id"] == pooling.reporter]
    assert row["tubes"] == row["samples_collected"] == pooling.values["samples"]


# ----------------------------------------------------------------------------------------------- hotels


def hotel_file(sim_dir: Path, path: str, payload: bytes | None = None):
    hotel, name = path.split("/")[-2:]
    return parse_hotel_report(
        (sim_dir / path).read_bytes() if payload is None else payload,
        file_format=name.rsplit(".", 1)[1],
        hotel_label=hotel,
        report_date=date.fromisoformat(name.split(".")[0]),
        received_at=RECEIVED,
        hotels=registry(sim_dir, ISOLATION_HOTELS),
        roster=ROSTER,
    )


def test_hotel_xlsx_with_a_merged_two_row_header(sim):
    sim_dir, truth = sim
    path = f"file_drop/hotel_reports/H140105001/{truth.start}.xlsx"
    parsed = hotel_file(sim_dir, path)
    [report] = parsed.reports.rows
    assert parsed.reports.rejects == [] and parsed.check_ins.rejects == []
    assert report["hotel_name_reported"] == "银海酒店" and report["district_id"] == "140105"
    assert report["rooms_occupied"] <= report["rooms_total"]
    assert [r["source_district_id"] for r in parsed.check_ins.rows] == [
        d.district_id for d in ROSTER.reporting_districts
    ]
    assert sum(r["check_ins"] for r in parsed.check_ins.rows) == report["check_ins"]


def test_hotel_json_lists_only_non_zero_districts_and_the_rest_are_zero(sim):
    sim_dir, truth = sim
    hotels = json.loads((sim_dir / "registries/isolation_hotels.json").read_text())["items"]
    hotel = next(h for h in hotels if h["report_format"] == "json" and h["requisitioned_to"] is None)
    path = next(p for p in sorted((sim_dir / "file_drop/hotel_reports" / hotel["hotel_id"]).glob("*.json")))
    document = json.loads(path.read_text())
    parsed = hotel_file(sim_dir, str(path.relative_to(sim_dir)))
    [report] = parsed.reports.rows
    assert report["submitted_at"] == datetime.fromisoformat(document["submitted_at"].replace("Z", "+00:00"))
    assert len(parsed.check_ins.rows) == 10
    by_name = {ROSTER.resolve(n): v for n, v in document["check_ins_by_district"].items()}
    assert {
        r["source_district_id"]: r["check_ins"] for r in parsed.check_ins.rows if r["check_ins"]
    } == by_name


def test_an_unknown_source_district_is_rejected_and_the_rest_land(sim):
    sim_dir, truth = sim
    occupancy = fault(truth, "occupancy_over_rooms")
    path = next(
        p
        for p in sorted((sim_dir / "file_drop/hotel_reports").glob("*/*.json"))
        if json.loads(p.read_text())["check_ins_by_district"]
    )
    document = json.loads(path.read_text())
    document["check_ins_by_district"]["高新区"] = 2
    parsed = hotel_file(sim_dir, str(path.relative_to(sim_dir)), payload=json.dumps(document).encode())
    [reject] = parsed.check_ins.rejects
    assert reject.raw_values["source_district"] == "高新区" and "unknown source district" in reject.reason
    assert len(parsed.check_ins.rows) == 10 and parsed.check_ins.rows_read == 11
    # a V2 break (more rooms occupied than the hotel has) is landed for GX to find, not rejected
    over = hotel_file(sim_dir, occupancy.file)
    assert over.reports.rows[0]["rooms_occupied"] == occupancy.values["rooms_occupied"]


def test_an_unknown_hotel_rejects_both_slices(sim):
    sim_dir, truth = sim
    path = f"file_drop/hotel_reports/H140105001/{truth.start}.xlsx"
    hotel, name = path.split("/")[-2:]
    parsed = parse_hotel_report(
        (sim_dir / path).read_bytes(),
        file_format="xlsx",
        hotel_label=hotel,
        report_date=date.fromisoformat(truth.start),
        received_at=RECEIVED,
        hotels={},
        roster=ROSTER,
    )
    assert parsed.reports.rows == [] and parsed.check_ins.rows == []
    assert (
        "unknown hotel H140105001: not in the isolation_hotels registry" in parsed.reports.rejects[0].reason
    )
    assert len(parsed.check_ins.rejects) == 10


# --------------------------------------------------------------------------------------------- registries


def test_registries_parse_and_unknown_districts_are_rejected(sim):
    sim_dir, _ = sim
    document = json.loads((sim_dir / "registries/testing_sites.json").read_text())
    parsed = parse_registry(
        TESTING_SITES, json.dumps(document).encode(), roster=ROSTER, default_as_of=date(2022, 3, 1)
    )
    assert len(parsed.rows) == len(document["items"]) and parsed.rejects == []
    assert {r["registry_as_of"] for r in parsed.rows} == {date.fromisoformat(document["as_of"])}
    items = document["items"]
    items[0] = {**items[0], "district_id": None, "district_name": "高新区"}
    items[1] = {**items[1], "district_name": "迎泽区" if items[1]["district_id"] != "140106" else "小店区"}
    items[2] = {**items[2], "status": "temporarily shut"}
    items.append(dict(items[3]))
    parsed = parse_registry(
        TESTING_SITES, json.dumps(document).encode(), roster=ROSTER, default_as_of=date(2022, 3, 1)
    )
    reasons = [r.reason for r in parsed.rejects]
    assert [r.row_number for r in parsed.rejects] == [1, 2, 3, len(items)]
    assert "unknown district '高新区'" in reasons[0] and "district_aliases.csv" in reasons[0]
    assert "disagree" in reasons[1]
    assert "not one of open, closed" in reasons[2]
    assert "listed twice" in reasons[3]
    assert parsed.rows_read == len(items)


def test_a_registry_that_is_not_json_is_unreadable():
    with pytest.raises(UnreadablePayload, match="not JSON"):
        parse_registry(ISOLATION_HOTELS, b"\x00\x01 not json", roster=ROSTER, default_as_of=date(2022, 3, 1))


@pytest.mark.parametrize(
    ("payload", "ledger_date"),
    [
        (b'{"registry": "testing_sites", "as_of": "2022-02-27", "items": []}', date(2022, 2, 27)),
        (b"[]", date(2022, 3, 2)),  # a bare list has no date of its own: the run's
        (b"{not json", date(2022, 3, 2)),  # unreadable: quarantined under the run's date
        (b'{"as_of": "27/02", "items": []}', date(2022, 3, 2)),
    ],
)
def test_a_registry_is_ledgered_under_its_own_as_of(payload, ledger_date):
    """Whichever run of a backfill takes a registry's bytes first ledgers the same row (issue #13)."""
    assert registry_date(payload, date(2022, 3, 2)) == ledger_date
