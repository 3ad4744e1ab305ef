"""What a message about an incident says: its title, body and JSON payload, from the incident's members,
the registry's rule names and owners, and the dbt lineage's affected marts and dashboards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from epifeeds.alerts.grouping import DBT_NODE_KEYS
from epifeeds.alerts.lineage import Impact
from epifeeds.alerts.routing import AlertConfig
from epifeeds.feeds.names import DistrictRoster
from epifeeds.quality.findings import Finding
from epifeeds.quality.registry import RECONCILIATION_RULES, finding_kind, is_root_cause, rule_spec
from epifeeds.settings import REPORT_TIMEZONE

MAX_LISTED_FINDINGS = 20


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


def what_failed(lead: Finding, count: int) -> str:
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
    if finding_kind(lead.finding_key) == "quarantined":
        return (
            "the finding above says why the file was refused and names it (it is archived); ask the reporter "
            "to resend it, or, after a load error, let the next ingest run try it again; a delivery of the "
            "slice that lands resolves this alert."
        )
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
        what = what_failed(self.lead, len(open_findings))
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


def alert_links(
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
