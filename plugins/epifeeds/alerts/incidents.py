"""Turning open findings into alerts (one per root cause) and closing alerts whose findings resolved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from epifeeds.feeds.names import load_district_roster

ALERTING_SEVERITIES = ("error", "critical")
# What each feed feeds, so a message can say which marts and dashboards a gap affects.
AFFECTED_BY_FEED = {"district_reports": ["marts.fct_district_daily", "dashboard: District daily situation"]}
DEFAULT_SUPPRESSION = timedelta(hours=6)


@dataclass(frozen=True)
class Notice:
    alert_id: int
    kind: str  # open | reminder | resolved
    title: str
    body: str
    severity: str
    payload: dict


def root_cause_key(rule: str, feed: str, reporter: str, report_date: object) -> str:
    return f"{rule}:{feed}:{reporter}:{report_date}"


def sync_alerts(conn: psycopg.Connection, as_of: datetime, links: dict[str, str] | None = None) -> None:
    """Open an alert per root cause of open alerting findings; resolve alerts with no open finding left."""
    roster = load_district_roster()
    with conn.transaction():
        findings = conn.execute(
            "select rule, feed, reporter, report_date, severity, summary, first_seen_at from dq.findings"
            " where status = 'open' and severity = any(%s) order by first_seen_at",
            (list(ALERTING_SEVERITIES),),
        ).fetchall()
        open_keys = set()
        for rule, feed, reporter, report_date, severity, summary, first_seen_at in findings:
            key = root_cause_key(rule, feed, reporter, report_date)
            open_keys.add(key)
            name = roster.by_id(reporter).district_name if reporter in roster.aliases.values() else reporter
            title = f"[{severity.upper()}] {name}: {feed} for {report_date} is missing"
            body = "\n".join(
                [
                    summary,
                    f"Missing since: {first_seen_at.isoformat()}",
                    f"Affected: {', '.join(AFFECTED_BY_FEED.get(feed, [feed]))}",
                    "What to do: contact the reporter; when the report arrives the next ingest run lands it "
                    "and this alert resolves by itself.",
                    *[f"{label}: {url}" for label, url in (links or {}).items()],
                ]
            )
            conn.execute(
                """
                insert into dq.alerts (root_cause_key, rule, feed, reporter, report_date, severity, title, body,
                                       status, opened_at)
                values (%s, %s, %s, %s, %s, %s, %s, %s, 'open', %s)
                on conflict (root_cause_key) do update
                    set status = 'open', resolved_at = null, resolution_notified_at = null,
                        body = excluded.body
                    where dq.alerts.status = 'resolved'
                """,
                (key, rule, feed, reporter, report_date, severity, title, body, as_of),
            )
        for alert_id, key in conn.execute(
            "select alert_id, root_cause_key from dq.alerts where status = 'open'"
        ):
            if key not in open_keys:
                conn.execute(
                    "update dq.alerts set status = 'resolved', resolved_at = %s where alert_id = %s",
                    (as_of, alert_id),
                )


def pending_notices(conn: psycopg.Connection, as_of: datetime, suppression: timedelta) -> list[Notice]:
    """What must be sent now: new alerts, reminders past the suppression interval, resolutions."""
    notices = []
    rows = conn.execute(
        "select alert_id, status, title, body, severity, rule, feed, reporter, report_date, last_notified_at,"
        " resolution_notified_at, notify_count from dq.alerts order by alert_id"
    ).fetchall()
    for (
        alert_id,
        status,
        title,
        body,
        severity,
        rule,
        feed,
        reporter,
        report_date,
        last,
        resolved_sent,
        count,
    ) in rows:
        payload = {
            "alert_id": alert_id,
            "rule": rule,
            "feed": feed,
            "reporter": reporter,
            "report_date": report_date.isoformat(),
            "severity": severity,
        }
        if status == "open" and (last is None or last + suppression <= as_of):
            kind = "open" if count == 0 else "reminder"
            notices.append(
                Notice(alert_id, kind, title, body, severity, payload | {"kind": kind, "status": status})
            )
        elif status == "resolved" and resolved_sent is None and count > 0:
            resolved_title = title.replace("is missing", "has arrived").replace(
                f"[{severity.upper()}]", "[RESOLVED]"
            )
            notices.append(
                Notice(alert_id, "resolved", resolved_title, body, severity, payload | {"kind": "resolved"})
            )
    return notices
