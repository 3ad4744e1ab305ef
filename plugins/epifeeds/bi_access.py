"""Read-only access for BI tools: the ``bi_reader`` role reads the ``marts`` schema and nothing else.

``ensure_bi_reader`` is idempotent and safe to run on every ``epifeeds setup``:

- creates the login role if it is missing, with the password from ``password``, else
  ``EPIFEEDS_BI_READER_PASSWORD``, else ``bi_reader`` (a demo default: production sets the variable).
  An existing role keeps its password unless one is given explicitly (argument or variable), so a
  password set elsewhere (docker/postgres-init, a DBA) is not reset to the demo default;
- keeps the role harmless: no superuser, createdb, createrole, replication or RLS bypass, and every
  session read-only by default;
- grants CONNECT on the warehouse database, USAGE on ``marts``, SELECT on every table and view in it,
  and SELECT by default on tables the dbt user creates there later;
- revokes whatever the role may hold on the other warehouse schemas (landing, staging, intermediate,
  dq, seeds, snapshots).

The dbt project also grants SELECT on each mart it builds (``+grants`` in ``dbt_project.yml``), and
Postgres refuses a grant to a missing role: create the role with this before the first ``dbt build``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

BI_READER_ROLE = "bi_reader"
BI_READER_PASSWORD_ENV = "EPIFEEDS_BI_READER_PASSWORD"
DEMO_PASSWORD = "bi_reader"
BI_SCHEMA = "marts"
PRIVATE_SCHEMAS = ("landing", "staging", "intermediate", "dq", "seeds", "snapshots")

# Serialises concurrent callers (tests, setup in several processes): ALTER ROLE on the same role from
# two sessions at once fails with "tuple concurrently updated".
_ADVISORY_LOCK_KEY = 0x62695F72  # "bi_r"

_ROLE_ATTRIBUTES = "login nosuperuser nocreatedb nocreaterole noreplication nobypassrls"


def bi_reader_password(password: str | None = None) -> str:
    """The password ``bi_reader`` is created with: the argument, the environment, or the demo default."""
    return password or os.environ.get(BI_READER_PASSWORD_ENV) or DEMO_PASSWORD


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
        if tuple(attributes) != (True, False, False, False, False, False):
            admin.execute(sql.SQL("alter role {} with " + _ROLE_ATTRIBUTES).format(role))
        if explicit_password:
            admin.execute(
                sql.SQL("alter role {} with password {}").format(role, sql.Literal(explicit_password))
            )
    admin.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(role))


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
