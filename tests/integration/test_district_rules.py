"""V2 and R1 on the real Beijing bulletin: exactly the published defects become findings, with their numbers."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from epifeeds.feeds.bulletin import import_bulletin
from epifeeds.quality.district_rules import check_district_rules
from tests.conftest import BEIJING_CSV

pytestmark = pytest.mark.integration

AS_OF = datetime(2022, 5, 14, 4, tzinfo=UTC)
CITY = "110000"
DISTRICTS = {
    "东城区": "110101", "西城区": "110102", "朝阳区": "110105", "丰台区": "110106", "石景山区": "110107",
    "海淀区": "110108", "门头沟区": "110109", "房山区": "110111", "通州区": "110112", "顺义区": "110113",
    "昌平区": "110114", "大兴区": "110115", "怀柔区": "110116", "平谷区": "110117", "密云区": "110118",
    "延庆区": "110119",
}  # fmt: skip
# The bulletin's measures and the city's local (本土) columns the districts add up to.
MEASURES = {"阳性": "new_positives", "确诊": "new_confirmed", "无症状": "new_asymptomatic"}
CITY_COLUMNS = {"阳性": "本土阳性感染者", "确诊": "本土确诊病例", "无症状": "本土无症状感染者"}


def bulletin_rows(path: Path = BEIJING_CSV) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def expected_v2(rows: list[dict[str, str]]) -> dict[tuple[date, str], tuple[int, int, int]]:
    """(day, reporter) -> (阳性, 确诊, 无症状) wherever 阳性 != 确诊 + 无症状, straight from the CSV."""
    failing = {}
    for row in rows:
        day = date.fromisoformat(row["日期"])
        reporters = {CITY: [CITY_COLUMNS[m] for m in MEASURES]}
        reporters |= {code: [f"{name}_{m}" for m in MEASURES] for name, code in DISTRICTS.items()}
        for reporter, columns in reporters.items():
            positives, confirmed, asymptomatic = (int(row[c]) for c in columns)
            if positives != confirmed + asymptomatic:
                failing[(day, reporter)] = (positives, confirmed, asymptomatic)
    return failing


def expected_r1(rows: list[dict[str, str]]) -> dict[tuple[date, str], tuple[int, int]]:
    """(day, measure) -> (city figure, district sum) wherever they differ, straight from the CSV."""
    failing = {}
    for row in rows:
        for label, measure in MEASURES.items():
            city = int(row[CITY_COLUMNS[label]])
            total = sum(int(row[f"{name}_{label}"]) for name in DISTRICTS)
            if city != total:
                failing[(date.fromisoformat(row["日期"]), measure)] = (city, total)
    return failing


def open_findings(dsn: str, rule: str) -> dict[tuple[date, str], dict]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        found = conn.execute(
            "select finding_key, reporter, report_date, severity, summary, details from dq.findings"
            " where rule = %s and status = 'open'",
            (rule,),
        ).fetchall()
    key = (lambda f: f["details"]["measure"]) if rule == "R1" else (lambda f: f["reporter"])
    return {(f["report_date"], key(f)): f for f in found}


def imported(dsn: str, archive: Path, path: Path = BEIJING_CSV) -> list[date]:
    outcomes = import_bulletin(dsn, str(archive), path).outcomes
    assert outcomes and all(o.status == "landed" for o in outcomes)
    return sorted({date.fromisoformat(r["日期"]) for r in bulletin_rows(path)})


def run_checks(dsn: str, dates: list[date], **options):
    with psycopg.connect(dsn) as conn:
        return check_district_rules(conn, dates, "test-run", as_of=AS_OF, **options)


def test_exactly_the_district_days_whose_positives_do_not_add_up_are_v2_findings(warehouse_dsn, tmp_path):
    dates = imported(warehouse_dsn, tmp_path)
    expected = expected_v2(bulletin_rows())

    results = run_checks(warehouse_dsn, dates)

    findings = open_findings(warehouse_dsn, "V2")
    assert set(findings) == set(expected)
    assert len({day for day, _ in expected}) == 17  # the 17 bulletin rows PROVENANCE.md describes
    assert len(expected) == 45 and all(reporter != CITY for _, reporter in expected)
    for key, (positives, confirmed, asymptomatic) in expected.items():
        details = findings[key]["details"]
        assert (details["new_positives"], details["new_confirmed"], details["new_asymptomatic"]) == (
            positives,
            confirmed,
            asymptomatic,
        )
    chaoyang = findings[(date(2022, 4, 26), "110105")]
    assert chaoyang["severity"] == "error"
    assert (
        chaoyang["details"].items()
        >= {
            "district_name": "朝阳区",
            "new_positives": 2,
            "new_confirmed": 15,
            "new_asymptomatic": 2,
            "expected_new_positives": 17,
            "difference": -15,
        }.items()
    )
    assert "new_positives 2 ≠ new_confirmed 15 + new_asymptomatic 2 (= 17)" in chaoyang["summary"]
    v2 = [r for r in results if r.rule == "V2"]
    assert len(v2) == 33 * 17 and sum(r.status == "fail" for r in v2) == 45


def test_days_whose_districts_do_not_sum_to_the_city_figure_are_r1_findings(warehouse_dsn, tmp_path):
    dates = imported(warehouse_dsn, tmp_path)
    expected = expected_r1(bulletin_rows())

    results = run_checks(warehouse_dsn, dates)

    findings = open_findings(warehouse_dsn, "R1")
    assert set(findings) == set(expected)
    for key, (city, total) in expected.items():
        details = findings[key]["details"]
        assert (details["city_figure"], details["district_sum"]) == (city, total)
    positives = findings[(date(2022, 4, 26), "new_positives")]["details"]
    assert (positives["city_figure"], positives["district_sum"], positives["difference"]) == (34, 16, -18)
    per_district = {d["district_name"]: d["value"] for d in positives["districts"]}
    assert len(per_district) == 16 and per_district["朝阳区"] == 2
    assert sum(per_district.values()) == 16
    assert findings[(date(2022, 4, 26), "new_positives")]["reporter"] == CITY
    # Days that reconcile pass: e.g. 2022-04-23, 22 local positives, 22 in the districts.
    reconciled = [
        r
        for r in results
        if r.rule == "R1" and r.report_date == date(2022, 4, 23) and "new_positives" in r.check_name
    ]
    assert [(r.status, r.observed["district_sum"], r.expected["city_figure"]) for r in reconciled] == [
        ("pass", 22, 22)
    ]
    assert all(r.severity == "error" for r in results if r.status == "fail")


def test_every_result_is_in_the_check_history_and_rerunning_keeps_one_finding_each(warehouse_dsn, tmp_path):
    dates = imported(warehouse_dsn, tmp_path)

    first = run_checks(warehouse_dsn, dates)
    second = run_checks(warehouse_dsn, dates)

    with psycopg.connect(warehouse_dsn) as conn:
        stored = conn.execute(
            "select rule, status, count(*) from dq.check_results join dq.check_runs using (check_run_id)"
            " where suite = 'district_rules' group by 1, 2 order by 1, 2"
        ).fetchall()
        findings = conn.execute("select rule, count(*) from dq.findings group by 1 order by 1").fetchall()
    counted = {}
    for r in first:
        counted[(r.rule, r.status)] = counted.get((r.rule, r.status), 0) + 2
    assert {(rule, status): n for rule, status, n in stored} == counted
    assert len(first) == len(second)
    assert findings == [("R1", len(expected_r1(bulletin_rows()))), ("V2", 45)]


def test_a_corrected_report_resolves_its_finding(warehouse_dsn, tmp_path):
    dates = imported(warehouse_dsn, tmp_path / "archive")
    run_checks(warehouse_dsn, dates)
    rows = bulletin_rows()
    april_26 = next(r for r in rows if r["日期"] == "2022-04-26")
    april_26["朝阳区_阳性"] = "17"  # 15 confirmed + 2 asymptomatic
    corrected = tmp_path / "corrected.csv"
    with corrected.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    imported(warehouse_dsn, tmp_path / "archive", corrected)

    run_checks(warehouse_dsn, [date(2022, 4, 26)])

    with psycopg.connect(warehouse_dsn) as conn:
        status = dict(
            conn.execute(
                "select reporter, status from dq.findings where rule = 'V2' and report_date = '2022-04-26'"
            ).fetchall()
        )
        r1 = conn.execute(
            "select status, details->>'district_sum' from dq.findings where rule = 'R1'"
            " and report_date = '2022-04-26' and details->>'measure' = 'new_positives'"
        ).fetchone()
    assert status == {"110105": "resolved", "110106": "open"}  # 朝阳区 fixed, 丰台区 still wrong
    assert r1 == ("open", "31")  # the sum moved from 16 to 31, still not the city's 34


def test_a_missing_district_still_breaks_r1_and_is_named_as_the_cause(warehouse_dsn, tmp_path):
    """The city counts every district; without one, the sum is short. That is a real break, named with
    its cause, so the alerts can group it under the district's missing report (one root cause)."""
    rows = bulletin_rows()
    kept = [c for c in rows[0] if not c.startswith("延庆区_")]
    without_yanqing = tmp_path / "without-yanqing.csv"
    with without_yanqing.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=kept, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    dates = imported(warehouse_dsn, tmp_path / "archive", without_yanqing)

    results = run_checks(warehouse_dsn, dates)

    published = {f"city_equals_sum_of_districts({m})" for m in MEASURES.values()}  # what districts publish
    r1 = [r for r in results if r.rule == "R1" and r.check_name in published]
    assert r1 and all(r.observed["evaluable"] and r.observed["missing_districts"] == ["110119"] for r in r1)
    expected = {
        (date.fromisoformat(row["日期"]), measure)
        for row in rows
        for label, measure in MEASURES.items()
        if int(row[CITY_COLUMNS[label]]) != sum(int(row[f"{n}_{label}"]) for n in DISTRICTS if n != "延庆区")
    }
    findings = open_findings(warehouse_dsn, "R1")
    assert set(findings) == expected
    assert all("no report from 延庆区" in f["summary"] for f in findings.values())
    assert len(open_findings(warehouse_dsn, "V2")) == 45  # V2 does not depend on the roster being complete


def test_a_stated_tolerance_absorbs_small_differences(warehouse_dsn, tmp_path):
    dates = imported(warehouse_dsn, tmp_path)

    results = run_checks(warehouse_dsn, dates, tolerance=5)

    within = {k for k, (city, total) in expected_r1(bulletin_rows()).items() if abs(city - total) <= 5}
    failed = {
        (r.report_date, r.check_name.split("(")[1].rstrip(")"))
        for r in results
        if r.rule == "R1" and r.status == "fail"
    }
    assert within and failed == set(expected_r1(bulletin_rows())) - within
    assert {r.expected["tolerance"] for r in results if r.rule == "R1"} == {5}


def test_measures_only_the_city_publishes_are_recorded_as_not_evaluable(warehouse_dsn, tmp_path):
    dates = imported(warehouse_dsn, tmp_path)

    results = run_checks(warehouse_dsn, dates)

    # Beijing's cumulative columns are all zeros while the daily figures move: the import lands them as
    # not published (one N1 each), so R1 has nothing to compare on them rather than a false pass or fail.
    assert not [r for r in results if r.rule == "R1" and "cumulative_confirmed" in r.check_name]
    assert {r.check_name.split("(")[1].rstrip(")") for r in results if r.rule == "R1"} == {
        "new_positives",
        "new_confirmed",
        "new_asymptomatic",
    }
    assert not [
        r for r in results if r.rule == "R1" and "sealed_zones" in r.check_name
    ]  # nobody publishes it
