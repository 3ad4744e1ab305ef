"""The marts as a BI user sees them: `dbt build` on a fresh warehouse, then queries as `bi_reader`.

Taiyuan reports three days (a clean day, a day whose city bulletin does not add up, and a day with a
missing, a late and a revised district report); Beijing reports one day with one of its sixteen
districts. The `bi_reader` role is cluster-wide: created once (idempotently), never dropped here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from epifeeds.bi_access import BI_READER_ROLE, bi_reader_dsn, ensure_bi_reader
from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.settings import Settings, load_settings
from epifeeds.warehouse import run_dbt

pytestmark = pytest.mark.integration

TAIYUAN = "140100"
TAIYUAN_DISTRICTS = [
    ("140105", "小店区"),
    ("140106", "迎泽区"),
    ("140107", "杏花岭区"),
    ("140108", "尖草坪区"),
    ("140109", "万柏林区"),
    ("140110", "晋源区"),
    ("140121", "清徐县"),
    ("140122", "阳曲县"),
    ("140123", "娄烦县"),
    ("140181", "古交市"),
]
CLEAN_DAY, CITY_OFF_DAY, MESSY_DAY = date(2022, 3, 3), date(2022, 3, 4), date(2022, 3, 5)
TAIYUAN_FIRST_DAY = date(2022, 3, 1)  # reporting_calendar: Taiyuan's window opens here
MISSING, LATE, REVISED = "140110", "140106", "140105"  # 晋源区, 迎泽区, 小店区 on MESSY_DAY
BEIJING, CHAOYANG, BEIJING_DAY = "110000", "110105", date(2022, 4, 9)
MARTS = {"dim_date", "dim_district", "fct_city_daily", "fct_district_daily", "mart_district_daily_summary"}
# Built from the testing-site and hotel feeds, which this module does not land: present but empty here
# (tests/integration/test_warehouse_sites_hotels.py fills them).
SITE_AND_HOTEL_MARTS = {
    "dim_street",
    "dim_testing_site",
    "dim_isolation_hotel",
    "fct_testing_site_daily",
    "fct_hotel_occupancy_daily",
    "mart_testing_throughput",
    "mart_isolation_capacity",
    # built from the published bulletins' measures, which this module does not land either
    "fct_bulletin_measures",
}
# Built from imported bulletins (landing.bulletin_measures), empty here
# (tests/integration/test_bulletin_marts.py fills it).
BULLETIN_MARTS = {"fct_bulletin_measures"}


@dataclass(frozen=True)
class Report:
    district_id: str
    name: str
    report_date: date
    positives: int
    confirmed: int
    version: int = 1
    submitted_late_by: timedelta | None = None  # after the deadline (D+1 09:00 Asia/Shanghai); else 1 h early

    @property
    def asymptomatic(self) -> int:
        return self.positives - self.confirmed

    @property
    def submitted_at(self) -> datetime:
        deadline = datetime.combine(
            self.report_date + timedelta(days=1), datetime.min.time(), UTC
        ) + timedelta(
            hours=1  # 09:00 Asia/Shanghai is 01:00 UTC
        )
        return deadline + (self.submitted_late_by or timedelta(hours=-1))


def _reports() -> list[Report]:
    reports: list[Report] = []
    for day in (CLEAN_DAY, CITY_OFF_DAY, MESSY_DAY):
        day_reports = [
            Report(district_id, name, day, positives=index + 1, confirmed=index // 2)
            for index, (district_id, name) in enumerate(TAIYUAN_DISTRICTS)
        ]
        true_positives = sum(r.positives for r in day_reports)
        true_confirmed = sum(r.confirmed for r in day_reports)
        if day == CITY_OFF_DAY:
            true_positives += 2  # the bulletin counts two asymptomatic cases no district reported
        if day == MESSY_DAY:
            day_reports = [r for r in day_reports if r.district_id != MISSING]
            day_reports = [
                Report(
                    r.district_id,
                    r.name,
                    day,
                    r.positives,
                    r.confirmed,
                    submitted_late_by=timedelta(minutes=90),
                )
                if r.district_id == LATE
                else r
                for r in day_reports
            ]
            day_reports.append(  # a revision sent after the deadline: the report stays on time
                Report(REVISED, "小店", day, 3, 1, version=2, submitted_late_by=timedelta(hours=3))
            )
        reports += day_reports
        reports.append(Report(TAIYUAN, "太原市", day, true_positives, true_confirmed))
    reports += [
        Report(BEIJING, "北京市", BEIJING_DAY, 5, 2),
        Report(CHAOYANG, "朝阳区", BEIJING_DAY, 5, 2),
    ]
    return reports


def _land(settings: Settings, reports: list[Report]) -> None:
    with psycopg.connect(settings.warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        for report in reports:
            loaded_at = report.submitted_at + timedelta(minutes=5)
            batch_id = conn.execute(
                """
                insert into landing.batches
                    (feed, reporter, report_date, source_uri, sha256, received_at, status, rows_read, rows_landed)
                values ('district_reports', %s, %s, 'file:///archive/test.json', %s, %s, 'landed', 1, 1)
                returning batch_id
                """,
                (report.district_id, report.report_date, uuid.uuid4().hex, loaded_at),
            ).fetchone()[0]
            conn.execute(
                """
                insert into landing.district_reports
                    (district_id, district_name_reported, report_date, new_positives, new_confirmed,
                     new_asymptomatic, submitted_at, _batch_id, _loaded_at, _version, _row_hash)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                """,
                (
                    report.district_id,
                    report.name,
                    report.report_date,
                    report.positives,
                    report.confirmed,
                    report.asymptomatic,
                    report.submitted_at,
                    batch_id,
                    loaded_at,
                    report.version,
                    f"{report.district_id}-{report.report_date}-{report.version}",
                ),
            )


@dataclass(frozen=True)
class Warehouse:
    settings: Settings
    artifacts: Path

    @property
    def bi_dsn(self) -> str:
        return bi_reader_dsn(self.settings.warehouse_dsn)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """A fresh warehouse with the reports above landed, `bi_reader` ensured and `dbt build` run once."""
    name = f"epifeeds_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(load_settings().admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("EPIFEEDS_WAREHOUSE_DB", name)
        monkeypatch.delenv("EPIFEEDS_WAREHOUSE_DSN", raising=False)
        settings = load_settings()
        try:
            _land(settings, _reports())
            ensure_bi_reader(settings.admin_dsn, settings.warehouse_dsn)
            artifacts = tmp_path_factory.mktemp("dbt")
            run_dbt(["build"], settings, target_path=artifacts / "target", log_path=artifacts / "logs")
            yield Warehouse(settings, artifacts)
        finally:
            with psycopg.connect(settings.admin_dsn, autocommit=True) as admin:
                admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def _rows(dsn: str, query: str, params: tuple = ()) -> list[dict]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def _marts_tables(warehouse: Warehouse) -> set[str]:
    rows = _rows(
        warehouse.settings.warehouse_dsn,
        "select table_name from information_schema.tables where table_schema = 'marts'",
    )
    return {r["table_name"] for r in rows}


def test_bi_reader_can_read_every_mart(warehouse: Warehouse) -> None:
    tables = _marts_tables(warehouse)
    counts = {
        table: _rows(warehouse.bi_dsn, f"select count(*) as n from marts.{table}")[0]["n"] for table in tables
    }

    assert tables == MARTS | SITE_AND_HOTEL_MARTS | BULLETIN_MARTS
    assert all(counts[table] > 0 for table in MARTS), counts
    assert _rows(warehouse.bi_dsn, "select current_user as who")[0]["who"] == BI_READER_ROLE


@pytest.mark.parametrize(
    "relation",
    [
        "landing.district_reports",
        "landing.batches",
        "staging.stg_districts__daily_reports",
        "intermediate.int_district_reports_expected",
        "seeds.districts",
        "dq.findings",
    ],
)
def test_bi_reader_is_denied_everything_outside_the_marts(warehouse: Warehouse, relation: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
        _rows(warehouse.bi_dsn, f"select * from {relation} limit 1")


def test_bi_reader_cannot_write_to_the_marts(warehouse: Warehouse) -> None:
    with psycopg.connect(warehouse.bi_dsn) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("delete from marts.dim_district")
        conn.rollback()
        conn.execute("set transaction read write")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("delete from marts.dim_district")


def test_a_district_that_did_not_report_shows_up_without_a_report(warehouse: Warehouse) -> None:
    rows = _rows(
        warehouse.bi_dsn,
        "select district_name, has_report, new_positives, is_late from marts.mart_district_daily_summary"
        " where report_date = %s and city_id = %s and not has_report",
        (MESSY_DAY, TAIYUAN),
    )

    assert rows == [{"district_name": "晋源区", "has_report": False, "new_positives": None, "is_late": None}]


def test_the_summary_has_every_expected_district_day_of_every_city(warehouse: Warehouse) -> None:
    per_city = _rows(
        warehouse.bi_dsn,
        """
        select city_name, min(report_date) as first_day, max(report_date) as last_day,
               count(distinct district_id) as districts, count(*) as district_days,
               count(*) filter (where has_report) as reported
        from marts.mart_district_daily_summary group by city_name order by city_name
        """,
    )

    taiyuan_days = (MESSY_DAY - TAIYUAN_FIRST_DAY).days + 1
    assert per_city == [
        {  # Beijing: its window opens on 2022-04-09, its sixteen districts, one of which reported
            "city_name": "北京市",
            "first_day": BEIJING_DAY,
            "last_day": BEIJING_DAY,
            "districts": 16,
            "district_days": 16,
            "reported": 1,
        },
        {  # Taiyuan: from its window's first day (nothing landed before 03-03) to the last day landed
            "city_name": "太原市",
            "first_day": TAIYUAN_FIRST_DAY,
            "last_day": MESSY_DAY,
            "districts": 10,
            "district_days": 10 * taiyuan_days,
            "reported": 10 + 10 + 9,
        },
    ]


def test_late_and_revised_reports_are_flagged(warehouse: Warehouse) -> None:
    rows = {
        r["district_id"]: r
        for r in _rows(
            warehouse.bi_dsn,
            "select district_id, is_late, is_revised, report_version, new_positives"
            " from marts.mart_district_daily_summary where report_date = %s and has_report",
            (MESSY_DAY,),
        )
    }

    assert (rows[LATE]["is_late"], rows[LATE]["is_revised"]) == (True, False)
    assert (rows[REVISED]["is_late"], rows[REVISED]["is_revised"], rows[REVISED]["new_positives"]) == (
        False,
        True,
        3,
    ), "judged on time by its first version; figures from the revision"
    assert {d for d, r in rows.items() if r["is_late"]} == {LATE}


def test_city_reconciliation_is_false_on_the_day_the_bulletin_differs(warehouse: Warehouse) -> None:
    days = {
        r["report_date"]: r
        for r in _rows(
            warehouse.bi_dsn,
            "select * from marts.fct_city_daily where city_id = %s and has_city_report",
            (TAIYUAN,),
        )
    }
    flags_in_summary = _rows(
        warehouse.bi_dsn,
        "select report_date, bool_and(is_city_reconciled) as all_true, bool_or(is_city_reconciled) as any_true"
        " from marts.mart_district_daily_summary where city_id = %s and report_date >= %s"
        " group by report_date order by report_date",
        (TAIYUAN, CLEAN_DAY),
    )

    clean, off, messy = days[CLEAN_DAY], days[CITY_OFF_DAY], days[MESSY_DAY]
    assert (clean["is_complete"], clean["is_reconciled"], clean["unreconciled_measures"]) == (
        True,
        True,
        None,
    )
    assert (off["is_complete"], off["is_reconciled"]) == (True, False)
    assert off["unreconciled_measures"] == "new_positives, new_asymptomatic"
    assert off["city_new_positives"] == off["districts_new_positives"] + 2
    assert off["city_new_confirmed"] == off["districts_new_confirmed"]
    assert (messy["districts_expected"], messy["districts_reporting"], messy["districts_missing"]) == (
        10,
        9,
        1,
    )
    assert (messy["is_complete"], messy["is_reconciled"]) == (False, False)
    assert [(r["report_date"], r["all_true"], r["any_true"]) for r in flags_in_summary] == [
        (CLEAN_DAY, True, True),
        (CITY_OFF_DAY, False, False),
        (MESSY_DAY, False, False),
    ]


def test_city_days_without_a_bulletin_are_kept_and_not_reconciled(warehouse: Warehouse) -> None:
    rows = _rows(
        warehouse.bi_dsn,
        "select report_date, has_city_report, districts_reporting, is_reconciled from marts.fct_city_daily"
        " where city_id = %s and report_date < %s order by report_date",
        (TAIYUAN, CLEAN_DAY),
    )

    assert rows == [
        {
            "report_date": date(2022, 3, 1),
            "has_city_report": False,
            "districts_reporting": 0,
            "is_reconciled": False,
        },
        {
            "report_date": date(2022, 3, 2),
            "has_city_report": False,
            "districts_reporting": 0,
            "is_reconciled": False,
        },
    ]


def test_fct_city_daily_compares_every_count_measure_of_the_feed_contract(warehouse: Warehouse) -> None:
    columns = {
        r["column_name"]
        for r in _rows(
            warehouse.settings.warehouse_dsn,
            "select column_name from information_schema.columns"
            " where table_schema = 'marts' and table_name = 'fct_city_daily'",
        )
    }

    expected = {f"{side}_{m}" for m in DISTRICT_REPORTS.count_columns for side in ("city", "districts")}
    assert expected <= columns, (
        f"fct_city_daily lacks {sorted(expected - columns)}: add them to its measures list"
    )


def test_dim_date_covers_every_report_date_in_the_marts(warehouse: Warehouse) -> None:
    [span] = _rows(
        warehouse.bi_dsn,
        "select min(calendar_date) as first, max(calendar_date) as last, count(*) as days,"
        " count(*) filter (where is_weekend) as weekend_days from marts.dim_date",
    )
    [monday] = _rows(
        warehouse.bi_dsn,
        "select day_name, day_name_zh, iso_week from marts.dim_date where calendar_date = '2022-03-07'",
    )

    assert (span["first"], span["last"]) == (TAIYUAN_FIRST_DAY, BEIJING_DAY)
    assert span["days"] == (BEIJING_DAY - TAIYUAN_FIRST_DAY).days + 1
    assert monday == {"day_name": "Monday", "day_name_zh": "星期一", "iso_week": 10}


def test_tables_created_later_in_marts_are_readable_and_stray_grants_are_revoked(
    warehouse: Warehouse,
) -> None:
    dsn = warehouse.settings.warehouse_dsn
    with psycopg.connect(dsn, autocommit=True) as owner:
        owner.execute("create table marts.adhoc_extract as select 1 as one")
        owner.execute(f"grant select on landing.batches to {BI_READER_ROLE}")
    try:
        ensure_bi_reader(warehouse.settings.admin_dsn, dsn)  # again: idempotent, and it cleans up

        assert _rows(warehouse.bi_dsn, "select one from marts.adhoc_extract") == [{"one": 1}]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _rows(warehouse.bi_dsn, "select * from landing.batches")
    finally:
        with psycopg.connect(dsn, autocommit=True) as owner:
            owner.execute("drop table if exists marts.adhoc_extract")


def test_dbt_docs_generate_catalogues_the_marts_and_the_dashboards_they_feed(warehouse: Warehouse) -> None:
    target = warehouse.artifacts / "docs"
    run_dbt(
        ["docs", "generate"], warehouse.settings, target_path=target, log_path=warehouse.artifacts / "logs"
    )

    catalog = json.loads((target / "catalog.json").read_text(encoding="utf-8"))
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    catalogued = {
        n["metadata"]["name"] for n in catalog["nodes"].values() if n["metadata"]["schema"] == "marts"
    }
    dashboard = manifest["exposures"]["exposure.epifeeds.district_daily_situation"]

    assert catalogued == MARTS | SITE_AND_HOTEL_MARTS | BULLETIN_MARTS
    assert (target / "index.html").exists()
    assert dashboard["type"] == "dashboard" and dashboard["owner"]["name"] == "data-platform"
    assert {
        "model.epifeeds.mart_district_daily_summary",
        "model.epifeeds.fct_city_daily",
    } <= set(dashboard["depends_on"]["nodes"])


def test_marts_rebuilt_into_a_recreated_schema_stay_readable(warehouse: Warehouse) -> None:
    """`epifeeds demo` resets the warehouse schemas: dbt's own grants must carry bi_reader's access."""
    with psycopg.connect(warehouse.settings.warehouse_dsn, autocommit=True) as owner:
        owner.execute("drop schema marts cascade")  # takes ensure_bi_reader's grants and defaults with it

    run_dbt(
        ["run", "--select", "marts"],
        warehouse.settings,
        target_path=warehouse.artifacts / "rerun",
        log_path=warehouse.artifacts / "logs",
    )

    assert _marts_tables(warehouse) == MARTS | SITE_AND_HOTEL_MARTS | BULLETIN_MARTS
    for table in MARTS:
        assert _rows(warehouse.bi_dsn, f"select count(*) as n from marts.{table}")[0]["n"] > 0, table
