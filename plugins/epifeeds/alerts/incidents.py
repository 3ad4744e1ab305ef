"""Incidents (dq.alerts), one per root cause, and the notices each incident is owed.

Grouping (`epifeeds.alerts.grouping`, from the rule registry's `explains` links) is recomputed from
the open findings at every run. An incident resolves when none of its findings is open any more (the
data arrived or was corrected); a finding that outlives its root cause then opens an incident of its own.

Notices (the outbox dq.alert_notices), under the notification budget (`NOTICE_POLICY`, per severity):
'open' once and 'resolved' once (if it was ever notified); a 'reminder' only for severities whose policy
has a reminder interval (critical: daily); 'escalated' once only for severities whose policy escalates
(critical, after `EPIFEEDS_ALERT_ESCALATE_AFTER_HOURS`). Errors and warnings are told twice: when they
open and when they resolve; `epifeeds status` lists what is still open. Time is always the run's
data-interval time (`as_of`), never the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from epifeeds.alerts.grouping import Incident, group_findings, root_cause_key
from epifeeds.alerts.lineage import impact_of_feed, load_manifest
from epifeeds.alerts.messages import AlertView, alert_links, numbers_of, reporter_name, what_failed
from epifeeds.alerts.routing import AlertConfig, load_alert_config
from epifeeds.alerts.schema import ensure_alert_schema
from epifeeds.feeds.names import DistrictRoster, load_district_roster
from epifeeds.quality.findings import FINDING_COLUMNS, Finding
from epifeeds.quality.registry import (
    ALERTING_SEVERITIES,
)

__all__ = [
    "ALERTING_SEVERITIES",
    "DEFAULT_SUPPRESSION",
    "Finding",
    "Incident",
    "Notice",
    "group_findings",
    "numbers_of",
    "pending_notices",
    "queue_notices",
    "root_cause_key",
    "sync_alerts",
    "undelivered_notices",
]

DEFAULT_SUPPRESSION = timedelta(hours=6)
WATCHDOG_DAG_ID = "feed_watchdog"


@dataclass(frozen=True)
class Notice:
    alert_id: int
    kind: str  # open | reminder | escalated | resolved
    title: str
    body: str
    severity: str
    payload: dict
    notice_id: int | None = None
    is_escalated: bool = False


# --- syncing incidents -------------------------------------------------------------------------------------

_FINDING_COLUMNS = ", ".join(f"f.{column}" for column in FINDING_COLUMNS)


def _open_findings(conn: psycopg.Connection) -> list[Finding]:
    rows = conn.execute(
        f"select {_FINDING_COLUMNS} from dq.findings as f where f.status = 'open'"
        " order by f.first_seen_at, f.finding_id"
    ).fetchall()
    return [Finding(*row) for row in rows]


def sync_alerts(
    conn: psycopg.Connection,
    as_of: datetime,
    links: dict[str, str] | None = None,
    *,
    run_id: str | None = None,
    dag_id: str = WATCHDOG_DAG_ID,
    config: AlertConfig | None = None,
    manifest: dict | None = None,
) -> dict[str, Incident]:
    """Open or update one alert per incident of the open findings; resolve alerts with nothing open left."""
    ensure_alert_schema(conn)
    config = config or load_alert_config()
    roster = load_district_roster()
    manifest = load_manifest() if manifest is None else manifest
    with conn.transaction():
        incidents = group_findings(_open_findings(conn), roster, manifest)
        for incident in incidents.values():
            lead, reporter = incident.lead, incident.reporter or incident.lead.reporter
            impact = impact_of_feed(lead.feed, manifest)
            details = {
                "dag_id": dag_id,
                "links": alert_links(config, lead.feed, reporter, lead.report_date, dag_id, run_id, links),
                "affected_marts": list(impact.marts),
                "affected_dashboards": list(impact.dashboards),
                "impact_note": impact.note,
                "explained_findings": len(incident.explained),
                "absorbed": [f"{m.rule} {m.reporter} {m.report_date}" for m in incident.absorbed],
            }
            name = reporter_name(roster, reporter)
            title = f"[{incident.severity.upper()}] {name}: {what_failed(lead, len(incident.members))}"
            alert_id = conn.execute(
                """
                insert into dq.alerts (root_cause_key, rule, feed, reporter, report_date, severity, title, body,
                                       status, opened_at, root_finding_key, first_seen_at, details, last_run_id,
                                       updated_at)
                values (%(key)s, %(rule)s, %(feed)s, %(reporter)s, %(report_date)s, %(severity)s, %(title)s,
                        %(body)s, 'open', %(as_of)s, %(root)s, %(first_seen_at)s, %(details)s, %(run_id)s, %(as_of)s)
                on conflict (root_cause_key) do update
                    set severity = excluded.severity, title = excluded.title, details = excluded.details,
                        root_finding_key = excluded.root_finding_key, updated_at = excluded.updated_at,
                        last_run_id = coalesce(excluded.last_run_id, dq.alerts.last_run_id),
                        first_seen_at = least(dq.alerts.first_seen_at, excluded.first_seen_at),
                        -- a resolved incident that fails again is a new incident: notified afresh
                        status = 'open',
                        opened_at = case when dq.alerts.status = 'resolved' then excluded.opened_at
                                         else dq.alerts.opened_at end,
                        resolved_at = null,
                        resolution_notified_at = case when dq.alerts.status = 'resolved' then null
                                                      else dq.alerts.resolution_notified_at end,
                        notify_count = case when dq.alerts.status = 'resolved' then 0
                                            else dq.alerts.notify_count end,
                        last_notified_at = case when dq.alerts.status = 'resolved' then null
                                                else dq.alerts.last_notified_at end,
                        escalated_at = case when dq.alerts.status = 'resolved' then null
                                            else dq.alerts.escalated_at end
                returning alert_id
                """,
                {
                    "key": incident.key,
                    "rule": lead.rule,
                    "feed": lead.feed,
                    "reporter": reporter,
                    "report_date": lead.report_date,
                    "severity": incident.severity,
                    "title": title,
                    "body": lead.summary,
                    "as_of": as_of,
                    "root": lead.finding_key,
                    "first_seen_at": lead.first_seen_at,
                    "details": Jsonb(details),
                    "run_id": run_id,
                },
            ).fetchone()[0]
            with conn.cursor() as cursor:
                cursor.executemany(
                    "insert into dq.alert_findings (alert_id, finding_id, is_root_cause, attached_at)"
                    " values (%s, %s, %s, %s) on conflict (alert_id, finding_id) do nothing",
                    [
                        (alert_id, m.finding_id, incident.is_root_cause and m is lead, as_of)
                        for m in incident.members
                    ],
                )
        conn.execute(
            "update dq.alerts set status = 'resolved', resolved_at = %s, updated_at = %s"
            " where status = 'open' and not (root_cause_key = any(%s::text[]))",
            (as_of, as_of, list(incidents)),
        )
    return incidents


# --- notices -------------------------------------------------------------------------------------------------


def _alert_view(
    conn: psycopg.Connection, row: tuple, roster: DistrictRoster, manifest: dict | None, config: AlertConfig
) -> AlertView:
    (
        alert_id,
        status,
        rule,
        feed,
        reporter,
        report_date,
        severity,
        opened_at,
        first_seen_at,
        resolved_at,
        root_key,
        details,
        body,
    ) = row
    members = [
        Finding(*r)
        for r in conn.execute(
            f"select {_FINDING_COLUMNS} from dq.alert_findings as l join dq.findings as f using (finding_id)"
            " where l.alert_id = %s order by l.is_root_cause desc, f.first_seen_at, f.finding_id",
            (alert_id,),
        ).fetchall()
    ]
    lead = next((m for m in members if m.finding_key == root_key), members[0] if members else None)
    if lead is None:  # an alert from before incidents were linked to findings
        lead = Finding(
            root_key or "",
            feed,
            rule,
            reporter,
            report_date,
            severity,
            body,
            {},
            status,
            0,
            first_seen_at or opened_at,
        )
        members = [lead]
    details = details or {}
    links = details.get("links") or alert_links(
        config, feed, reporter, report_date, WATCHDOG_DAG_ID, None, None
    )
    return AlertView(
        alert_id=alert_id,
        status=status,
        rule=rule,
        feed=feed,
        reporter=reporter,
        report_date=report_date,
        severity=severity,
        opened_at=opened_at,
        first_seen_at=first_seen_at or lead.first_seen_at,
        resolved_at=resolved_at,
        lead=lead,
        members=members,
        impact=impact_of_feed(feed, manifest),
        links=links,
    )


def _due_kind(
    status: str,
    severity: str,
    opened_at: datetime,
    last_notified_at: datetime | None,
    notify_count: int,
    escalated_at: datetime | None,
    resolution_notified_at: datetime | None,
    as_of: datetime,
    suppression: timedelta,
    config: AlertConfig,
) -> tuple[str | None, bool]:
    """(notice kind due now or None, whether the incident is escalated after this notice), under the
    notification budget: open once, resolved once; escalated once (critical at once, others only past
    `config.escalate_after` when it is set); reminders only for `config.reminder_severities`."""
    long_open = config.escalate_after is not None and as_of - opened_at >= config.escalate_after
    should_escalate = severity == "critical" or long_open
    if status == "resolved":
        due = notify_count > 0 and resolution_notified_at is None
        return ("resolved" if due else None), escalated_at is not None
    if notify_count == 0:
        return "open", should_escalate
    if should_escalate and escalated_at is None:
        return "escalated", True
    reminds = severity in config.reminder_severities
    if reminds and (last_notified_at is None or last_notified_at + suppression <= as_of):
        return "reminder", escalated_at is not None
    return None, escalated_at is not None


def queue_notices(
    conn: psycopg.Connection,
    as_of: datetime,
    suppression: timedelta | None = None,
    *,
    config: AlertConfig | None = None,
    manifest: dict | None = None,
) -> list[Notice]:
    """Put the notices due at `as_of` into the outbox (dq.alert_notices); returns them."""
    ensure_alert_schema(conn)
    config = config or load_alert_config()
    suppression = config.suppression if suppression is None else suppression
    roster = load_district_roster()
    manifest = load_manifest() if manifest is None else manifest
    queued = []
    with conn.transaction():
        rows = conn.execute(
            "select alert_id, status, rule, feed, reporter, report_date, severity, opened_at, first_seen_at,"
            " resolved_at, root_finding_key, details, body, last_notified_at, notify_count, escalated_at,"
            " resolution_notified_at from dq.alerts"
            " where status = 'open' or (resolution_notified_at is null and notify_count > 0)"
            " order by alert_id for update"
        ).fetchall()
        for row in rows:
            view_row, (last, count, escalated_at, resolution_sent) = row[:13], row[13:]
            status, severity, opened_at = row[1], row[6], row[7]
            kind, is_escalated = _due_kind(
                status,
                severity,
                opened_at,
                last,
                count,
                escalated_at,
                resolution_sent,
                as_of,
                suppression,
                config,
            )
            if kind is None:
                continue
            view = _alert_view(conn, view_row, roster, manifest, config)
            notice = Notice(
                alert_id=view.alert_id,
                kind=kind,
                title=view.title(kind, roster, as_of),
                body=view.body(kind, roster, as_of),
                severity=severity,
                payload=view.payload(kind, roster, is_escalated),
                is_escalated=is_escalated,
            )
            notice_id = conn.execute(
                "insert into dq.alert_notices (alert_id, kind, title, body, payload, is_escalated, created_at)"
                " values (%s, %s, %s, %s, %s, %s, %s) returning notice_id",
                (
                    notice.alert_id,
                    kind,
                    notice.title,
                    notice.body,
                    Jsonb(notice.payload),
                    is_escalated,
                    as_of,
                ),
            ).fetchone()[0]
            if kind == "resolved":
                conn.execute(
                    "update dq.alerts set resolution_notified_at = %s where alert_id = %s",
                    (as_of, view.alert_id),
                )
            else:
                conn.execute(
                    "update dq.alerts set last_notified_at = %s, notify_count = notify_count + 1,"
                    " escalated_at = case when %s then coalesce(escalated_at, %s) else escalated_at end,"
                    " body = %s where alert_id = %s",
                    (as_of, is_escalated, as_of, notice.body, view.alert_id),
                )
            queued.append(Notice(**{**notice.__dict__, "notice_id": notice_id}))
    return queued


def undelivered_notices(conn: psycopg.Connection) -> list[tuple[Notice, str]]:
    """Every notice not yet accepted by all its channels, oldest first, with its alert's feed."""
    rows = conn.execute(
        "select n.notice_id, n.alert_id, n.kind, n.title, n.body, a.severity, n.payload, n.is_escalated, a.feed"
        " from dq.alert_notices as n join dq.alerts as a using (alert_id)"
        " where n.delivered_at is null order by n.notice_id"
    ).fetchall()
    return [
        (Notice(alert_id, kind, title, body, severity, payload, notice_id, is_escalated), feed)
        for notice_id, alert_id, kind, title, body, severity, payload, is_escalated, feed in rows
    ]


def pending_notices(conn: psycopg.Connection, as_of: datetime, suppression: timedelta) -> list[Notice]:
    """What must be sent now: the notices due at `as_of` (queued) plus any still undelivered from before."""
    queue_notices(conn, as_of, suppression)
    return [notice for notice, _ in undelivered_notices(conn)]
