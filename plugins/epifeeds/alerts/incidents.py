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
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.json import Jsonb

from epifeeds.alerts.grouping import (
    DBT_NODE_KEYS,
    Finding,
    Incident,
    group_findings,
    root_cause_key,
)
from epifeeds.alerts.lineage import Impact, impact_of_feed, load_manifest
from epifeeds.alerts.routing import AlertConfig, load_alert_config
from epifeeds.alerts.schema import ensure_alert_schema
from epifeeds.feeds.names import DistrictRoster, load_district_roster
from epifeeds.quality.registry import (
    ALERTING_SEVERITIES,
    RECONCILIATION_RULES,
    finding_kind,
    is_root_cause,
    rule_spec,
)
from epifeeds.settings import REPORT_TIMEZONE

__all__ = [
    "ALERTING_SEVERITIES",
    "DEFAULT_SUPPRESSION",
    "Finding",
    "Incident",
    "Notice",
    "group_findings",
    "pending_notices",
    "queue_notices",
    "root_cause_key",
    "sync_alerts",
    "undelivered_notices",
]

DEFAULT_SUPPRESSION = timedelta(hours=6)
WATCHDOG_DAG_ID = "feed_watchdog"
MAX_LISTED_FINDINGS = 20


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


# --- rendering -------------------------------------------------------------------------------------------


def _local(moment: datetime) -> str:
    return f"{moment.astimezone(ZoneInfo(REPORT_TIMEZONE)):%Y-%m-%d %H:%M %Z}"


def _duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    return (
        " ".join(f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n) or "0 min"
    )


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return _local(datetime.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


def numbers_of(details: dict, limit: int = 12) -> str:
    """The scalar values in a finding's details, flattened: 'city_value 12; district_sum 9; ...'."""
    items: list[str] = []

    def walk(name: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(key, inner)
        elif isinstance(value, list):
            items.append(
                f"{name} [{', '.join(_value(v) for v in value[:5])}{', …' if len(value) > 5 else ''}]"
            )
        elif name not in DBT_NODE_KEYS:
            items.append(f"{name} {_value(value)}")

    walk("", details or {})
    return "; ".join(items[:limit]) + ("; …" if len(items) > limit else "")


def reporter_name(roster: DistrictRoster, reporter: str) -> str:
    district = next((d for d in roster.districts if d.district_id == reporter), None)
    return district.district_name if district else reporter


def _what(lead: Finding, count: int) -> str:
    kind = finding_kind(lead.finding_key)
    if is_root_cause(lead.rule, lead.finding_key):
        return f"{lead.feed} for {lead.report_date} is " + ("missing" if kind == "missing" else f"{kind}")
    checks = f" ({count} checks)" if count > 1 else ""
    return f"{lead.rule} {rule_spec(lead.rule).name} failed for {lead.report_date}{checks}"


def _what_resolved(lead: Finding) -> str:
    if finding_kind(lead.finding_key) == "missing" and is_root_cause(lead.rule, lead.finding_key):
        return f"{lead.feed} for {lead.report_date} has arrived"
    return f"{lead.rule} {rule_spec(lead.rule).name} for {lead.report_date} is resolved"


def _what_to_do(lead: Finding) -> str:
    if is_root_cause(lead.rule, lead.finding_key):
        return (
            "contact the reporter; when the report arrives the next ingest run lands it and this alert "
            "resolves by itself (with a notice)."
        )
    if lead.rule in RECONCILIATION_RULES:
        return "compare the reports named above for the day; a corrected resubmission resolves this alert."
    return (
        "read the findings in dq.findings; once the data is corrected the next check run resolves this alert."
    )


@dataclass(frozen=True)
class AlertView:
    """Everything a message about one incident says; built from the database at render time."""

    alert_id: int
    status: str
    rule: str
    feed: str
    reporter: str
    report_date: date
    severity: str
    opened_at: datetime
    first_seen_at: datetime
    resolved_at: datetime | None
    lead: Finding
    members: list[Finding]
    impact: Impact
    links: dict[str, str]

    def title(self, kind: str, roster: DistrictRoster, as_of: datetime) -> str:
        name = reporter_name(roster, self.reporter)
        open_findings = [m for m in self.members if m.status == "open"] or self.members
        what = _what(self.lead, len(open_findings))
        if kind == "resolved":
            return f"[RESOLVED] {name}: {_what_resolved(self.lead)}"
        if kind == "reminder":
            return f"[{self.severity.upper()}] {name}: {what} (still open after {_duration(as_of - self.first_seen_at)})"
        if kind == "escalated":
            return f"[ESCALATED {self.severity.upper()}] {name}: {what} (open {_duration(as_of - self.first_seen_at)})"
        return f"[{self.severity.upper()}] {name}: {what}"

    def body(self, kind: str, roster: DistrictRoster, as_of: datetime) -> str:
        spec = rule_spec(self.lead.rule)
        name = reporter_name(roster, self.reporter)
        lines = [self.lead.summary]
        lines.append(
            f"Reporter: {name} ({self.reporter}) · report date {self.report_date} · feed {self.feed} · "
            f"rule {self.lead.rule} ({spec.name}; owner {spec.owner}) · severity {self.severity}"
        )
        if kind == "resolved" and self.resolved_at:
            lines.append(
                f"Resolved: {_local(self.resolved_at)}, after {_duration(self.resolved_at - self.first_seen_at)}"
                f" (first seen {_local(self.first_seen_at)})"
            )
        else:
            lines.append(
                f"Since: {_local(self.first_seen_at)} (open {_duration(as_of - self.first_seen_at)})"
            )
        numbers = numbers_of(self.lead.details)
        if numbers:
            lines.append(f"Numbers: {numbers}")
        others = [m for m in self.members if m.finding_id != self.lead.finding_id]
        if others:
            absorbed = any(m.rule != self.lead.rule or m.report_date != self.lead.report_date for m in others)
            header = "Explained by this root cause" if absorbed else "Also"
            lines.append(f"{header}: {len(others)} more failing check(s):")
            for member in others[:MAX_LISTED_FINDINGS]:
                detail = numbers_of(member.details, limit=6)
                state = "" if member.status == "open" else f" [{member.status}]"
                lines.append(
                    f"  - {member.rule} {reporter_name(roster, member.reporter)} ({member.reporter}){state}: "
                    f"{member.summary}" + (f" — {detail}" if detail else "")
                )
            if len(others) > MAX_LISTED_FINDINGS:
                lines.append(f"  - … and {len(others) - MAX_LISTED_FINDINGS} more (see dq.alert_findings)")
        lines.append(f"Affected: {self.impact.describe()}")
        if kind != "resolved":
            lines.append(f"What to do: {_what_to_do(self.lead)}")
        lines += [f"{label}: {url}" for label, url in self.links.items()]
        return "\n".join(lines)

    def payload(self, kind: str, roster: DistrictRoster, is_escalated: bool) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "kind": kind,
            "status": self.status,
            "rule": self.rule,
            "feed": self.feed,
            "reporter": self.reporter,
            "reporter_name": reporter_name(roster, self.reporter),
            "report_date": self.report_date.isoformat(),
            "severity": self.severity,
            "is_escalated": is_escalated,
            "first_seen_at": self.first_seen_at.isoformat(),
            "opened_at": self.opened_at.isoformat(),
            "findings": [
                {
                    "finding_key": m.finding_key,
                    "rule": m.rule,
                    "reporter": m.reporter,
                    "severity": m.severity,
                    "status": m.status,
                    "summary": m.summary,
                }
                for m in self.members[:MAX_LISTED_FINDINGS]
            ],
            "affected_marts": list(self.impact.marts),
            "affected_dashboards": list(self.impact.dashboards),
            "links": self.links,
        }


def _links(
    config: AlertConfig,
    feed: str,
    reporter: str,
    report_date: date,
    dag_id: str,
    run_id: str | None,
    extra: dict[str, str] | None,
) -> dict[str, str]:
    query = urlencode({"feed": feed, "reporter": reporter, "report_date": report_date.isoformat()})
    run = f"{config.airflow_url}/dags/{dag_id}" + (f"/runs/{quote(run_id, safe='')}" if run_id else "")
    return {"Feed health": f"{config.feed_health_url}?{query}", "Airflow run": run, **(extra or {})}


# --- syncing incidents -------------------------------------------------------------------------------------

_FINDING_COLUMNS = (
    "f.finding_id, f.finding_key, f.rule, f.feed, f.reporter, f.report_date, f.severity, f.summary,"
    " f.details, f.status, f.first_seen_at"
)


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
                "links": _links(config, lead.feed, reporter, lead.report_date, dag_id, run_id, links),
                "affected_marts": list(impact.marts),
                "affected_dashboards": list(impact.dashboards),
                "impact_note": impact.note,
                "explained_findings": len(incident.explained),
                "absorbed": [f"{m.rule} {m.reporter} {m.report_date}" for m in incident.absorbed],
            }
            name = reporter_name(roster, reporter)
            title = f"[{incident.severity.upper()}] {name}: {_what(lead, len(incident.members))}"
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
            0,
            root_key or "",
            rule,
            feed,
            reporter,
            report_date,
            severity,
            body,
            {},
            status,
            first_seen_at or opened_at,
        )
        members = [lead]
    details = details or {}
    links = details.get("links") or _links(config, feed, reporter, report_date, WATCHDOG_DAG_ID, None, None)
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
