"""The one history of check results (dq.check_runs, dq.check_results)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class CheckResult:
    check_name: str
    rule: str
    feed: str
    reporter: str | None
    report_date: date | None
    observed: Any
    expected: Any
    severity: str
    status: str  # pass | fail | silenced


def store_check_run(
    conn: psycopg.Connection,
    *,
    suite: str,
    feed: str,
    report_date: date | None,
    run_id: str,
    results: list[CheckResult],
    statistics: dict[str, Any] | None = None,
) -> int:
    """Record one run of a suite and each of its results; returns the check_run_id."""
    with conn.transaction():
        check_run_id = conn.execute(
            "insert into dq.check_runs (suite, feed, report_date, run_id, is_success, statistics)"
            " values (%s, %s, %s, %s, %s, %s) returning check_run_id",
            (
                suite,
                feed,
                report_date,
                run_id,
                all(r.status != "fail" for r in results),
                Jsonb(statistics or {}),
            ),
        ).fetchone()[0]
        with conn.cursor() as cursor:
            cursor.executemany(
                "insert into dq.check_results (check_run_id, check_name, rule, feed, reporter, report_date,"
                " observed, expected, severity, status, run_id) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        check_run_id,
                        r.check_name,
                        r.rule,
                        r.feed,
                        r.reporter,
                        r.report_date,
                        Jsonb(r.observed),
                        Jsonb(r.expected),
                        r.severity,
                        r.status,
                        run_id,
                    )
                    for r in results
                ],
            )
    return check_run_id


def status_counts(results: list[CheckResult]) -> dict[str, int]:
    """How many results per rule and outcome ("R1 fail", "R2 not evaluable", ...), for a run's statistics."""
    counts: dict[str, int] = {}
    for result in results:
        evaluable = not (isinstance(result.observed, dict) and result.observed.get("evaluable") is False)
        label = f"{result.rule} {result.status if evaluable else 'not evaluable'}"
        counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))
