"""Rule C1 for every feed: each reporter the calendar expects delivered by its deadline. Absent data fires
no event, so this runs on the clock (the feed_watchdog DAG) against the reporting calendar
(`quality/reporting_calendar.py`) and who had to report: the district roster, or the registries.

- Districts (`district_reports`): every district and city on the roster, on the report dates its city's
  calendar row is active for (Beijing's published bulletins end on 2022-05-11; Taiyuan's feed is
  open-ended). Delivered when a row (or a rejected row: its fault is V1's) says it was submitted.
- Testing sites report through their district's office, one file per district and day: the reporter is
  the district (`C1:<kind>:testing_site_reports:<district_id>:<date>`), expected when it has a site
  active that day (`opened_on ≤ d < closed_on`, latest registry version). `missing` (error): no file by
  deadline + grace, or a file (empty, cut short, quarantined) without a row for some active site —
  `details.missing_site_ids` names them; a site whose row came but was rejected was delivered.
- Hotels report one file each: the reporter is the hotel (`C1:<kind>:hotel_reports:<hotel_id>:<date>`),
  expected while requisitioned (`requisitioned_from ≤ d < requisitioned_to`). `missing` (error): no
  report row for the day by deadline + grace (an unreadable file is noted in the details).

Every feed: `late` (warn) when the first delivery came after the deadline. A file's delivery time is its
arrival in the drop (`landing.batches.received_at`), not when an ingest run took it; a check at `as_of`
counts only what had arrived by then. Findings are opened, kept or resolved through `record_findings`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb

from epifeeds.feeds.names import DistrictRoster, load_district_roster
from epifeeds.quality.expected_reports import (
    DISTRICTS,
    FILE_FEEDS,
    SITES,
    Expected,
    Received,
    districts_received,
    expected_districts,
    expected_files,
    files_received,
    registry_landed,
)
from epifeeds.quality.reporting_calendar import (  # noqa: F401 - re-exported: the rules import them from here
    CalendarKey,
    Deadline,
    deadline_of,
    feed_expected_on,
    load_reporting_calendar,
    report_dates_due,
)
from epifeeds.quality.results import CheckResult, store_check_run

if TYPE_CHECKING:
    from epifeeds.quality.findings import Finding

Checked = list[tuple[CheckResult, "Finding | None"]]


def finding_key(rule: str, kind: str, feed: str, reporter: str, report_date: date) -> str:
    return f"{rule}:{kind}:{feed}:{reporter}:{report_date}"


def check_completeness(
    conn: psycopg.Connection, as_of: datetime, run_id: str, lookback_days: int = 3
) -> dict[str, list[CheckResult]]:
    """C1 for every feed at `as_of`: {feed: results}, each feed's run stored (suite `completeness`)."""
    roster = load_district_roster()
    return {
        DISTRICTS: check_district_completeness(conn, roster, as_of, run_id, lookback_days),
        **_by_feed(check_file_feed_completeness(conn, as_of, run_id, lookback_days, roster)),
    }


def _by_feed(results: list[CheckResult]) -> dict[str, list[CheckResult]]:
    grouped: dict[str, list[CheckResult]] = {feed: [] for feed in FILE_FEEDS}
    for result in results:
        grouped[result.feed].append(result)
    return grouped


def check_district_completeness(
    conn: psycopg.Connection, roster: DistrictRoster, as_of: datetime, run_id: str, lookback_days: int = 3
) -> list[CheckResult]:
    """C1 for the district feed: one result per reporter and due report date (only dates on which the
    reporter's jurisdiction is active); findings opened or resolved."""
    expected = expected_districts(roster, as_of, lookback_days)
    return _judge_and_record(conn, DISTRICTS, expected, districts_received(conn, as_of), as_of, run_id)


def check_file_feed_completeness(
    conn: psycopg.Connection,
    as_of: datetime,
    run_id: str,
    lookback_days: int = 3,
    roster: DistrictRoster | None = None,
) -> list[CheckResult]:
    """C1 for testing-site files (per district) and hotel reports (per hotel) on every report date due at
    `as_of` within the lookback; results stored (suite `completeness`), findings opened or resolved. A feed
    whose registry was never landed has nobody to expect and is skipped."""
    roster = roster or load_district_roster()
    results: list[CheckResult] = []
    for feed in FILE_FEEDS:
        if not registry_landed(conn, feed):
            continue
        expected, all_due = expected_files(conn, feed, roster, as_of, lookback_days)
        if all_due:
            received = files_received(conn, feed, all_due, as_of)
            results += _judge_and_record(conn, feed, expected, received, as_of, run_id, all_due)
    return results


# --- judging: the same for every feed ------------------------------------------------------------------


def _judge_and_record(
    conn: psycopg.Connection,
    feed: str,
    expected: list[Expected],
    received: Callable[[Expected], Received],
    as_of: datetime,
    run_id: str,
    report_dates: list[date] | None = None,
) -> list[CheckResult]:
    """Judge each expected report, open/keep/resolve its findings and store the feed's run."""
    from epifeeds.quality.findings import record_findings  # findings imports finding_key from here

    judge = _judge_district if feed == DISTRICTS else _judge_file
    results: list[CheckResult] = []
    checked: Checked = []
    for report in expected:
        stored, pairs = judge(report, received(report), as_of)
        results += stored
        checked += pairs
    checked = _settled_stay_settled(conn, checked, as_of, keep_silenced=feed == DISTRICTS)
    record_findings(conn, checked, as_of)
    statistics = None
    if report_dates is not None:
        statistics = {
            "report_dates": [d.isoformat() for d in report_dates],
            "missing": sum(r.status == "fail" and r.severity == "error" for r in results),
            "late": sum(r.status == "fail" and r.severity == "warn" for r in results),
        }
    store_check_run(
        conn,
        suite="completeness",
        feed=feed,
        report_date=None,
        run_id=run_id,
        results=results,
        statistics=statistics,
    )
    return results


def _settled_stay_settled(
    conn: psycopg.Connection, checked: Checked, as_of: datetime, *, keep_silenced: bool
) -> Checked:
    """C1 of every feed (districts, site files, hotel reports): a resolved finding stays resolved when an
    earlier check is run again (a backfill re-running the watchdog of a day whose report came later opens
    no alert, no 'open' then 'resolved' noise; only its summary and details are refreshed). With
    `keep_silenced` (districts, as they always were) a silenced one stays silenced when the report arrives;
    the file feeds' silenced findings resolve then, as before."""
    keys = [finding.key for _, finding in checked if finding is not None]
    if not keys:
        return checked
    settled = dict(
        conn.execute(
            "select finding_key, status from dq.findings where finding_key = any(%s) and status <> 'open'",
            (keys,),
        ).fetchall()
    )
    kept: Checked = []
    with conn.transaction():
        for result, finding in checked:
            status = settled.get(finding.key) if finding is not None else None
            if status == "resolved" and result.status == "fail":
                conn.execute(
                    "update dq.findings set last_seen_at = greatest(last_seen_at, %s), summary = %s, details = %s"
                    " where finding_key = %s",
                    (as_of, finding.summary, Jsonb(finding.details), finding.key),
                )
            elif not (keep_silenced and status == "silenced" and result.status == "pass"):
                kept.append((result, finding))
    return kept


def _pair(
    check: str,
    report: Expected,
    observed: dict,
    expected: dict,
    kind: str,
    failed: bool,
    summary: str,
    details: dict,
) -> tuple[CheckResult, Finding]:
    """A C1 check of one kind (`missing`: error, `late`: warn) and the finding it opens or resolves."""
    from epifeeds.quality.findings import Finding

    severity = "error" if kind == "missing" else "warn"
    result = CheckResult(
        check,
        "C1",
        report.feed,
        report.reporter,
        report.day,
        observed,
        expected,
        severity if failed else "info",
        "fail" if failed else "pass",
    )
    key = finding_key("C1", kind, report.feed, report.reporter, report.day)
    return result, Finding(key, report.feed, "C1", report.reporter, report.day, severity, summary, details)


def _late_summary(who: str, what: str, report: Expected, first_received: datetime) -> str:
    due_at = report.deadline.due_at(report.day)
    return (
        f"{who} delivered its {what} for {report.day} late: received "
        f"{first_received.astimezone(due_at.tzinfo):%Y-%m-%d %H:%M}, due {due_at:%H:%M %Z}"
    )


def _judge_district(report: Expected, got: Received, as_of: datetime) -> tuple[list[CheckResult], Checked]:
    """One result per district and day (error missing, warn late, info on time), as the feed-health view
    reads it; the 'missing' finding resolves once the report is there, late or not."""
    due_at, first = report.deadline.due_at(report.day), got.first_received_at
    observed = {"first_received_at": first.isoformat() if first else None}
    expected = {"due_at": due_at.isoformat(), "alert_after": report.deadline.alert_at(report.day).isoformat()}
    details = {"observed": observed, "expected": expected}
    who, what = report.reporter_name, "district report"
    missing = (
        f"{who} did not deliver its {what} for {report.day}: due {due_at:%Y-%m-%d %H:%M %Z},"
        f" nothing received by {as_of.astimezone(due_at.tzinfo):%Y-%m-%d %H:%M %Z}"
    )
    check = "report_delivered_by_deadline"
    pairs: Checked = [_pair(check, report, observed, expected, "missing", first is None, missing, details)]
    if first is not None:
        late = _late_summary(who, what, report, first)
        pairs.append(_pair(check, report, observed, expected, "late", first > due_at, late, details))
    failing = [result for result, _ in pairs if result.status == "fail"]
    return [failing[0] if failing else pairs[0][0]], pairs


def _judge_file(report: Expected, got: Received, as_of: datetime) -> tuple[list[CheckResult], Checked]:
    """Two results per reporter and day: delivered by the deadline (every member's row), and on time."""
    due_at, first = report.deadline.due_at(report.day), got.first_received_at
    missing = [m for m in report.members if m not in got.delivered]
    what = "testing-site file" if report.feed == SITES else "daily report"
    who = (
        f"district {report.reporter}"
        if report.feed == SITES
        else f"isolation hotel {report.reporter} ({report.district_id})"
    )
    observed = {
        "first_received_at": first.isoformat() if first else None,
        "files": got.files,
        "latest_file_status": got.latest_status,
        "expected": len(report.members),
        "delivered": len(report.members) - len(missing),
    }
    expected = {"due_at": due_at.isoformat(), "alert_after": report.deadline.alert_at(report.day).isoformat()}
    details: dict[str, Any] = {**observed, **expected, "district_id": report.district_id}
    if report.feed == SITES:
        details["missing_site_ids"] = missing
    summary = _file_missing_summary(who, what, report, got, missing, as_of)
    pairs: Checked = [
        _pair(
            "report_delivered_by_deadline",
            report,
            observed,
            expected,
            "missing",
            bool(missing),
            summary,
            details,
        )
    ]
    if first is not None:
        late_details = details | {"late_by_minutes": round((first - due_at).total_seconds() / 60)}
        late = _late_summary(who, what, report, first)
        pairs.append(
            _pair(
                "report_delivered_on_time",
                report,
                observed,
                expected,
                "late",
                first > due_at,
                late,
                late_details,
            )
        )
    return [result for result, _ in pairs], pairs


def _file_missing_summary(
    who: str, what: str, report: Expected, got: Received, missing: list[str], as_of: datetime
) -> str:
    due_at = report.deadline.due_at(report.day)
    if got.first_received_at is None:
        return (
            f"{who} did not deliver its {what} for {report.day}: due {due_at:%Y-%m-%d %H:%M %Z}, nothing received"
            f" by {as_of.astimezone(due_at.tzinfo):%Y-%m-%d %H:%M %Z}"
            + (f" ({len(report.members)} active sites)" if report.feed == SITES else "")
        )
    if report.feed == SITES:
        return (
            f"{who}'s {what} for {report.day} ({got.latest_status}) has no row for {len(missing)} of its"
            f" {len(report.members)} active sites ({', '.join(missing[:5])}{', …' if len(missing) > 5 else ''});"
            " ask the office to upload the whole file again"
        )
    return (
        f"{who} sent a {what} for {report.day} that could not be read ({got.latest_status}); ask for it again"
    )
