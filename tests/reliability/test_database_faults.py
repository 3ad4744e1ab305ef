"""Faults on the database side, on a real Postgres: the backend terminated in the middle of a COPY, the
same slice landed by two runs at once, and a backfill whose runs overlap, against the sequential result."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
import pytest

from epifeeds.feeds.hotels import ingest_hotel_reports
from epifeeds.feeds.registries import ingest_registries
from epifeeds.feeds.testing_sites import ingest_testing_site_reports
from epifeeds.landing.schema import ensure_landing_schema
from tests.conftest import create_database, drop_database, dsn_for
from tests.reliability.conftest import AFTER_ALL_ARRIVALS, DATES, landed_rows, ledger

pytestmark = pytest.mark.integration


def land_registries(dsn: str, archive: str, sim) -> None:
    ingest_registries(dsn, archive, str(sim / "registries"), DATES[-1], AFTER_ALL_ARRIVALS)


def test_a_backend_terminated_mid_copy_rolls_back_and_the_rerun_lands_once(
    warehouse_dsn, tmp_path, small_sim
):
    archive, drop = str(tmp_path / "archive"), str(small_sim / "file_drop")
    land_registries(warehouse_dsn, archive, small_sim)
    outcome: dict = {}

    def ingest() -> None:
        try:
            ingest_testing_site_reports(warehouse_dsn, archive, drop, DATES, AFTER_ALL_ARRIVALS)
        except Exception as error:  # noqa: BLE001 - what the task would see
            outcome["error"] = error

    with (
        psycopg.connect(warehouse_dsn) as blocker,
        psycopg.connect(warehouse_dsn, autocommit=True) as watcher,
    ):
        # Holding the table makes the first COPY wait inside the statement: the backend is then mid-COPY.
        blocker.execute("lock table landing.testing_site_reports in exclusive mode")
        worker = threading.Thread(target=ingest)
        worker.start()
        deadline = time.monotonic() + 30
        copying = None
        while copying is None and time.monotonic() < deadline:
            copying = watcher.execute(  # its own transactions: pg_stat_activity is a snapshot per transaction
                "select pid from pg_stat_activity where datname = current_database() and query ilike 'copy%'"
                " and wait_event_type = 'Lock'"
            ).fetchone()
            time.sleep(0.05)
        assert copying, "the ingest never reached its COPY"
        watcher.execute("select pg_terminate_backend(%s)", copying)
        blocker.rollback()
    worker.join(60)
    assert isinstance(outcome.get("error"), psycopg.OperationalError), outcome
    with psycopg.connect(warehouse_dsn) as conn:
        assert conn.execute("select count(*) from landing.testing_site_reports").fetchone()[0] == 0
        [(status, count)] = conn.execute(
            "select status, count(*) from landing.batches where feed = 'testing_site_reports' group by 1"
        ).fetchall()
    assert (status, count) == ("received", 1)  # ledgered before parsing, committed, not landed

    ingest_testing_site_reports(warehouse_dsn, archive, drop, DATES, AFTER_ALL_ARRIVALS)
    with psycopg.connect(warehouse_dsn) as conn:
        rows, doubled = conn.execute(
            "select count(*), count(*) filter (where _version > 1) from landing.testing_site_reports"
        ).fetchone()
        statuses = conn.execute(
            "select status, count(*) from landing.batches where feed = 'testing_site_reports' group by 1"
        ).fetchall()
    truth = json.loads((small_sim / "ground_truth.json").read_text())
    assert statuses == [("landed", 20)] and doubled == 0 and rows == truth["feeds"]["testing_sites"]["rows"]


def test_the_same_slice_twice_at_once_lands_once(warehouse_dsn, tmp_path, small_sim):
    archive, drop = str(tmp_path / "archive"), str(small_sim / "file_drop")
    land_registries(warehouse_dsn, archive, small_sim)
    start = threading.Barrier(2)

    def ingest(_: int) -> dict:
        start.wait()
        return ingest_testing_site_reports(warehouse_dsn, archive, drop, DATES, AFTER_ALL_ARRIVALS)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(ingest, range(2))
    taken = len(first["deliveries"]) + len(second["deliveries"])
    with psycopg.connect(warehouse_dsn) as conn:
        batches = conn.execute(
            "select count(*), count(*) filter (where status = 'landed') from landing.batches"
            " where feed = 'testing_site_reports'"
        ).fetchone()
        doubled = conn.execute(
            "select count(*) from landing.testing_site_reports where _version > 1"
        ).fetchone()[0]
    assert batches == (20, 20) and doubled == 0
    assert taken == 20, "each file is landed by exactly one of the two runs"


def test_a_backfill_with_runs_at_once_equals_the_sequential_one(tmp_path, small_sim):
    """Each run pulls its day and the day before (lookback 1), as a backfill does; runs overlap on slices."""
    drop = str(small_sim / "file_drop")
    runs = [
        (AFTER_ALL_ARRIVALS - timedelta(days=n), [day - timedelta(days=1), day])
        for n, day in enumerate(reversed(DATES))
    ]
    runs += runs  # and every run twice, as a retried task would
    names = [create_database("epifeeds_test_seq"), create_database("epifeeds_test_par")]
    try:
        sequential, parallel = (dsn_for(name) for name in names)
        for dsn in (sequential, parallel):
            with psycopg.connect(dsn) as conn:
                ensure_landing_schema(conn)
            land_registries(dsn, str(tmp_path / "archive"), small_sim)

        def run(dsn: str, as_of, dates) -> None:
            ingest_testing_site_reports(dsn, str(tmp_path / "archive"), drop, dates, as_of)
            ingest_hotel_reports(dsn, str(tmp_path / "archive"), drop, dates, as_of)

        for as_of, dates in runs:
            run(sequential, as_of, dates)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda r: run(parallel, *r), runs))
        assert landed_rows(parallel) == landed_rows(sequential)
        assert ledger(parallel) == ledger(sequential)
        assert sum(len(rows) for rows in landed_rows(parallel).values()) > 1000
    finally:
        for name in names:
            drop_database(name)


def test_the_same_payload_archived_by_several_runs_at_once_is_kept_once(tmp_path):
    from epifeeds.landing.archive import archive_payload, read_archived

    payloads = [f"payload {n}".encode() * 10_000 for n in range(20)]
    start = threading.Barrier(8)

    def archive_all(_: int) -> list[str]:
        start.wait()
        return [archive_payload(str(tmp_path), "testing_site_reports", payload)[0] for payload in payloads]

    with ThreadPoolExecutor(8) as pool:
        digests = list(pool.map(archive_all, range(8)))
    assert all(found == digests[0] for found in digests)
    assert [read_archived(str(tmp_path), "testing_site_reports", d) for d in digests[0]] == payloads
    assert not list(tmp_path.rglob("*.partial"))
