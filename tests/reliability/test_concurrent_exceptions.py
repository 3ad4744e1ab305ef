"""The known-exceptions sync (rule X1) run by several sessions at once, on a real Postgres: validate
tasks, ingest runs and the watchdog each re-sync dq.exceptions from the reviewed file. Without taking
turns, two deletes and re-inserts at once collide on the primary key (or deadlock); with the findings
lock the table ends up holding one file's entries, whole."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import psycopg
import pytest

from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.quality.exceptions import KnownException, sync_exceptions

pytestmark = pytest.mark.integration


def entries(count: int, reason: str) -> list[KnownException]:
    return [
        KnownException(
            "V2", "district_reports", f"14010{n}", date(2022, 4, 1), date(2022, 4, 30), reason, "qa", date(2026, 12, 1)
        )
        for n in range(count)
    ]  # fmt: skip


def stored(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select exception_id, reporter, reason from dq.exceptions order by 1").fetchall()


def as_stored(exceptions: list[KnownException]) -> list[tuple]:
    return [(n, e.reporter, e.reason) for n, e in enumerate(exceptions, start=1)]


def sync_in_one_transaction(dsn: str, exceptions: list[KnownException], start: threading.Barrier) -> None:
    """As a validate task does: the sync inside a transaction that goes on a while before it commits."""
    with psycopg.connect(dsn) as conn:
        start.wait()
        sync_exceptions(conn, exceptions)
        time.sleep(0.3)  # the rest of the caller's transaction: the other sessions are mid-sync by now


@pytest.mark.parametrize("differ", [False, True], ids=["same file", "files differ"])
def test_sessions_syncing_the_exceptions_at_once_leave_one_files_entries(warehouse_dsn, differ):
    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)  # the dq schema
        sync_exceptions(conn, entries(2, "an old entry"))
    files = [entries(3 + (n if differ else 0), f"reviewed {n if differ else 0}") for n in range(4)]
    start = threading.Barrier(len(files))
    with ThreadPoolExecutor(len(files)) as pool:
        for done in [pool.submit(sync_in_one_transaction, warehouse_dsn, f, start) for f in files]:
            done.result()  # no session failed (a duplicate key or a deadlock would raise here)
    assert stored(warehouse_dsn) in [as_stored(f) for f in files]


def test_the_first_syncs_at_once_create_the_table_once(warehouse_dsn):
    with psycopg.connect(warehouse_dsn) as conn:
        conn.execute("create schema dq")
    start = threading.Barrier(4)
    with ThreadPoolExecutor(4) as pool:
        for done in [
            pool.submit(sync_in_one_transaction, warehouse_dsn, entries(3, "r"), start) for _ in range(4)
        ]:
            done.result()
    assert stored(warehouse_dsn) == as_stored(entries(3, "r"))
