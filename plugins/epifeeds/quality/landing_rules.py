"""What landing saw of each delivery: V1 and I1 from the rows it refused, C3 from how many rows came.

Every rejected row is a finding, with its reason and raw values.

Landing already decided (unknown reporter, negative or non-numeric count, future or wrong date,
a missing required field: V1; the same report twice in one delivery: I1). These checks make those
decisions visible as results and findings. Only the latest delivery of each day counts: when an
agency resends a corrected file, the earlier rejects stop being findings.
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta

import psycopg

from epifeeds.feeds.parsing import DUPLICATE_ROW_REASON, TRUNCATED_FILE_REASON
from epifeeds.quality.findings import Checked, judged, record_run, rows_of
from epifeeds.quality.results import CheckResult

SUITE = "landing_rejects"


def rule_of(reason: str) -> str:
    """I1 for a repeated row, C3 for a file cut short (a delivery problem, not a bad value), else V1."""
    if reason.startswith(DUPLICATE_ROW_REASON):
        return "I1"
    return "C3" if reason.startswith(TRUNCATED_FILE_REASON) else "V1"


def latest_delivery_rejects(conn: psycopg.Connection, feed: str, report_dates: list[date]) -> list[dict]:
    return rows_of(
        conn,
        """
        with latest_batches as (
            select distinct on (report_date, reporter) batch_id, report_date, reporter as delivery_reporter
            from landing.batches
            where feed = %s and report_date = any(%s) and status = 'landed'
            order by report_date, reporter, received_at desc, batch_id desc
        )
        select r.report_date, coalesce(r.reporter_id, r.reporter) as reporter, r.row_number, r.reason,
               r.raw_values, r.batch_id, b.delivery_reporter
        from landing.rejects as r
        join latest_batches as b using (batch_id)
        order by r.report_date, r.row_number
        """,
        (feed, report_dates),
    )


def check_rejects(
    conn: psycopg.Connection, feed: str, report_dates: list[date], run_id: str, as_of: datetime
) -> list[CheckResult]:
    """One failing result and finding per (rule, reporter, day) with rejected rows; a pass per clean day."""
    grouped: dict[tuple[str, str, date], list[dict]] = defaultdict(list)
    for reject in latest_delivery_rejects(conn, feed, report_dates):
        grouped[(rule_of(reject["reason"]), reject["reporter"], reject["report_date"])].append(reject)
    checked: Checked = []
    for (rule, reporter, day), rejects in sorted(grouped.items()):
        rows = [
            {"row": r["row_number"], "reason": r["reason"], "raw_values": r["raw_values"]} for r in rejects
        ]
        summary = f"{feed} from {reporter} for {day}: {len(rows)} row(s) rejected — " + "; ".join(
            f"row {r['row']}: {r['reason']}" for r in rows
        )
        details = {
            "batch_id": rejects[0]["batch_id"],
            "delivery_reporter": rejects[0]["delivery_reporter"],  # whose file (alerts group on it)
            "rows": rows,
        }
        checked.append(
            judged(
                "rows_accepted_by_landing", rule, feed, reporter, day,
                failed=True, severity="error", kind="rejected_rows", summary=summary, details=details,
                observed=rows, expected="no rejected rows",
            )
        )  # fmt: skip
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
    return record_run(conn, SUITE, feed, run_id, checked, as_of)


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


VOLUME_SUITE = "delivery_volume"
LOW_VOLUME_SHARE = float(os.environ.get("EPIFEEDS_LOW_VOLUME_PCT", "50")) / 100
TRAILING_DAYS = 7


def delivered_rows(
    conn: psycopg.Connection, feed: str, first: date, last: date
) -> dict[tuple[str, date], int]:
    """Rows read in the latest landed delivery of each reporter and report date. A quarantined delivery is
    not counted: it has its own C3 finding (kind `quarantined`, `landing/ingest_run.py`), and judging it
    empty too would make two findings of one cause. A feed pulled whole (the district API) has the one
    reporter '*'."""
    rows = conn.execute(
        """
        select distinct on (reporter, report_date) reporter, report_date, coalesce(rows_read, 0)
        from landing.batches
        where feed = %s and report_date between %s and %s and status = 'landed'
        order by reporter, report_date, received_at desc, batch_id desc
        """,
        (feed, first, last),
    )
    return {(reporter, day): count for reporter, day, count in rows.fetchall()}


def check_delivery_volume(
    conn: psycopg.Connection, feed: str, expected_dates: list[date], run_id: str, as_of: datetime
) -> list[CheckResult]:
    """C3 per reporter and day: an empty delivery (landed, no rows) on a day reports are expected is an
    error; one far below the reporter's trailing 7-day median is a warning. Only days on which the feed
    is expected (the calendar) are judged; a day with no delivery at all is C1's business."""
    if not expected_dates:
        return []
    first, last = min(expected_dates) - timedelta(days=TRAILING_DAYS), max(expected_dates)
    volumes = delivered_rows(conn, feed, first, last)
    checked: Checked = []
    for reporter, day in sorted(k for k in volumes if k[1] in set(expected_dates)):
        rows = volumes[(reporter, day)]
        earlier = (day - timedelta(days=n) for n in range(1, TRAILING_DAYS + 1))
        trailing = [volumes[(reporter, d)] for d in earlier if (reporter, d) in volumes]
        median = statistics.median(trailing) if len(trailing) >= 3 else None
        problems = {
            "empty": (
                "error",
                "an empty delivery (no data rows) on a day reports are expected" if rows == 0 else "",
            ),
            "low_volume": (
                "warn",
                f"{rows} rows, below {LOW_VOLUME_SHARE:.0%} of the trailing {TRAILING_DAYS}-day median {median:g}"
                if rows and median and rows < LOW_VOLUME_SHARE * median
                else "",
            ),
        }
        observed = {"rows": rows, "trailing_median": median}
        for kind, (severity, problem) in problems.items():
            summary = f"{feed} from {reporter} for {day}: {problem}; check the agency's export before trusting the day's figures"
            checked.append(
                judged(
                    f"delivery_volume({kind})", "C3", feed, reporter, day,
                    failed=bool(problem), severity=severity, kind=kind, summary=summary, details=observed,
                    observed=observed, expected={"min_share_of_median": LOW_VOLUME_SHARE},
                )
            )  # fmt: skip
    return record_run(conn, VOLUME_SUITE, feed, run_id, checked, as_of)
