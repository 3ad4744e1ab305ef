"""bi_reader, as a BI tool (or someone holding its password) would try it: what it cannot do, on a real
Postgres. Role settings are defaults a session may change; the privileges are what hold."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from epifeeds.bi_access import BI_READER_ROLE, bi_reader_dsn, ensure_bi_reader
from epifeeds.settings import load_settings
from tests.conftest import create_database, drop_database, dsn_for

pytestmark = pytest.mark.integration


@pytest.fixture
def secured(warehouse_dsn: str) -> Iterator[tuple[str, str]]:
    """(warehouse DSN, another database's DSN) with bi_reader ensured on the warehouse; the other database
    exists before, as the `airflow` database does."""
    other = create_database("epifeeds_test_other")
    try:
        with psycopg.connect(warehouse_dsn, autocommit=True) as owner:
            owner.execute("create schema if not exists marts")
            owner.execute("create table marts.figures (n integer)")
            owner.execute("insert into marts.figures values (1)")
        ensure_bi_reader(load_settings().admin_dsn, warehouse_dsn, password="not-used-with-trust-auth")
        yield warehouse_dsn, dsn_for(other)
    finally:
        drop_database(other)


def _as_bi_reader(dsn: str) -> psycopg.Connection:
    return psycopg.connect(make_conninfo(bi_reader_dsn(dsn, "not-used-with-trust-auth")), autocommit=True)


def test_the_role_is_noinherit_and_carries_its_timeouts(secured):
    with psycopg.connect(load_settings().admin_dsn) as admin:
        inherit, limit, config = admin.execute(
            "select rolinherit, rolconnlimit, rolconfig from pg_roles where rolname = %s", (BI_READER_ROLE,)
        ).fetchone()
    assert inherit is False and 0 < limit <= 20
    settings = dict(item.split("=", 1) for item in config)
    assert settings["default_transaction_read_only"] == "on"
    assert settings["statement_timeout"] and settings["statement_timeout"] != "0"
    assert settings["idle_in_transaction_session_timeout"] not in ("", "0")
    with _as_bi_reader(secured[0]) as session:  # a new session gets them without asking
        shown = {
            name: session.execute(f"show {name}").fetchone()[0]
            for name in (
                "default_transaction_read_only",
                "statement_timeout",
                "idle_in_transaction_session_timeout",
            )
        }
    assert shown["default_transaction_read_only"] == "on"
    assert shown["statement_timeout"] not in ("0",) and shown["idle_in_transaction_session_timeout"] != "0"


def test_it_reads_the_marts_and_connects_nowhere_else(secured):
    warehouse, other = secured
    with _as_bi_reader(warehouse) as session:
        assert session.execute("select n from marts.figures").fetchall() == [(1,)]
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        _as_bi_reader(other).close()
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        _as_bi_reader(dsn_for("postgres")).close()


def test_switching_read_only_off_still_writes_nothing_and_there_is_no_temp(secured):
    """Postgres lets any role SET default_transaction_read_only = off in its session; with no privilege
    to write anywhere, and TEMP taken away, that gains nothing."""
    with _as_bi_reader(secured[0]) as session:
        session.execute("set default_transaction_read_only = off")  # allowed: a role setting is a default
        assert session.execute("show transaction_read_only").fetchone()[0] == "off"
        attempts = {
            "temp table": "create temp table scratch (n integer)",
            "table in public": "create table public.scratch (n integer)",
            "table in marts": "create table marts.scratch (n integer)",
            "insert": "insert into marts.figures values (2)",
            "update": "update marts.figures set n = 3",
            "delete": "delete from marts.figures",
            "schema": "create schema mine",
        }
        refused = {}
        for what, statement in attempts.items():
            try:
                session.execute(statement)
            except psycopg.errors.InsufficientPrivilege as error:
                refused[what] = str(error).splitlines()[0]
    assert set(refused) == set(attempts), f"bi_reader could: {set(attempts) - set(refused)}"
    with psycopg.connect(secured[0]) as owner:
        assert owner.execute("select n from marts.figures").fetchall() == [(1,)]
