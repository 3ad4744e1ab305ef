"""Runs that land in the other order than they pulled: the backfill race of `test_backfill_30_days.py`,
made deterministic. A backfill's later run (its lookback re-reads earlier days) may finish before an
earlier run; here the later run simply goes first, on a real Postgres, with the district API over real
HTTP answering each run as of its time. What lands must not depend on the order.
"""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest

from epifeeds.feeds.district_reports import ingest_district_reports
from epifeeds.feeds.hotels import ingest_hotel_reports
from epifeeds.feeds.registries import ingest_registries
from epifeeds.feeds.testing_sites import ingest_testing_site_reports
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.orchestration import run_time_for
from epifeeds.schedules import INGEST_TESTING_SITES_CRON, cron_local_time, report_dates_through
from epifeeds_sim.generate import generate
from epifeeds_sim.server import serve_in_background
from tests.conftest import create_database, drop_database, dsn_for
from tests.reliability.conftest import FEED_TABLES, landed_rows

pytestmark = pytest.mark.integration

FIRST = date(2022, 3, 1)
DAYS = [FIRST + timedelta(days=n) for n in range(4)]
TOKEN = "test-order-token"


@pytest.fixture(scope="module")
def in_both_orders(tmp_path_factory: pytest.TempPathFactory):
    """Four days of runs (every planted fault: revisions among them), landed in order into one warehouse
    and in reverse order into another: (in order DSN, reversed DSN)."""
    work = tmp_path_factory.mktemp("order")
    generate(work / "sim", days=len(DAYS), seed=7, faults="all", scale="small")  # 140106 revises 03-01
    names = [create_database("epifeeds_test_fwd"), create_database("epifeeds_test_rev")]
    try:
        with serve_in_background(work / "sim", TOKEN) as api_url:
            for name, days in zip(names, (DAYS, DAYS[::-1]), strict=True):
                dsn, archive, drop = dsn_for(name), str(work / "archive"), str(work / "sim" / "file_drop")
                with psycopg.connect(dsn) as conn:
                    ensure_landing_schema(conn)
                for day in days:
                    at = run_time_for(day, cron_local_time(INGEST_TESTING_SITES_CRON))
                    ingest_registries(dsn, archive, str(work / "sim" / "registries"), day, at)
                    ingest_district_reports(dsn, archive, api_url, TOKEN, report_dates_through(day, 2), at)
                    ingest_testing_site_reports(dsn, archive, drop, report_dates_through(day, 3), at)
                    ingest_hotel_reports(dsn, archive, drop, report_dates_through(day, 3), at)
        yield dsn_for(names[0]), dsn_for(names[1])
    finally:
        for name in names:
            drop_database(name)


def current(dsn: str, table: str) -> list[tuple]:
    """The newest version of every report (what the marts read), without lineage."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f"select * from landing.{table}__current").fetchall()
        names = [c.name for c in conn.execute(f"select * from landing.{table}__current limit 0").description]
    keep = [i for i, n in enumerate(names) if n not in ("_batch_id", "_loaded_at", "_version")]
    return sorted((tuple(row[i] for i in keep) for row in rows), key=repr)


def test_the_file_feeds_land_the_same_whatever_the_order(in_both_orders):
    in_order, reversed_ = in_both_orders
    assert landed_rows(reversed_) == landed_rows(in_order)
    assert all(landed_rows(in_order)[table] for table in FEED_TABLES)


def test_the_newest_district_report_is_the_latest_pulled_whatever_the_order(in_both_orders):
    in_order, reversed_ = in_both_orders
    with psycopg.connect(in_order) as conn:  # the simulation revises some reports: the test has a case
        assert conn.execute("select count(*) from landing.district_reports where _version > 1").fetchone()[0]
    assert current(reversed_, "district_reports") == current(in_order, "district_reports")
