"""The marts checkpoint on marts that dbt really built: every reviewed `marts__<table>` suite runs on
its whole table, one dq.check_runs row per mart, every expectation in dq.check_results.

Taiyuan reports two days through the loader: a complete day and a day without 晋源区. Both are
legitimate, so every mart expectation passes; a row then made impossible by hand (more districts
reporting than expected) fails exactly the semantic check that guards it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import psycopg
import pytest

from epifeeds.bi_access import ensure_bi_reader
from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.http_client import records_from_pages
from epifeeds.feeds.names import load_district_roster
from epifeeds.feeds.parsing import parse_district_records
from epifeeds.landing.loader import Delivery, land_delivery
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.quality.gx_runner import data_docs_index, validate_marts
from epifeeds.quality.suites import load_suite, mart_suite_name, mart_tables
from epifeeds.settings import load_settings
from epifeeds.warehouse import run_dbt
from tests.conftest import create_database, drop_database

pytestmark = pytest.mark.integration

TAIYUAN, JINYUAN = "140100", "140110"
DAYS = (date(2022, 3, 1), date(2022, 3, 2))


def _land_day(conn: psycopg.Connection, archive: str, day: date, skip: set[str]) -> None:
    roster = load_district_roster()
    districts = [d for d in roster.districts_of(TAIYUAN) if d.district_id not in skip]
    items = [
        {
            "district": d.district_name,
            "report_date": day.isoformat(),
            "new_positives": n + 2,
            "new_confirmed": n,
            "new_asymptomatic": 2,
        }  # fmt: skip
        for n, d in enumerate(districts)
    ]
    city = {
        "new_positives": sum(i["new_positives"] for i in items),
        "new_confirmed": sum(i["new_confirmed"] for i in items),
    }
    items.append({"district": "太原市", "report_date": day.isoformat(), **city,
                  "new_asymptomatic": city["new_positives"] - city["new_confirmed"]})  # fmt: skip
    page = json.dumps({"page": 1, "next_page": None, "items": items}, ensure_ascii=False)
    payload = json.dumps({"feed": "district_reports", "pages": [page]}, ensure_ascii=False).encode()
    received_at = datetime.combine(day, datetime.min.time(), UTC).replace(hour=20)

    def parse(raw: bytes):
        return parse_district_records(
            DISTRICT_REPORTS, records_from_pages(raw), report_date=day, received_at=received_at, roster=roster
        )

    delivery = Delivery("district_reports", "*", day, "http://agency.test/api", payload, received_at)
    outcome = land_delivery(conn, DISTRICT_REPORTS, archive, delivery, parse)
    assert outcome.rows_rejected == 0 and outcome.rows_landed == len(items), outcome


@pytest.fixture(scope="module")
def marts_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh warehouse with two days landed and `dbt build` run on it; EPIFEEDS_HOME in a temp dir."""
    name, home = create_database(), tmp_path_factory.mktemp("epifeeds-home")
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setenv("EPIFEEDS_WAREHOUSE_DB", name)
            monkeypatch.delenv("EPIFEEDS_WAREHOUSE_DSN", raising=False)
            monkeypatch.setenv("EPIFEEDS_HOME", str(home))
            settings = load_settings()
            with psycopg.connect(settings.warehouse_dsn) as conn:
                ensure_landing_schema(conn)
                _land_day(conn, str(home / "archive"), DAYS[0], skip=set())
                _land_day(conn, str(home / "archive"), DAYS[1], skip={JINYUAN})
            ensure_bi_reader(settings.admin_dsn, settings.warehouse_dsn)  # dbt grants the marts to it
            # The marts with a suite and what they are built from; dbt's own tests run elsewhere.
            marts = " ".join(f"+{table}" for table in mart_tables())
            run_dbt(
                ["build", "--select", marts, "--exclude-resource-type", "test", "unit_test"],
                settings,
                target_path=home / "dbt" / "target",
                log_path=home / "dbt" / "logs",
            )
            yield settings.warehouse_dsn
    finally:
        drop_database(name)


def _runs(dsn: str, run_id: str) -> dict[str, tuple]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            """
            select suite, runs.feed, runs.report_date, is_success, count(*),
                   array_agg(check_name order by check_name) filter (where status = 'fail')
            from dq.check_runs as runs join dq.check_results using (check_run_id)
            where runs.run_id = %s group by 1, 2, 3, 4
            """,
            (run_id,),
        ).fetchall()
    return {suite: rest for suite, *rest in rows}


def test_every_mart_suite_passes_on_legitimate_marts_and_lands_in_the_history(marts_dsn):
    summary = validate_marts(marts_dsn, "manual__marts_clean")

    runs = _runs(marts_dsn, "manual__marts_clean")
    assert summary["failed"] == 0 and summary["failed_suites"] == []
    assert runs == {
        mart_suite_name(table): [
            f"marts.{table}",
            None,
            True,
            len(load_suite(mart_suite_name(table))["expectations"]),
            None,
        ]
        for table in mart_tables()
    }
    html = data_docs_index().read_text(encoding="utf-8")
    assert all(mart_suite_name(table) in html for table in mart_tables())


def test_an_impossible_city_row_fails_its_semantic_check_only(marts_dsn):
    with psycopg.connect(marts_dsn) as conn:
        conn.execute(
            "update marts.fct_city_daily set districts_reporting = districts_expected + 1 where report_date = %s",
            (DAYS[0],),
        )
    try:
        summary = validate_marts(marts_dsn, "manual__marts_broken")
    finally:
        with psycopg.connect(marts_dsn) as conn:
            conn.execute(
                "update marts.fct_city_daily set districts_reporting = districts_expected where report_date = %s",
                (DAYS[0],),
            )

    failed = {suite: run[4] for suite, run in _runs(marts_dsn, "manual__marts_broken").items() if not run[2]}
    assert summary["failed_suites"] == ["marts__fct_city_daily"]
    assert failed == {
        "marts__fct_city_daily": [
            "expect_column_pair_values_a_to_be_greater_than_b(['districts_expected', 'districts_reporting'])"
        ]
    }
