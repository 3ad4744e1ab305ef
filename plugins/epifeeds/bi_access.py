"""Read-only access for BI tools: the ``bi_reader`` role reads the ``marts`` schema and nothing else.

``ensure_bi_reader`` is idempotent and safe to run on every ``epifeeds setup``:

- creates the login role if it is missing, with the password from ``password``, else
  ``EPIFEEDS_BI_READER_PASSWORD``, else one generated once into ``var/secrets/bi_reader_password``
  under EPIFEEDS_HOME (mode 0600): there is no shared default password.
  An existing role keeps its password unless one is given explicitly (argument or variable), so a
  password set elsewhere (docker/postgres-init, a DBA) is not reset;
- keeps the role harmless: no superuser, createdb, createrole, replication or RLS bypass, NOINHERIT,
  a connection limit, and role-level settings: every session read-only by default, a statement
  timeout and an idle-in-transaction timeout (an open BI transaction cannot block dbt's table swap
  for long);
- takes TEMP on the warehouse and CONNECT on every other database of the cluster from PUBLIC (the
  grants Postgres gives every new database), so the role reaches the warehouse and nothing else.

What Postgres cannot enforce: any role may ``SET default_transaction_read_only = off`` or
``SET statement_timeout = 0`` in its own session (role settings are defaults, not limits). What holds
regardless is the privileges: the role owns nothing and may write nowhere, so a read-write session
still cannot create, insert, update or delete (tests/reliability/test_least_privilege.py).
- grants CONNECT on the warehouse database, USAGE on ``marts``, SELECT on every table and view in it,
  and SELECT by default on tables the dbt user creates there later;
- revokes whatever the role may hold on the other warehouse schemas (landing, staging, intermediate,
  dq, seeds, snapshots).

The dbt project also grants SELECT on each mart it builds (``+grants`` in ``dbt_project.yml``), and
Postgres refuses a grant to a missing role: create the role with this before the first ``dbt build``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

BI_READER_ROLE = "bi_reader"
BI_READER_PASSWORD_ENV = "EPIFEEDS_BI_READER_PASSWORD"
STATEMENT_TIMEOUT = os.environ.get("EPIFEEDS_BI_STATEMENT_TIMEOUT", "120s")
IDLE_IN_TRANSACTION_TIMEOUT = os.environ.get("EPIFEEDS_BI_IDLE_TIMEOUT", "60s")
CONNECTION_LIMIT = 20
BI_SCHEMA = "marts"
PRIVATE_SCHEMAS = ("landing", "staging", "intermediate", "dq", "seeds", "snapshots")

# Serialises concurrent callers (tests, setup in several processes): ALTER ROLE on the same role from
# two sessions at once fails with "tuple concurrently updated".
_ADVISORY_LOCK_KEY = 0x62695F72  # "bi_r"

_ROLE_ATTRIBUTES = (
    f"login nosuperuser nocreatedb nocreaterole noreplication nobypassrls noinherit "
    f"connection limit {CONNECTION_LIMIT}"
)


def _generated_password() -> str:
    """A password generated once for this installation (var/secrets/bi_reader_password, mode 0600)."""
    from epifeeds.settings import load_settings

    path = load_settings().home / "var" / "secrets" / "bi_reader_password"
    if not path.is_file() or not path.read_text().strip():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(24))
    return path.read_text().strip()


def bi_reader_password(password: str | None = None) -> str:
    """The password ``bi_reader`` is created with: the argument, the environment, or one generated once."""
    return password or os.environ.get(BI_READER_PASSWORD_ENV) or _generated_password()


def bi_reader_dsn(warehouse_dsn: str, password: str | None = None) -> str:
    """The warehouse DSN with the user and password swapped for ``bi_reader``'s (what BI tools use)."""
    return make_conninfo(warehouse_dsn, user=BI_READER_ROLE, password=bi_reader_password(password))


def ensure_bi_reader(
    admin_conn_or_dsn: psycopg.Connection | str, warehouse_dsn: str, password: str | None = None
) -> None:
    """Create ``bi_reader`` if missing and leave it able to read ``marts`` and nothing else (idempotent).

    ``admin_conn_or_dsn``: a role allowed to create roles and grant CONNECT on the warehouse database
    (the maintenance database connection of ``epifeeds setup``). ``warehouse_dsn``: the warehouse as
    the user dbt builds with, who owns the schemas; its future tables in ``marts`` get SELECT by default.
    """
    explicit_password = password or os.environ.get(BI_READER_PASSWORD_ENV)
    database = conninfo_to_dict(warehouse_dsn).get("dbname")
    if not database:
        raise ValueError(
            f"ensure_bi_reader needs the warehouse DSN to name its database (got {warehouse_dsn!r}): "
            "pass settings.warehouse_dsn"
        )
    with _connection(admin_conn_or_dsn) as admin, admin.transaction():
        admin.execute("select pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_KEY,))
        _ensure_role(admin, explicit_password)
        _close_other_databases(admin, database)
        admin.execute(
            sql.SQL("grant connect on database {} to {}").format(
                sql.Identifier(database), sql.Identifier(BI_READER_ROLE)
            )
        )
    with psycopg.connect(warehouse_dsn, autocommit=True) as warehouse, warehouse.transaction():
        _grant_marts_only(warehouse)


@contextmanager
def _connection(conn_or_dsn: psycopg.Connection | str) -> Iterator[psycopg.Connection]:
    if isinstance(conn_or_dsn, psycopg.Connection):
        yield conn_or_dsn
    else:
        with psycopg.connect(conn_or_dsn, autocommit=True) as conn:
            yield conn


def _ensure_role(admin: psycopg.Connection, explicit_password: str | None) -> None:
    role = sql.Identifier(BI_READER_ROLE)
    attributes = admin.execute(
        "select rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls"
        " from pg_roles where rolname = %s",
        (BI_READER_ROLE,),
    ).fetchone()
    if attributes is None:
        admin.execute(
            sql.SQL("create role {} with " + _ROLE_ATTRIBUTES + " password {}").format(
                role, sql.Literal(bi_reader_password(explicit_password))
            )
        )
    else:
        admin.execute(sql.SQL("alter role {} with " + _ROLE_ATTRIBUTES).format(role))
        if explicit_password:
            admin.execute(
                sql.SQL("alter role {} with password {}").format(role, sql.Literal(explicit_password))
            )
    for setting, value in (
        ("default_transaction_read_only", "on"),
        ("statement_timeout", STATEMENT_TIMEOUT),
        ("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION_TIMEOUT),
    ):
        admin.execute(sql.SQL("alter role {} set {} = {}").format(role, sql.Identifier(setting), value))


def _close_other_databases(admin: psycopg.Connection, warehouse: str) -> None:
    """No TEMP on the warehouse; no CONNECT through PUBLIC on any other database bi_reader could reach."""
    admin.execute(sql.SQL("revoke temporary on database {} from public").format(sql.Identifier(warehouse)))
    admin.execute(
        sql.SQL("revoke temporary on database {} from {}").format(
            sql.Identifier(warehouse), sql.Identifier(BI_READER_ROLE)
        )
    )
    reachable = admin.execute(
        "select datname from pg_database where datallowconn and datname <> %s"
        " and has_database_privilege(%s, datname, 'CONNECT')",
        (warehouse, BI_READER_ROLE),
    ).fetchall()
    for (database,) in reachable:
        try:
            with admin.transaction():  # a savepoint: a database dropped meanwhile needs no revoking
                admin.execute(
                    sql.SQL("revoke connect, temporary on database {} from public").format(
                        sql.Identifier(database)
                    )
                )
        except (psycopg.errors.InvalidCatalogName, psycopg.errors.InternalError):
            if admin.execute("select 1 from pg_database where datname = %s", (database,)).fetchone():
                raise


def _grant_marts_only(warehouse: psycopg.Connection) -> None:
    role = sql.Identifier(BI_READER_ROLE)
    marts = sql.Identifier(BI_SCHEMA)
    # The schema may not exist before dbt's first build; create it so the default privileges can
    # attach to it now (dbt's `create schema if not exists` then finds it).
    warehouse.execute(sql.SQL("create schema if not exists {}").format(marts))
    for statement in (
        "grant usage on schema {schema} to {role}",
        "grant select on all tables in schema {schema} to {role}",
        "alter default privileges in schema {schema} grant select on tables to {role}",
    ):
        warehouse.execute(sql.SQL(statement).format(schema=marts, role=role))
    existing = {
        name
        for (name,) in warehouse.execute(
            "select nspname from pg_namespace where nspname = any(%s)", (list(PRIVATE_SCHEMAS),)
        ).fetchall()
    }
    for schema_name in PRIVATE_SCHEMAS:
        if schema_name not in existing:
            continue
        schema = sql.Identifier(schema_name)
        for statement in (
            "revoke all on schema {schema} from {role}",
            "revoke all on all tables in schema {schema} from {role}",
            "revoke all on all sequences in schema {schema} from {role}",
            "revoke all on all functions in schema {schema} from {role}",
            "alter default privileges in schema {schema} revoke all on tables from {role}",
        ):
            warehouse.execute(sql.SQL(statement).format(schema=schema, role=role))
