"""dq.findings: what needs attention, one row per rule, reporter, day and kind of problem.

`Finding` is that row for both sides: a rule writes one (key to details), the alerts read open ones back
(with their id, status and first sighting). `judged` and `not_evaluable` turn a check's outcome into the
(result, finding) pair every rule returns; `record_run` stores a run of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from epifeeds.quality.completeness import finding_key
from epifeeds.quality.exceptions import apply_exceptions
from epifeeds.quality.results import CheckResult, status_counts, store_check_run

# The dq.findings columns a `Finding` holds, in its field order: `Finding(*row)` of a row selected so.
FINDING_COLUMNS = (
    "finding_key", "feed", "rule", "reporter", "report_date", "severity", "summary", "details", "status",
    "finding_id", "first_seen_at",
)  # fmt: skip


def list_findings(
    warehouse_dsn: str, date_from: date | None = None, date_to: date | None = None
) -> list[dict]:
    """Findings whose report date lies in the range (inclusive), newest day first, open before resolved."""
    with psycopg.connect(warehouse_dsn) as conn:
        if not conn.execute("select to_regclass('dq.findings') is not null").fetchone()[0]:
            return []
        return rows_of(
            conn,
            """
            select report_date, rule, feed, reporter, severity, status, summary, details,
                   first_seen_at, last_seen_at, resolved_at
            from dq.findings
            where (%(from)s::date is null or report_date >= %(from)s) and (%(to)s::date is null or report_date <= %(to)s)
            order by report_date desc, status = 'open' desc, rule, reporter
            """,
            {"from": date_from, "to": date_to},
        )


@dataclass(frozen=True)
class Finding:
    """One dq.findings row, in `FINDING_COLUMNS` order; a rule fills the fields up to `details`."""

    key: str  # the row's finding_key, `<rule>:<kind>:<feed>:<reporter>:<date>`
    feed: str
    rule: str
    reporter: str
    report_date: date
    severity: str
    summary: str
    details: dict[str, Any]
    status: str = "open"  # as stored: open | silenced | resolved
    finding_id: int = 0  # 0 until stored
    first_seen_at: datetime | None = None

    @property
    def finding_key(self) -> str:
        return self.key


Checked = list[tuple[CheckResult, Finding | None]]


def judged(
    check: str,
    rule: str,
    feed: str,
    reporter: str,
    day: date,
    *,
    failed: bool,
    severity: str,
    kind: str,
    summary: str,
    details: dict[str, Any],
    observed: Any,
    expected: Any,
) -> tuple[CheckResult, Finding]:
    """A check's result and its finding (key `rule:kind:feed:reporter:day`): opened or refreshed when the
    check failed, resolved when it passed."""
    status, shown = ("fail", severity) if failed else ("pass", "info")
    result = CheckResult(check, rule, feed, reporter, day, observed, expected, shown, status)
    key = finding_key(rule, kind, feed, reporter, day)
    return result, Finding(key, feed, rule, reporter, day, severity, summary, details)


def not_evaluable(
    check: str, rule: str, feed: str, reporter: str, day: date, *, reason: str, observed: dict, expected: Any
) -> tuple[CheckResult, None]:
    """A check one side of which is missing: stored as an info pass saying why, no finding opened or resolved."""
    observed = {"evaluable": False, "reason": reason, **observed}
    return CheckResult(check, rule, feed, reporter, day, observed, expected, "info", "pass"), None


def rows_of(conn: psycopg.Connection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """A query's rows as dicts by column name."""
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(sql, params).fetchall()


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


def record_run(
    conn: psycopg.Connection,
    suite: str,
    feed: str,
    run_id: str,
    checked: Checked,
    as_of: datetime,
    *,
    report_date: date | None = None,
    dates: list[date] | None = None,
    statistics: dict[str, Any] | None = None,
) -> list[CheckResult]:
    """Record a run's findings, then the run and its results (a pair that only resolves a finding is no
    result of the run). Given the report `dates` of a rule run, the run is of that date when there is one,
    and its statistics list the dates and count the outcomes and the findings, before any given ones."""
    opened, resolved = record_findings(conn, checked, as_of)
    results = [r for r, _ in checked if not (isinstance(r.observed, dict) and r.observed.get("resolved"))]
    if dates is not None:
        report_date = dates[0] if len(dates) == 1 else None
        statistics = {
            "report_dates": [d.isoformat() for d in dates],
            "results": status_counts(results),
            "findings_opened_or_refreshed": opened,
            "findings_resolved": resolved,
            **(statistics or {}),
        }
    store_check_run(
        conn,
        suite=suite,
        feed=feed,
        report_date=report_date,
        run_id=run_id,
        results=results,
        statistics=statistics,
    )
    return results
