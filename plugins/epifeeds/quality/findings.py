"""dq.findings: what needs attention, one row per rule, reporter, day and kind of problem."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from epifeeds.quality.exceptions import apply_exceptions
from epifeeds.quality.results import CheckResult


def list_findings(
    warehouse_dsn: str, date_from: date | None = None, date_to: date | None = None
) -> list[dict]:
    """Findings whose report date lies in the range (inclusive), newest day first, open before resolved."""
    with psycopg.connect(warehouse_dsn) as conn:
        if not conn.execute("select to_regclass('dq.findings') is not null").fetchone()[0]:
            return []
        cursor = conn.execute(
            """
            select report_date, rule, feed, reporter, severity, status, summary, details,
                   first_seen_at, last_seen_at, resolved_at
            from dq.findings
            where (%(from)s::date is null or report_date >= %(from)s) and (%(to)s::date is null or report_date <= %(to)s)
            order by report_date desc, status = 'open' desc, rule, reporter
            """,
            {"from": date_from, "to": date_to},
        )
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass(frozen=True)
class Finding:
    key: str
    feed: str
    rule: str
    reporter: str
    report_date: date
    severity: str
    summary: str
    details: dict[str, Any]


def record_findings(
    conn: psycopg.Connection, checked: list[tuple[CheckResult, Finding | None]], as_of: datetime
) -> tuple[int, int]:
    """Open or refresh a finding per failure, resolve the open ones whose check now passes; (opened, resolved)."""
    failing = [(r, f) for r, f in checked if f is not None and r.status == "fail"]
    passing = [f.key for r, f in checked if f is not None and r.status == "pass"]
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(
            """
            insert into dq.findings (finding_key, rule, feed, reporter, report_date, severity, summary, details,
                                     status, first_seen_at, last_seen_at)
            values (%s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s)
            on conflict (finding_key) do update
                set last_seen_at = greatest(dq.findings.last_seen_at, excluded.last_seen_at),
                    summary = excluded.summary,
                    details = excluded.details,
                    severity = excluded.severity,
                    status = case when dq.findings.status = 'silenced' then 'silenced' else 'open' end,
                    resolved_at = case when dq.findings.status = 'silenced' then dq.findings.resolved_at end
            """,
            [
                (
                    f.key,
                    f.rule,
                    f.feed,
                    f.reporter,
                    f.report_date,
                    f.severity,
                    f.summary,
                    Jsonb(f.details),
                    as_of,
                    as_of,
                )
                for _, f in failing
            ],
        )
        resolved = conn.execute(
            "update dq.findings set status = 'resolved', resolved_at = %s"
            " where finding_key = any(%s) and status in ('open', 'silenced')",
            (as_of, passing),
        ).rowcount
    apply_exceptions(conn)
    return len(failing), resolved


def group_findings(findings: list[dict]) -> list[dict]:
    """Findings of one rule, reporter and status, on any dates, as one group (order of first appearance).

    A missing district report on one day is one group; the city's R1 breaks on three days, one per
    measure, are one group of many findings. Each group keeps its findings for the details.
    """
    groups: dict[tuple[str, str, str, str], dict] = {}
    for finding in findings:
        key = (finding["status"], finding["rule"], finding["feed"], finding["reporter"])
        group = groups.setdefault(
            key,
            {
                "status": key[0],
                "rule": key[1],
                "feed": key[2],
                "reporter": key[3],
                "severity": finding["severity"],
                "report_dates": [],
                "findings": [],
            },
        )
        if finding["report_date"] not in group["report_dates"]:
            group["report_dates"].append(finding["report_date"])
        group["findings"].append(finding)
    for group in groups.values():
        group["report_dates"].sort()
    return list(groups.values())
