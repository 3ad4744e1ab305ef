"""The simulator's district feed: deterministic, coherent when clean, and faulty exactly as declared."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.names import District, DistrictRoster, load_district_roster, normalise_label
from epifeeds_sim.district_feed import MEASURES, deadline_at, payload_fields
from epifeeds_sim.generate import generate
from epifeeds_sim.ground_truth import GroundTruth
from epifeeds_sim.randomness import parse_iso_utc

pytestmark = pytest.mark.unit

CITY_ID = "140100"
SHANGHAI = ZoneInfo("Asia/Shanghai")
ROSTER = load_district_roster()
DISTRICT_IDS = [d.district_id for d in ROSTER.reporting_districts]
DISTRICT_ONLY = ("district_reports",)  # the file-drop feeds have their own tests (test_sim_file_feeds.py)
# What a city-scale simulation covers: Taiyuan (the roster seed also lists Beijing, which it does not).
TAIYUAN = DistrictRoster(districts=(ROSTER.city, *ROSTER.reporting_districts), aliases=ROSTER.aliases)


def roster_from_file(sim_dir: Path) -> DistrictRoster:
    """The roster a simulation says it used (registries/districts.json), as the platform would load it."""
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
    aliases = {normalise_label(i["district_name"]): i["district_id"] for i in items}
    for item in items:
        for alias in item["aliases"]:
            assert aliases.setdefault(normalise_label(alias), item["district_id"]) == item["district_id"], (
                alias
            )
    return DistrictRoster(districts=districts, aliases=aliases)


def read_days(sim_dir: Path) -> dict[str, list[dict[str, Any]]]:
    days = {}
    for path in sorted((sim_dir / "district_reports").glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        assert document["report_date"] == path.stem
        days[path.stem] = document["items"]
    return days


def all_bytes(sim_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(sim_dir)): p.read_bytes() for p in sorted(sim_dir.rglob("*")) if p.is_file()}


def latest_valid(
    items: list[dict[str, Any]], report_date: str, roster: DistrictRoster = TAIYUAN
) -> dict[str, dict[str, Any]]:
    """district_id -> the latest version of its valid item (known reporter, right date)."""
    latest: dict[str, dict[str, Any]] = {}
    for item in items:
        district_id = roster.resolve(item["district"])
        if district_id is None or item["report_date"] != report_date:
            continue
        if district_id not in latest or item["available_at"] > latest[district_id]["available_at"]:
            latest[district_id] = item
    return latest


R1Fields = dict[tuple[str, str], set[str]]  # (city_id, report_date) -> measures where R1 breaks


def findings(
    sim_dir: Path, roster: DistrictRoster = TAIYUAN
) -> tuple[set[tuple[str, str | None, str]], R1Fields]:
    """A small, independent checker: every rule the district files break, and R1's fields per city and day."""
    found: set[tuple[str, str | None, str]] = set()
    r1_fields: R1Fields = defaultdict(set)
    previous: dict[str, dict[str, Any]] = {}
    cities = [c.district_id for c in roster.cities]
    for report_date, items in read_days(sim_dir).items():
        day = date.fromisoformat(report_date)
        for item in items:
            district_id = roster.resolve(item["district"])
            if district_id is None:
                found.add(("V1", None, report_date))
                continue
            if item["report_date"] != report_date or any(item[m] < 0 for m in MEASURES):
                found.add(("V1", district_id, report_date))
            if item["new_positives"] != item["new_confirmed"] + item["new_asymptomatic"]:
                found.add(("V2", district_id, report_date))
        first_seen: dict[str, str] = {}
        for item in items:
            district_id = roster.resolve(item["district"])
            if district_id is not None:
                first_seen[district_id] = min(first_seen.get(district_id, "9999"), item["available_at"])
        for district_id, available_at in first_seen.items():
            grace = deadline_at(day, is_city=district_id in cities) + timedelta(minutes=60)
            if parse_iso_utc(available_at) > grace:
                found.add(("C1", district_id, report_date))  # late
        counted = Counter(json.dumps(i, sort_keys=True) for i in items)
        for text, copies in counted.items():
            if copies > 1:
                found.add(("I1", roster.resolve(json.loads(text)["district"]), report_date))
        versions_by_reporter = Counter(
            roster.resolve(i["district"]) for i in {json.dumps(i, sort_keys=True): i for i in items}.values()
        )
        for district_id, versions in versions_by_reporter.items():
            if versions > 1 and district_id is not None:
                found.add(("H1", district_id, report_date))
        latest = latest_valid(items, report_date, roster)
        for district_id in [d.district_id for d in roster.districts]:
            if district_id not in latest:
                found.add(("C1", district_id, report_date))
        for district_id, item in latest.items():
            before = previous.get(district_id)
            if before is None or date.fromisoformat(before["report_date"]) != day - timedelta(days=1):
                continue
            for cumulative, new in (
                ("cumulative_confirmed", "new_confirmed"),
                ("cumulative_positives", "new_positives"),
            ):
                if item[cumulative] < before[cumulative]:
                    found.add(("I2", district_id, report_date))
                if item[cumulative] - before[cumulative] != item[new]:
                    found.add(("I5", district_id, report_date))
        for city_id in cities:
            members = [d.district_id for d in roster.districts_of(city_id)]
            for measure in MEASURES:
                district_sum = sum(latest[d][measure] for d in members if d in latest)
                if latest[city_id][measure] != district_sum:
                    r1_fields[(city_id, report_date)].add(measure)
            if r1_fields[(city_id, report_date)]:
                found.add(("R1", city_id, report_date))
        previous.update(latest)
    return found, {k: f for k, f in r1_fields.items() if f}


def declared(truth: GroundTruth) -> tuple[set[tuple[str, str | None, str]], R1Fields]:
    """What the ground truth says the checker must find: faults and their consequences."""
    expected: set[tuple[str, str | None, str]] = set()
    r1_fields: R1Fields = defaultdict(set)
    for fault in truth.select(feed="district_reports"):
        if fault.rule is not None:
            expected.add((fault.rule, fault.reporter, fault.report_date))
        if fault.rule == "R1":
            r1_fields[(fault.reporter, fault.report_date)].update(fault.values)
        for consequence in fault.consequences:
            if "only_before" in consequence or consequence["rule"] in ("R2", "R3", "R4"):
                continue  # only while a revised report's first version is the latest; other feeds' rules
            expected.add((consequence["rule"], consequence["reporter"], consequence["report_date"]))
            if consequence["rule"] == "R1":
                r1_fields[(consequence["reporter"], consequence["report_date"])].update(consequence["fields"])
    return expected, dict(r1_fields)


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", days=4, seed=42, faults="all", scale="small")
    second = generate(tmp_path / "b", days=4, seed=42, faults="all", scale="small")
    other = generate(tmp_path / "c", days=4, seed=43, faults="all", scale="small")

    files = all_bytes(tmp_path / "a")
    assert files == all_bytes(tmp_path / "b")  # CSV, XLSX (no timestamps inside), JSON alike
    assert first.to_dict() == second.to_dict()
    assert {name for name in files if name.endswith(".xlsx")} and {name for name in files if ".csv" in name}
    other_files = all_bytes(tmp_path / "c")
    assert all(files[name] != other_files.get(name) for name in files if name.startswith("district_reports/"))
    assert other.seed == 43


def test_the_district_feed_does_not_depend_on_which_other_feeds_are_generated(tmp_path: Path) -> None:
    generate(tmp_path / "all", days=3, seed=5, faults="default", scale="small")
    generate(tmp_path / "one", days=3, seed=5, faults="default", feeds=DISTRICT_ONLY)

    def district_files(sim_dir: Path) -> dict[str, bytes]:
        return {k: v for k, v in all_bytes(sim_dir).items() if k.startswith("district_reports/")}

    assert len(district_files(tmp_path / "one")) == 3
    assert district_files(tmp_path / "all") == district_files(tmp_path / "one")
    assert sorted(all_bytes(tmp_path / "one")) == [
        *district_files(tmp_path / "one"),
        "ground_truth.json",
        "registries/districts.json",  # the roster the simulation used: written whatever the feeds
    ]


@pytest.mark.parametrize("seed", [1, 7, 2022])
def test_clean_simulation_is_coherent_every_day(tmp_path: Path, seed: int) -> None:
    truth = generate(tmp_path, days=21, seed=seed, faults="none", feeds=DISTRICT_ONLY)
    days = read_days(tmp_path)

    assert truth.faults == []
    assert list(days) == [(date(2022, 3, 1) + timedelta(days=i)).isoformat() for i in range(21)]
    cumulative: dict[str, dict[str, int]] = {}
    for report_date, items in days.items():
        names = [i["district"] for i in items]
        assert names == [d.district_name for d in ROSTER.reporting_districts] + ["太原市"]
        by_id = {ROSTER.resolve(i["district"]): i for i in items}
        for item in items:
            assert list(item) == [*payload_fields(), "available_at"]
            assert item["report_date"] == report_date
            assert all(isinstance(item[m], int) and item[m] >= 0 for m in MEASURES)
            assert item["new_positives"] == item["new_confirmed"] + item["new_asymptomatic"]
            assert item["transferred_to_isolation"] <= item["close_contacts_identified"]
            assert item["cumulative_positives"] >= item["cumulative_confirmed"]
            assert item["available_at"] == item["submitted_at"]
            district_id = ROSTER.resolve(item["district"])
            day = date.fromisoformat(report_date)
            submitted_local = parse_iso_utc(item["submitted_at"]).astimezone(SHANGHAI)
            assert submitted_local.date() == day + timedelta(days=1) and submitted_local.hour >= 7
            assert parse_iso_utc(item["available_at"]) <= deadline_at(day, is_city=district_id == CITY_ID)
            if district_id in cumulative:
                for total, new in (
                    ("cumulative_confirmed", "new_confirmed"),
                    ("cumulative_positives", "new_positives"),
                ):
                    assert item[total] - cumulative[district_id][total] == item[new], (
                        district_id,
                        report_date,
                    )
            cumulative[district_id] = item
        for measure in MEASURES:
            assert by_id[CITY_ID][measure] == sum(by_id[d][measure] for d in DISTRICT_IDS), (
                report_date,
                measure,
            )
    assert findings(tmp_path) == (set(), {})


def test_clean_simulation_carries_the_seed_pages_figures(tmp_path: Path) -> None:
    generate(tmp_path, days=14, seed=3, faults="none", feeds=DISTRICT_ONLY)
    days = read_days(tmp_path)
    first = {i["district"]: i for i in days["2022-03-01"]}

    assert first["小店区"]["transferred_to_isolation"] == 16  # the 慕思酒店 close contacts
    assert first["小店区"]["sealed_zones"] >= 4
    assert first["迎泽区"]["sealed_zones"] >= 3  # 桥东街道's three sealed zones
    for name, grid_workers in (("小店区", 1413), ("万柏林区", 1355), ("娄烦县", 350)):
        on_duty = [i["grid_workers_on_duty"] for d in days.values() for i in d if i["district"] == name]
        assert all(0.95 * grid_workers <= n <= grid_workers for n in on_duty), name
    peak_samples = max(i["samples_collected"] for d in days.values() for i in d if i["district"] == "太原市")
    assert 2_500_000 < peak_samples < 5_400_000  # a city-wide sampling round reaches most of 5.4 M people


def test_default_faults_are_the_demos_and_visible_as_declared(tmp_path: Path) -> None:
    truth = generate(tmp_path, days=14, seed=7, feeds=DISTRICT_ONLY)
    days = read_days(tmp_path)

    assert sorted(f.kind for f in truth.faults) == sorted(
        ["missing_report", "positives_inconsistency", "late_report", "alias_spelling"]
    )
    (missing,) = truth.select(kind="missing_report")
    assert (missing.rule, missing.reporter, missing.reporter_name, missing.report_date) == (
        "C1",
        "140110",
        "晋源区",
        "2022-03-03",
    )
    assert "晋源区" not in [i["district"] for i in days["2022-03-03"]]
    others = [i for i in days["2022-03-03"] if i["district"] != "太原市"]
    city = next(i for i in days["2022-03-03"] if i["district"] == "太原市")
    for measure in MEASURES:  # the city bulletin still counts 晋源区: its figures are the values declared
        assert city[measure] - sum(i[measure] for i in others) == missing.values[measure]

    (inconsistent,) = truth.select(rule="V2")
    item = next(i for i in days[inconsistent.report_date] if i["district"] == inconsistent.reporter_name)
    assert {k: item[k] for k in inconsistent.values} == inconsistent.values
    assert item["new_positives"] != item["new_confirmed"] + item["new_asymptomatic"]

    (late,) = truth.select(kind="late_report")
    item = next(i for i in days[late.report_date] if i["district"] == late.reporter_name)
    assert item["available_at"] == late.values["available_at"] > late.expected["grace_ends_at"]

    (alias,) = truth.select(kind="alias_spelling")
    assert alias.rule is None and alias.values["district"] != alias.expected["district"]
    spellings = [i["district"] for i in days[alias.report_date]]
    assert alias.values["district"] in spellings and alias.expected["district"] not in spellings
    assert ROSTER.resolve(alias.values["district"]) == alias.reporter

    assert findings(tmp_path) == declared(truth)


@pytest.mark.parametrize(("seed", "days"), [(7, 14), (11, 30), (5, 3)])
def test_all_faults_are_planted_exactly_and_explain_every_finding(
    tmp_path: Path, seed: int, days: int
) -> None:
    truth = generate(tmp_path, days=days, seed=seed, faults="all", feeds=DISTRICT_ONLY)
    files = read_days(tmp_path)

    assert {f.kind for f in truth.faults} == {
        "missing_report",
        "positives_inconsistency",
        "late_report",
        "alias_spelling",
        "revised_report",
        "negative_value",
        "future_report_date",
        "duplicate_rows",
        "cumulative_decrease",
        "unknown_reporter",
        "city_total_mismatch",
        "restated_cumulative",
    }
    assert [f.fault_id for f in truth.faults] == [f"F{i:03d}" for i in range(1, len(truth.faults) + 1)]
    for fault in truth.faults:
        assert fault.feed == "district_reports" and fault.file == f"district_reports/{fault.report_date}.json"
        assert fault.reporter is None or fault.reporter in [*DISTRICT_IDS, CITY_ID]
    (revised,) = truth.select(kind="revised_report")
    versions = [i for i in files[revised.report_date] if i["district"] == revised.reporter_name]
    assert [{k: v[k] for k in revised.values["before"]} for v in versions] == [
        revised.values["before"],
        revised.values["after"],
    ]
    assert [v["available_at"] for v in versions] == [
        revised.values["before_available_at"],
        revised.values["after_available_at"],
    ]
    (duplicate,) = truth.select(kind="duplicate_rows")
    copies = [i for i in files[duplicate.report_date] if i["district"] == duplicate.reporter_name]
    assert len(copies) == 2 and copies[0] == copies[1]
    (unknown,) = truth.select(kind="unknown_reporter")
    item = next(i for i in files[unknown.report_date] if i["district"] == "高新区")
    assert ROSTER.resolve("高新区") is None and {m: item[m] for m in MEASURES} == unknown.values
    (future,) = truth.select(kind="future_report_date")
    item = next(i for i in files[future.report_date] if i["district"] == future.reporter_name)
    assert item["report_date"] == future.values["report_date"] > future.report_date

    assert findings(tmp_path) == declared(truth)


def test_ground_truth_round_trips_and_names_the_run(tmp_path: Path) -> None:
    truth = generate(tmp_path, days=4, seed=9, start=date(2022, 4, 1), faults="default", feeds=DISTRICT_ONLY)
    loaded = GroundTruth.load(tmp_path)
    document = json.loads((tmp_path / "ground_truth.json").read_text(encoding="utf-8"))

    assert loaded.to_dict() == truth.to_dict() == document
    assert (document["seed"], document["days"], document["start"], document["end"]) == (
        9,
        4,
        "2022-04-01",
        "2022-04-04",
    )
    assert (document["scale"], document["fault_profile"], document["timezone"]) == (
        "city",
        "default",
        "Asia/Shanghai",
    )
    assert set(document["faults"][0]) == {
        "fault_id",
        "kind",
        "rule",
        "feed",
        "reporter",
        "reporter_name",
        "report_date",
        "values",
        "expected",
        "consequences",
        "detail",
        "file",
    }


def test_regenerating_into_the_same_directory_replaces_the_old_run(tmp_path: Path) -> None:
    generate(tmp_path, days=10, seed=1, feeds=DISTRICT_ONLY)
    generate(tmp_path, days=3, seed=1, faults="none", feeds=DISTRICT_ONLY)

    assert sorted(p.name for p in (tmp_path / "district_reports").iterdir()) == [
        "2022-03-01.json",
        "2022-03-02.json",
        "2022-03-03.json",
    ]
    assert GroundTruth.load(tmp_path).faults == []


def test_items_carry_exactly_the_contracts_payload_fields() -> None:
    count_columns = DISTRICT_REPORTS.count_columns
    assert payload_fields() == ["district", "report_date", *count_columns, "submitted_at"]
    assert "district" in DISTRICT_REPORTS.column("district_name_reported").aliases


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0, "seed": 1}, "days must be at least 1"),
        ({"days": 3, "seed": 1, "faults": "some"}, "faults must be one of"),
        ({"days": 3, "seed": 1, "scale": "planet"}, "scale must be one of"),
    ],
)
def test_bad_arguments_are_refused_with_a_reason(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generate(tmp_path, **kwargs)


def test_submitted_times_are_utc_and_parse(tmp_path: Path) -> None:
    generate(tmp_path, days=2, seed=1, faults="none", feeds=DISTRICT_ONLY)
    for items in read_days(tmp_path).values():
        for item in items:
            assert item["submitted_at"].endswith("Z")
            assert datetime.fromisoformat(item["submitted_at"]).utcoffset() == timedelta(0)


# ------------------------------------------------------------------------------------ province scale

SHANXI = {
    "140100": "太原市",
    "140200": "大同市",
    "140300": "阳泉市",
    "140400": "长治市",
    "140500": "晋城市",
    "140600": "朔州市",
    "140700": "晋中市",
    "140800": "运城市",
    "140900": "忻州市",
    "141000": "临汾市",
    "141100": "吕梁市",
}
DISTRICT_KINDS = {
    "missing_report",
    "positives_inconsistency",
    "late_report",
    "alias_spelling",
    "revised_report",
    "negative_value",
    "future_report_date",
    "duplicate_rows",
    "cumulative_decrease",
    "unknown_reporter",
    "city_total_mismatch",
    "restated_cumulative",
}


def test_every_simulation_writes_the_roster_it_used(tmp_path: Path) -> None:
    truth = generate(tmp_path, days=2, seed=1, faults="none", feeds=DISTRICT_ONLY)
    roster = roster_from_file(tmp_path)

    assert [
        (d.district_id, d.district_name, d.district_level, d.parent_district_id) for d in roster.districts
    ] == [(d.district_id, d.district_name, d.district_level, d.parent_district_id) for d in TAIYUAN.districts]
    for spelling in ("Xiaodian", "太原市小店区", "小店", "Taiyuan"):  # the alias table's spellings come along
        assert roster.resolve(spelling) == ROSTER.resolve(spelling)
    assert roster.resolve("高新区") is None
    assert "roster" not in truth.feeds["district_reports"]  # city scale: the ground truth is as it was


def test_province_roster_is_shanxis_eleven_cities_and_matches_the_reports(tmp_path: Path) -> None:
    truth = generate(tmp_path, days=2, seed=7, faults="none", scale="province", feeds=DISTRICT_ONLY)
    roster = roster_from_file(tmp_path)
    districts = [d for d in roster.districts if d.district_level == "district"]

    assert {c.district_id: c.district_name for c in roster.cities} == SHANXI
    assert [c.district_id for c in roster.cities] == list(SHANXI)
    assert 110 <= len(districts) <= 130  # 117: every county-level division of Shanxi
    assert len({d.district_name for d in roster.districts}) == len(roster.districts)  # names tell them apart
    for district in districts:
        assert district.parent_district_id in SHANXI
        assert district.district_id[:4] == district.parent_district_id[:4]  # within the city's code range
    assert [(d.district_id, d.district_name) for d in roster.districts_of("140100")] == [
        (d.district_id, d.district_name) for d in ROSTER.reporting_districts
    ]
    assert truth.scale == "province" and truth.faults == []
    assert truth.feeds["district_reports"]["roster"] == "registries/districts.json"
    assert list(truth.feeds["district_reports"]["cities"]) == list(SHANXI)

    for report_date, items in read_days(tmp_path).items():
        # each city's districts in roster order, then its bulletin; every reporter named as in the roster
        assert [i["district"] for i in items] == [
            name
            for city in roster.cities
            for name in (
                *(d.district_name for d in roster.districts_of(city.district_id)),
                city.district_name,
            )
        ]
        by_id = {roster.resolve(i["district"]): i for i in items}
        for city in roster.cities:
            members = roster.districts_of(city.district_id)
            for measure in MEASURES:  # each city row is the sum of its own districts
                assert by_id[city.district_id][measure] == sum(
                    by_id[d.district_id][measure] for d in members
                ), (
                    report_date,
                    city.district_id,
                    measure,
                )
    assert findings(tmp_path, roster) == (set(), {})


@pytest.mark.parametrize(("seed", "days"), [(7, 2), (3, 5)])
def test_province_faults_are_every_kind_spread_over_the_cities_and_visible_as_declared(
    tmp_path: Path, seed: int, days: int
) -> None:
    truth = generate(tmp_path, days=days, seed=seed, faults="all", scale="province", feeds=DISTRICT_ONLY)
    roster = roster_from_file(tmp_path)

    assert {f.kind for f in truth.faults} == DISTRICT_KINDS
    (missing,) = truth.select(kind="missing_report")
    assert (missing.reporter, missing.reporter_name) == ("140110", "晋源区")  # the demo's, at any scale
    cities = {roster.jurisdiction_of(f.reporter) for f in truth.faults if f.reporter is not None}
    assert len(cities) >= 6, cities  # spread over the province, not piled onto Taiyuan
    for fault in truth.faults:
        for consequence in fault.consequences:
            if consequence["rule"] == "R1":  # a district fault breaks its own city's reconciliation
                assert consequence["reporter"] == roster.jurisdiction_of(fault.reporter)

    assert findings(tmp_path, roster) == declared(truth)
