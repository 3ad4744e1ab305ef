"""DDL the alerting needs on top of the dq tables that `epifeeds.landing.schema` creates (idempotent).

- ``dq.alerts`` gains the incident's details (member findings, numbers, affected marts, links), the
  run that last saw it and when it was escalated.
- ``dq.alert_findings`` links an incident to every finding it explains (history: a finding stays
  linked after it resolves, so a resolution notice can say what was fixed).
- ``dq.alert_notices`` is the outbox: one row per notice (open, reminder, escalated, resolved), kept
  until every channel routed to it has accepted it; undelivered notices are retried on the next run.
- ``dq.notifications`` (one row per delivery attempt) gains the notice and the attempt number, and
  accepts the kind ``escalated``.
"""

from __future__ import annotations

import psycopg

ALERT_SCHEMA_DDL = """
alter table dq.alerts add column if not exists root_finding_key text;
alter table dq.alerts add column if not exists first_seen_at timestamptz;
alter table dq.alerts add column if not exists details jsonb not null default '{}';
alter table dq.alerts add column if not exists escalated_at timestamptz;
alter table dq.alerts add column if not exists last_run_id text;
alter table dq.alerts add column if not exists updated_at timestamptz;

create table if not exists dq.alert_findings (
    alert_id bigint not null references dq.alerts (alert_id),
    finding_id bigint not null references dq.findings (finding_id),
    is_root_cause boolean not null default false,
    attached_at timestamptz not null,
    primary key (alert_id, finding_id)
);

create table if not exists dq.alert_notices (
    notice_id bigserial primary key,
    alert_id bigint not null references dq.alerts (alert_id),
    kind text not null check (kind in ('open', 'reminder', 'escalated', 'resolved')),
    title text not null,
    body text not null,
    payload jsonb not null,
    is_escalated boolean not null default false,
    created_at timestamptz not null,
    delivered_at timestamptz
);
create index if not exists alert_notices_pending on dq.alert_notices (notice_id) where delivered_at is null;

alter table dq.notifications add column if not exists notice_id bigint references dq.alert_notices (notice_id);
alter table dq.notifications add column if not exists attempt integer not null default 1;
alter table dq.notifications drop constraint if exists notifications_kind_check;
alter table dq.notifications add constraint notifications_kind_check
    check (kind in ('open', 'reminder', 'escalated', 'resolved'));
"""

# The last object the DDL above creates: when it is there, nothing needs to run (and no table lock is taken).
_APPLIED_PROBE = """
select exists (
    select from pg_constraint
    where conname = 'notifications_kind_check'
      and conrelid = to_regclass('dq.notifications')
      and pg_get_constraintdef(oid) like '%escalated%'
) and exists (
    select from information_schema.columns
    where table_schema = 'dq' and table_name = 'notifications' and column_name = 'attempt'
)
"""


def ensure_alert_schema(conn: psycopg.Connection) -> None:
    """Apply the alerting DDL if it is not there yet. Needs `ensure_landing_schema(conn)` first (dq.*)."""
    with conn.transaction():
        missing = conn.execute("select to_regclass('dq.alerts') is null").fetchone()[0]
        applied = conn.execute(_APPLIED_PROBE).fetchone()[0]
    if missing:
        raise RuntimeError(
            "dq.alerts does not exist: call epifeeds.landing.schema.ensure_landing_schema(conn) before "
            "ensure_alert_schema(conn)"
        )
    if applied:
        return
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('epifeeds.ensure_alert_schema'))")
        conn.execute(ALERT_SCHEMA_DDL)
