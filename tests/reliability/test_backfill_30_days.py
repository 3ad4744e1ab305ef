"""A 30-day backfill with several runs active at once equals the same backfill run one day after the
other: landing (rows and ledger), the marts dbt builds from it, and the findings that need attention.

Each simulated day is one "run" of the whole chain, at the times its DAGs are scheduled (registries
10:15, district reports, testing sites and hotels 10:30 Asia/Shanghai on day D+1): the registries, the
district API over real HTTP (its lookback), the testing-site and hotel file drops (their lookback),
then the platform's rules on what each run landed (what the validate tasks run, without their GX
suites: GX writes check results, never findings). The concurrent backfill runs four days at once in
threads (their lookback windows overlap: each slice is pulled by up to four runs, in any order); the
sequential one runs each day after the other, in a process of its own, at the same time. (A run twice
at once, as a retried task, is in `test_database_faults.py`.) Driven through the task functions on a
real Postgres, not through Airflow: hundreds of DAG runs would take far longer than the test suite can
afford (docs/reliability.md). Then `dbt build` on each warehouse, both at once.

The simulation has every planted fault (late files, resends with revisions, unreadable files, unknown
sites, totals that do not add up), so the runs overlap on slices that change between runs.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from epifeeds.feeds.district_reports import ingest_district_reports
from epifeeds.feeds.hotels import ingest_hotel_reports
from epifeeds.feeds.registries import ingest_registries
from epifeeds.feeds.testing_sites import ingest_testing_site_reports
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.orchestration import run_time_for
from epifeeds.quality.district_checks import check_district_feed
from epifeeds.quality.file_feed_rules import check_file_feed_rules
from epifeeds.schedules import (
    INGEST_DISTRICT_REPORTS_CRON,
    INGEST_REGISTRIES_CRON,
    INGEST_TESTING_SITES_CRON,
    cron_local_time,
    report_dates_through,
)
from epifeeds.settings import load_settings
from epifeeds.tasks import check_file_deliveries, report_dates_for_run, rule_dates_for
from epifeeds.warehouse import run_dbt
from epifeeds_sim.generate import generate
from epifeeds_sim.server import serve_in_background
from tests.conftest import create_database, drop_database, dsn_for
from tests.reliability.conftest import FEED_TABLES, landed_rows, ledger

pytestmark = pytest.mark.integration

DAYS = int(os.environ.get("EPIFEEDS_TEST_BACKFILL_DAYS", 30))  # fewer to try the test out quickly
FIRST = date(2022, 3, 1)
REPORT_DATES = [FIRST + timedelta(days=n) for n in range(DAYS)]
TOKEN = "test-backfill-token"
AT_ONCE = 4


@dataclasses.dataclass(frozen=True)
class Backfill:
    dsn: str
    archive: str
    sim: Path
    api_url: str

    def run(self, report_date: date) -> None:
        """One day of the chain, as its DAG runs would do it."""
        registries_at = run_time_for(report_date, cron_local_time(INGEST_REGISTRIES_CRON))
        run_at = run_time_for(report_date, cron_local_time(INGEST_TESTING_SITES_CRON))
        assert run_at == run_time_for(report_date, cron_local_time(INGEST_DISTRICT_REPORTS_CRON))
        run_id = f"backfill__{report_date}"
        ingest_registries(self.dsn, self.archive, str(self.sim / "registries"), report_date, registries_at)
        days = report_dates_through(report_date, load_settings().ingest_lookback_days)
        district = ingest_district_reports(self.dsn, self.archive, self.api_url, TOKEN, days, run_at)
        drop, window = str(self.sim / "file_drop"), report_dates_for_run(run_at)
        files = ingest_testing_site_reports(self.dsn, self.archive, drop, window, run_at)["deliveries"]
        files += ingest_hotel_reports(self.dsn, self.archive, drop, window, run_at)["deliveries"]
        with psycopg.connect(self.dsn) as conn:
            assert len(district) == len(days)
            check_district_feed(conn, days, run_id, run_at)
            check_file_deliveries(conn, files, run_id, run_at)
            for group, dates in rule_dates_for(files, run_at).items():
                check_file_feed_rules(conn, dates, run_id, run_at, feeds=[group])


def run_in_order(backfill: Backfill, days: list[date]) -> None:
    for day in days:
        backfill.run(day)


def difference(concurrent, sequential) -> dict:
    """What only one side holds, per table (a list is one table)."""
    if isinstance(concurrent, list):
        concurrent, sequential = {"": concurrent}, {"": sequential}
    found = {}
    for table in sorted(set(concurrent) | set(sequential)):
        ours, theirs = set(map(repr, concurrent.get(table, []))), set(map(repr, sequential.get(table, [])))
        if ours != theirs:
            found[table] = {
                "only concurrent": sorted(ours - theirs)[:5],
                "only sequential": sorted(theirs - ours)[:5],
            }
    return found


def landed(dsn: str, tables: set[str]) -> dict[str, list[tuple]]:
    """The feed tables' rows without batch ids and load times, in one order."""
    return {table: sorted(rows, key=repr) for table, rows in landed_rows(dsn, tables).items()}


LOAD_TIME_KEYS = {"batch_id", "revised_at"}


def without_batch_ids(value):
    """Findings' details name batch ids and load times (H1's revised_at), which differ between two equal
    warehouses."""
    if isinstance(value, dict):
        return {k: without_batch_ids(v) for k, v in value.items() if k not in LOAD_TIME_KEYS}
    if isinstance(value, list):
        return [without_batch_ids(v) for v in value]
    return value


def findings(dsn: str) -> list[tuple]:
    """The findings that need attention (open or silenced), without their timestamps. A resolved finding
    is history of what a run saw before a resend landed: a run that sees the resend first never opens it."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select finding_key, severity, status, summary, details from dq.findings"
            " where status <> 'resolved' order by finding_key"
        ).fetchall()
    return [(*row[:4], without_batch_ids(row[4])) for row in rows]


def marts(dsn: str) -> dict[str, list[tuple]]:
    """Every mart's rows without their lineage (the batch a row came from, when it was loaded) and without
    `valid_from` (the dimensions' snapshot time: when dbt ran)."""
    found = {}
    with psycopg.connect(dsn) as conn:
        tables = [t for (t,) in conn.execute("select table_name from information_schema.tables where table_schema = 'marts' order by 1")]  # fmt: skip
        for table in tables:
            columns = [c for (c,) in conn.execute("select column_name from information_schema.columns where table_schema = 'marts' and table_name = %s and column_name not like '%%batch_id' and column_name not like '%%loaded_at' and column_name <> 'valid_from' order by ordinal_position", (table,))]  # fmt: skip
            found[table] = sorted(
                conn.execute(f"select {', '.join(columns)} from marts.{table}").fetchall(), key=repr
            )
    return found


def build(dsn: str, name: str, artifacts: Path) -> None:
    settings = dataclasses.replace(load_settings(), warehouse_db=name, warehouse_dsn=dsn)
    models = ["--resource-type", "seed", "--resource-type", "snapshot", "--resource-type", "model"]
    run_dbt(
        ["build", "--quiet", *models], settings, target_path=artifacts / "target", log_path=artifacts / "logs"
    )


@pytest.fixture(scope="module")
def backfills(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The same 30 simulated days backfilled twice, one day after the other and four at once, each in
    its warehouse, both then built by dbt: (sequential DSN, concurrent DSN)."""
    work = tmp_path_factory.mktemp("backfill")
    sim = work / "sim"
    generate(sim, days=DAYS, seed=11, faults="all", scale="small")
    names = [create_database("epifeeds_test_seq"), create_database("epifeeds_test_par")]
    try:
        with serve_in_background(sim, TOKEN) as api_url:
            sequential, concurrent = (
                Backfill(dsn_for(n), str(work / "archive"), sim, api_url) for n in names
            )
            for backfill in (sequential, concurrent):
                with psycopg.connect(backfill.dsn) as conn:
                    ensure_landing_schema(conn)

            def at_once(run: Callable[[date], None], days: list[date]) -> None:
                with ThreadPoolExecutor(AT_ONCE) as pool:
                    list(pool.map(run, days))  # re-raises the first run that failed

            # The two backfills side by side, the sequential one in a process of its own (a second core).
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as elsewhere:
                in_order = elsewhere.submit(run_in_order, sequential, REPORT_DATES)
                at_once(concurrent.run, REPORT_DATES)
                in_order.result()
        with ThreadPoolExecutor(2) as both:
            [d.result() for d in [both.submit(build, dsn_for(n), n, work / n) for n in names]]
        yield sequential.dsn, concurrent.dsn
    finally:
        for name in names:
            drop_database(name)


def test_the_file_feeds_and_registries_land_the_same_rows(backfills):
    sequential, concurrent = backfills
    file_feeds = set(FEED_TABLES)
    assert difference(landed(concurrent, file_feeds), landed(sequential, file_feeds)) == {}
    with psycopg.connect(sequential) as conn:  # what was compared is the real thing: every day, every feed
        days = conn.execute(
            "select count(distinct report_date) from landing.testing_site_reports"
        ).fetchone()[0]
    assert days == DAYS and min(map(len, landed(sequential, file_feeds).values())) > 0


def test_the_district_reports_land_the_same_versions(backfills):
    sequential, concurrent = backfills
    assert (
        difference(landed(concurrent, {"district_reports"}), landed(sequential, {"district_reports"})) == {}
    )


def test_the_ledger_is_the_same(backfills):
    """Registries included: each is ledgered once, under its own as_of, whichever run took it first."""
    sequential, concurrent = backfills
    assert difference(ledger(concurrent), ledger(sequential)) == {}


def test_the_ledger_of_the_report_feeds_is_the_same(backfills):
    sequential, concurrent = backfills
    reports = [row for row in ledger(sequential) if row[1] != "*" or row[0] == "district_reports"]
    assert (
        difference([r for r in ledger(concurrent) if r[1] != "*" or r[0] == "district_reports"], reports)
        == {}
    )
    assert len(reports) > DAYS * 20


def test_the_findings_that_need_attention_are_the_same(backfills):
    sequential, concurrent = backfills
    assert difference(findings(concurrent), findings(sequential)) == {}
    assert len(findings(sequential)) > 10


def test_the_marts_are_the_same(backfills):
    sequential, concurrent = backfills
    assert difference(marts(concurrent), marts(sequential)) == {}
    assert len(marts(sequential)) >= 7
