"""DDL for the landing and dq schemas; feed tables derive from their contracts."""

from __future__ import annotations

import psycopg

from epifeeds.feeds.bulletin_measures import BULLETIN_MEASURES
from epifeeds.feeds.contracts import CONTRACTS, FeedContract

LEDGER_DDL = """
create schema if not exists landing;
create schema if not exists dq;

create table if not exists landing.batches (
    batch_id bigserial primary key,
    feed text not null,
    reporter text not null,
    report_date date not null,
    source_uri text not null,
    sha256 text not null,
    received_at timestamptz not null,
    status text not null check (status in ('received', 'landed', 'quarantined')),
    rows_read integer,
    rows_landed integer,
    rows_rejected integer,
    message text,
    header jsonb,  -- what a file's header had against its contract (feeds.records.HeaderReport); S1 judges it
    unique (feed, reporter, report_date, sha256)
);
-- A ledger from before the header was kept: the column added once (a plain "add column if not exists"
-- would lock the ledger on every start, against the landings running).
do $$ begin
    if not exists (select from pg_attribute where attrelid = 'landing.batches'::regclass
                   and attname = 'header' and not attisdropped) then
        alter table landing.batches add column header jsonb;
    end if;
end $$;

create table if not exists landing.rejects (
    reject_id bigserial primary key,
    batch_id bigint not null references landing.batches (batch_id),
    feed text not null,
    reporter text not null,
    report_date date not null,
    row_number integer not null,
    raw_values jsonb not null,
    reason text not null
);
alter table landing.rejects add column if not exists reporter_id text;
alter table landing.rejects add column if not exists claimed_report_date date;

create table if not exists dq.check_runs (
    check_run_id bigserial primary key,
    suite text not null,
    feed text,
    report_date date,
    run_id text,
    started_at timestamptz not null default now(),
    is_success boolean not null,
    statistics jsonb
);

create table if not exists dq.check_results (
    check_result_id bigserial primary key,
    check_run_id bigint references dq.check_runs (check_run_id),
    check_name text not null,
    rule text not null,
    feed text not null,
    reporter text,
    report_date date,
    observed jsonb,
    expected jsonb,
    severity text not null check (severity in ('info', 'warn', 'error', 'critical')),
    status text not null check (status in ('pass', 'fail', 'silenced')),
    run_id text,
    checked_at timestamptz not null default now()
);

create table if not exists dq.findings (
    finding_id bigserial primary key,
    finding_key text not null unique,
    rule text not null,
    feed text not null,
    reporter text not null,
    report_date date not null,
    severity text not null,
    summary text not null,
    details jsonb not null default '{}',
    status text not null default 'open' check (status in ('open', 'resolved', 'silenced')),
    first_seen_at timestamptz not null,
    last_seen_at timestamptz not null,
    resolved_at timestamptz
);

create table if not exists dq.alerts (
    alert_id bigserial primary key,
    root_cause_key text not null unique,
    rule text not null,
    feed text not null,
    reporter text not null,
    report_date date not null,
    severity text not null,
    title text not null,
    body text not null,
    status text not null default 'open' check (status in ('open', 'resolved')),
    opened_at timestamptz not null,
    last_notified_at timestamptz,
    notify_count integer not null default 0,
    resolved_at timestamptz,
    resolution_notified_at timestamptz
);

create table if not exists dq.notifications (
    notification_id bigserial primary key,
    alert_id bigint not null references dq.alerts (alert_id),
    kind text not null check (kind in ('open', 'reminder', 'resolved')),
    channel text not null,
    attempted_at timestamptz not null,
    is_delivered boolean not null,
    response text
);
"""


def feed_table_ddl(contract: FeedContract) -> str:
    columns = [f"    {c.name} {c.pg_type}{' not null' if c.required else ''}" for c in contract.columns]
    columns += [
        "    _batch_id bigint not null references landing.batches (batch_id)",
        "    _loaded_at timestamptz not null",
        "    _version integer not null",
        "    _row_hash text not null",
        f"    primary key ({', '.join(contract.key)}, _version)",
    ]
    body = ",\n".join(columns)
    ddl = f"create table if not exists {contract.landing_table} (\n{body}\n);"
    if contract.key[0] != contract.date_column:
        # Readers judge a window of report dates (dbt's incremental models and windowed tests, GX's daily
        # batches); without this index each of them scans the feed's whole history.
        # Created only when missing: `create index if not exists` locks the table even when the index
        # exists, which deadlocks against a landing that holds the table and waits for this DDL's lock.
        schema, table = contract.landing_table.split(".")
        index = f"{table}__{contract.date_column}_idx"
        ddl += (
            f"\ndo $$ begin if to_regclass('{schema}.{index}') is null then "
            f"create index {index} on {contract.landing_table} ({contract.date_column}); end if; end $$;"
        )
    return ddl


def current_view_name(contract: FeedContract) -> str:
    """The view of a feed's current rows: `landing.<feed>__current`."""
    return f"{contract.landing_table}__current"


def current_view_ddl(contract: FeedContract) -> str:
    """The latest `_version` of every report (contract key): what dbt reads and GX validates.

    A view rather than a query in the GX runner, so that the committed GX context can name it as a
    table asset and validate one report date of it with a daily batch definition.
    """
    key = ", ".join(contract.key)
    view = current_view_name(contract)
    return (
        f"drop view if exists {view};\n"
        f"create view {view} as\n"
        f"select distinct on ({key}) *\nfrom {contract.landing_table}\norder by {key}, _version desc;"
    )


_COLUMNS_OF = """
select array_agg(attname::text order by attnum) from pg_attribute
where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped
"""


def _view_is_current(conn: psycopg.Connection, contract: FeedContract) -> bool:
    table = conn.execute(_COLUMNS_OF, (contract.landing_table,)).fetchone()[0]
    view = conn.execute(_COLUMNS_OF, (current_view_name(contract),)).fetchone()[0]
    return view is not None and view == table


def ensure_landing_schema(conn: psycopg.Connection) -> None:
    """Create the landing and dq tables and the landing views if they are missing (idempotent)."""
    with conn.transaction():
        # Parallel tasks (LocalExecutor) applying the DDL at once would otherwise race on the catalog.
        conn.execute("select pg_advisory_xact_lock(hashtext('epifeeds.ensure_landing_schema'))")
        conn.execute(LEDGER_DDL)
        # landing.bulletin_measures (published bulletins, long) is versioned like a feed but has no GX
        # suite or dbt contract test of its own: it is listed here rather than in CONTRACTS.
        for contract in (*CONTRACTS.values(), BULLETIN_MEASURES):
            conn.execute(feed_table_ddl(contract))
            # (Re)created only when missing or behind its table, so a reader of the view is not blocked.
            if not _view_is_current(conn, contract):
                conn.execute(current_view_ddl(contract))
