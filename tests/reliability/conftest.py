"""Fixtures of the fault tests: a small simulation generated once, copied per test so a test can plant
its defects in the files, and what a warehouse holds, compared without batch ids and load times."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from epifeeds_sim.generate import generate

DAYS = 2
FIRST = date(2022, 3, 1)
DATES = [FIRST + timedelta(days=n) for n in range(DAYS)]
AFTER_ALL_ARRIVALS = datetime(2022, 3, 4, 2, 30, tzinfo=UTC)
FEED_TABLES = (
    "testing_sites",
    "isolation_hotels",
    "testing_site_reports",
    "hotel_reports",
    "hotel_check_ins",
)


@pytest.fixture(scope="session")
def small_sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of the small simulation without planted faults (the tests plant their own)."""
    sim_dir = tmp_path_factory.mktemp("reliability-sim")
    generate(sim_dir, days=DAYS, seed=7, faults="none", scale="small")
    return sim_dir


@pytest.fixture
def sim_copy(small_sim: Path, tmp_path: Path) -> Path:
    """A private copy of the simulation, to plant defects in."""
    target = tmp_path / "sim"
    shutil.copytree(small_sim, target)
    return target


def landed_rows(dsn: str, tables: Iterable[str] = FEED_TABLES) -> dict[str, list[tuple]]:
    """Every feed table's rows without _batch_id and _loaded_at (which differ between equal runs)."""
    found = {}
    with psycopg.connect(dsn) as conn:
        for table in tables:
            columns = [
                name
                for (name,) in conn.execute(
                    "select column_name from information_schema.columns where table_schema = 'landing'"
                    " and table_name = %s and column_name not in ('_batch_id', '_loaded_at') order by ordinal_position",
                    (table,),
                )
            ]
            found[table] = conn.execute(
                f"select {', '.join(columns)} from landing.{table} order by {', '.join(columns[:4])}"
            ).fetchall()
    return found


def ledger(dsn: str) -> list[tuple]:
    """The ledger without ids and messages: what was delivered, and what became of it."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select feed, reporter, report_date, sha256, status, rows_read, rows_landed, rows_rejected"
            " from landing.batches order by 1, 2, 3, 4"
        ).fetchall()
