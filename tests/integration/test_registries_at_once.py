"""Two registry ingests of the same bytes at once (issue #13), on real Postgres, each run its own thread and
connection, as a backfill runs them (each for its own report date, the ledger's key): the registry's slice lock is held around the ledger check and the landing, so each registry is
ledgered once and its rows land once."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import psycopg
import pytest

from epifeeds.feeds.registries import ingest_registries
from epifeeds_sim.generate import generate

pytestmark = pytest.mark.integration

DAYS = 3
REPORT_DATES = (date(2022, 3, 2), date(2022, 3, 3))  # two days of the simulation (from 2022-03-01)
AS_OF = datetime(2022, 3, 10, tzinfo=UTC)
RUNS = len(REPORT_DATES)


def test_two_registry_runs_at_once_ledger_each_registry_once(warehouse_dsn, tmp_path):
    sim_dir = tmp_path / "sim"
    generate(sim_dir, days=DAYS, seed=7, faults="none", scale="small")
    registries = str(sim_dir / "registries")
    start = threading.Barrier(RUNS)
    records: list[list[dict]] = []
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            start.wait()
            records.append(
                ingest_registries(
                    warehouse_dsn, str(tmp_path / f"archive{n}"), registries, REPORT_DATES[n], AS_OF
                )
            )
        except BaseException as error:  # reported by the test below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(RUNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    with psycopg.connect(warehouse_dsn) as conn:
        ledger = conn.execute(
            "select feed, status, count(*) from landing.batches group by feed, status order by feed"
        ).fetchall()
        sites = conn.execute("select count(*), count(distinct site_id) from landing.testing_sites").fetchone()
        hotels = conn.execute(
            "select count(*), count(distinct hotel_id) from landing.isolation_hotels"
        ).fetchone()
    assert ledger == [("isolation_hotels", "landed", 1), ("testing_sites", "landed", 1)]
    assert sum(len(r) for r in records) == 2  # each registry taken by one of the runs
    assert sites[0] == sites[1] > 0 and hotels[0] == hotels[1] > 0  # every site and hotel once, version 1
