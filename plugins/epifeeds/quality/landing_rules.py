"""V1 and I1 from what landing refused: every rejected row is a finding, with its reason and raw values.

Landing already decided (unknown reporter, negative or non-numeric count, future or wrong date,
a missing required field: V1; the same report twice in one delivery: I1). These checks make those
decisions visible as results and findings. Only the latest delivery of each day counts: when an
agency resends a corrected file, the earlier rejects stop being findings.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

import psycopg

from epifeeds.quality.completeness import finding_key
from epifeeds.quality.findings import Finding, record_findings
from epifeeds.quality.results import CheckResult, store_check_run

SUITE = "landing_rejects"
DUPLICATE_REASON_PREFIX = "duplicate record"


def rule_of(reason: str) -> str:
    return "I1" if reason.startswith(DUPLICATE_REASON_PREFIX) else "V1"


def latest_delivery_rejects(conn: psycopg.Connection, feed: str, report_dates: list[date]) -> list[dict]:
    cursor = conn.execute(
        """
        with latest_batches as (
            select distinct on (report_date, reporter) batch_id, report_date
            from landing.batches
            where feed = %s and report_date = any(%s) and status = 'landed'
            order by report_date, reporter, received_at desc, batch_id desc
        )
        select r.report_date, coalesce(r.reporter_id, r.reporter) as reporter, r.row_number, r.reason,
               r.raw_values, r.batch_id
        from landing.rejects as r
        join latest_batches as b using (batch_id)
        order by r.report_date, r.row_number
        """,
        (feed, report_dates),
    )
    names = [c.name for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def check_rejects(
    conn: psycopg.Connection, feed: str, report_dates: list[date], run_id: str, as_of: datetime
) -> list[CheckResult]:
    """One failing result and finding per (rule, reporter, day) with rejected rows; a pass per clean day."""
    grouped: dict[tuple[str, str, date], list[dict]] = defaultdict(list)
    for reject in latest_delivery_rejects(conn, feed, report_dates):
        grouped[(rule_of(reject["reason"]), reject["reporter"], reject["report_date"])].append(reject)
    checked: list[tuple[CheckResult, Finding | None]] = []
    for (rule, reporter, day), rejects in sorted(grouped.items()):
        rows = [
            {"row": r["row_number"], "reason": r["reason"], "raw_values": r["raw_values"]} for r in rejects
        ]
        result = CheckResult(
            "rows_accepted_by_landing", rule, feed, reporter, day, rows, "no rejected rows", "error", "fail"
        )
        finding = Finding(
            key=finding_key(rule, "rejected_rows", feed, reporter, day),
            feed=feed,
            rule=rule,
            reporter=reporter,
            report_date=day,
            severity="error",
            summary=f"{feed} from {reporter} for {day}: {len(rows)} row(s) rejected — "
            + "; ".join(f"row {r['row']}: {r['reason']}" for r in rows),
            details={"batch_id": rejects[0]["batch_id"], "rows": rows},
        )
        checked.append((result, finding))
    clean_days = sorted(set(report_dates) - {day for _, _, day in grouped})
    checked += [
        (
            CheckResult(
                "rows_accepted_by_landing", "V1", feed, None, day, [], "no rejected rows", "info", "pass"
            ),
            None,
        )
        for day in clean_days
    ]
    _resolve_corrected(conn, feed, report_dates, {f.key for _, f in checked if f}, as_of)
    record_findings(conn, checked, as_of)
    results = [r for r, _ in checked]
    store_check_run(conn, suite=SUITE, feed=feed, report_date=None, run_id=run_id, results=results)
    return results


def _resolve_corrected(
    conn: psycopg.Connection, feed: str, report_dates: list[date], still_failing: set[str], as_of: datetime
) -> None:
    """Reject findings on these days whose rows the latest delivery no longer rejects are resolved."""
    with conn.transaction():
        conn.execute(
            "update dq.findings set status = 'resolved', resolved_at = %s"
            " where feed = %s and report_date = any(%s) and finding_key like %s"
            " and status = 'open' and not (finding_key = any(%s))",
            (as_of, feed, report_dates, "%:rejected_rows:%", list(still_failing)),
        )
