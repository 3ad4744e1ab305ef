"""S1 judges what the parser saw of a header; P1–P3 bands fire on what cannot be true and stay quiet on
a clean simulation (a month of district reports)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from epifeeds.feeds.contracts import HOTEL_REPORTS, TESTING_SITE_REPORTS
from epifeeds.feeds.records import header_report, map_header
from epifeeds.feeds.tabular import HeaderCell
from epifeeds.quality.plausibility import (
    ROUND_MEASURES,
    TREND_MEASURES,
    _trend_problems,
    case_fatality_problem,
    p1_problem,
    p2_problem,
    p3_problem,
    trend_baseline,
)
from epifeeds.quality.schema_drift import check_delivery
from epifeeds_sim.generate import generate

pytestmark = pytest.mark.unit

SITE_HEADER = ("采样点编号", "采样点名称", "日期", "混采模式", "采样人次", "采管数", "送检管数", "阳性管数")


def site_delivery(labels: tuple[str, ...]) -> dict:
    header = [HeaderCell(label, label) for label in labels]
    mapping, unmatched = map_header(header, TESTING_SITE_REPORTS.header_lookup())
    report = header_report(TESTING_SITE_REPORTS, header, mapping, unmatched, {"district_id", "report_date"})
    return {"feed": "testing_site_reports", "reporter": "140105", "report_date": "2022-03-02",
            "batch_id": 12, "header": report.as_dict()}  # fmt: skip


def failing(delivery: dict) -> dict[str, dict]:
    return {f.key.split(":")[1]: f.__dict__ for r, f in check_delivery(delivery) if r.status == "fail"}


def test_an_unknown_column_beside_a_missing_one_is_drift_naming_the_likely_match():
    renamed = tuple("阳性结果管数" if label == "阳性管数" else label for label in SITE_HEADER)
    [(kind, drift)] = failing(site_delivery(renamed)).items()
    assert kind == "drift" and drift["severity"] == "error" and drift["reporter"] == "140105"
    assert drift["details"]["likely_matches"] == {
        "positive_tubes": {"unknown_label": "阳性结果管数", "expected_spelling": "阳性管数"}
    }
    assert "positive_tubes" in drift["summary"] and "contracts.py" in drift["summary"]


def test_a_missing_optional_measure_is_a_warning_and_a_known_alias_is_no_finding():
    without = tuple(label for label in SITE_HEADER if label != "送检管数")
    [(kind, warning)] = failing(site_delivery(without)).items()
    assert (kind, warning["severity"], warning["details"]["columns"]) == (
        "missing_optional", "warn", ["tubes_sent_to_lab"]
    )  # fmt: skip
    drifted_alias = tuple("采样人数" if label == "采样人次" else label for label in SITE_HEADER)
    assert failing(site_delivery(drifted_alias)) == {}
    assert failing(site_delivery(SITE_HEADER)) == {}
    # a name column the file lacks is no measure: nothing is emptied
    assert failing(site_delivery(tuple(label for label in SITE_HEADER if label != "采样点名称"))) == {}


def test_a_hotel_header_lacking_only_what_its_format_never_has_is_clean():
    labels = (
        "隔离点编号",
        "隔离点名称",
        "日期",
        "房间总数",
        "已用房间",
        "在住人数",
        "新入住",
        "解除隔离",
        "工作人员",
    )
    header = [HeaderCell(label, label) for label in labels]
    mapping, unmatched = map_header(header, HOTEL_REPORTS.header_lookup())
    report = header_report(HOTEL_REPORTS, header, mapping, unmatched, {"district_id", "submitted_at"})
    assert (report.unknown, report.missing_required, report.missing_optional) == ([], [], [])


def test_p1_fires_on_62_guests_in_23_rooms_and_beyond_capacity_only():
    assert "62 guests in 23 occupied rooms" in p1_problem(62, 23, capacity=120)
    assert "exceed the registered capacity of 50" in p1_problem(52, 40, capacity=50)
    assert p1_problem(46, 23, capacity=60) == ""  # two to a room is a family room


def test_p2_positivity_band_and_case_fatality():
    assert "above 20%" in p2_problem(30, 100)
    assert p2_problem(30, 40) == ""  # too few tubes to judge
    assert p2_problem(3, 1000) == ""
    assert "above 15%" in case_fatality_problem(20, 100)
    assert case_fatality_problem(2, 100) == ""


def test_p3_compares_a_day_with_its_weekday_median_and_needs_history():
    day = date(2022, 3, 29)
    weekly = {day - timedelta(weeks=w): 10_000 for w in range(1, 5)}
    baseline, how = trend_baseline(weekly, day)
    assert baseline == 10_000 and "same weekday" in how
    assert "is 6.0 ×" in p3_problem(60_000, baseline) and p3_problem(30_000, baseline) == ""
    assert trend_baseline({day - timedelta(days=1): 5}, day) == (None, "fewer than 7 prior days")


def test_a_clean_month_of_district_reports_raises_no_p3_and_an_extra_digit_does(tmp_path: Path):
    days = 35
    generate(tmp_path, days=days, seed=3, faults="none", feeds=("district_reports",))
    series: dict[str, dict[str, dict[date, int]]] = {}
    for n in range(days):
        day = date(2022, 3, 1) + timedelta(days=n)
        items = json.loads((tmp_path / f"district_reports/{day}.json").read_text(encoding="utf-8"))["items"]
        for item in items:
            for measure in (*TREND_MEASURES, *ROUND_MEASURES):
                series.setdefault(item["district"], {}).setdefault(measure, {})[day] = item[measure]
    judged, flagged = 0, []
    for district, history in series.items():
        for day in sorted(history["volunteers"]):
            problems, measures = _trend_problems(history, day)
            judged += len(measures)
            flagged += [(district, day, p) for p in problems]
    assert judged > 1000 and flagged == []  # testing rounds (10-15 × samples) included
    district, history = next(iter(series.items()))
    day = date(2022, 4, 1)  # a city-wide testing round: samples ~ 10 × a normal day
    history["samples_collected"][day] *= 10  # one extra digit on top of it
    history["volunteers"][day] *= 10
    problems, _ = _trend_problems(history, day)
    assert [p.split(" ")[0] for p in problems] == ["volunteers", "samples_collected"]
