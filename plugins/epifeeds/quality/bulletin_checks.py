"""Judging an imported bulletin: N1 (unpublished measures), I2 and I5 on every cumulative/daily pair it
publishes, C1 for the published series, and its rejected rows grouped by root cause.

- N1: a measure the file does not publish for a reporter (blank, or all zeros while its counterpart
  moves; recorded as `is_published = false` at landing) is one info finding per reporter and measure
  for the file's window, and I2/I5 skip it: no daily error stream.
- I2/I5 read the latest version of every figure in landing.bulletin_measures. A decrease is I2's
  finding; the same pair's I5 that day is not raised as well (the decrease explains it). Day-to-day
  rules compare consecutive dates only: a missing date is C1's.
- C1: a date missing inside the city's imported series, and a series that stops before its reporting
  calendar's last date, are findings of the import itself (one per missing date for the city; the
  districts' absence that day follows from it).
- Rejects: an unknown column group (高新区) is one V1 finding naming the date range, not one per day; a
  date delivered twice is one I1 finding for the delivery, not one per row; any other rejected figure
  is one V1 finding per reporter and day.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import psycopg

from epifeeds.feeds.bulletin import BulletinImport
from epifeeds.feeds.bulletin_measures import BULLETIN_MEASURES, CUMULATIVE_OF
from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.names import DistrictRoster, load_district_roster
from epifeeds.feeds.parsing import DUPLICATE_ROW_REASON
from epifeeds.quality.completeness import load_reporting_calendar
from epifeeds.quality.district_history import cumulative_checks, cumulative_summary
from epifeeds.quality.findings import Checked, Finding, judged, record_run
from epifeeds.quality.results import CheckResult

SUITE = "bulletin_import"
MEASURES_FEED = BULLETIN_MEASURES.feed
DISTRICT_FEED = DISTRICT_REPORTS.feed


def _checked(
    rule: str,
    check: str,
    feed: str,
    reporter: str,
    day: date,
    *,
    details: dict[str, Any],
    kind: str | None = None,
    **outcome: Any,
) -> tuple[CheckResult, Finding]:
    """A bulletin check's pair: what it observed is its details; the finding kind defaults to the check."""
    return judged(
        check,
        rule,
        feed,
        reporter,
        day,
        kind=kind or check,
        details=details,
        observed=details,
        expected=None,
        **outcome,
    )


def latest_measures(
    conn: psycopg.Connection, reporters: list[str], first: date, last: date
) -> dict[tuple[str, str], dict[date, tuple[int | None, bool]]]:
    """(reporter, measure) → {date: (value, is_published)} from the latest version of each figure."""
    rows = conn.execute(
        "select reporter_id, measure, report_date, value, is_published from landing.bulletin_measures__current"
        " where reporter_id = any(%s) and report_date between %s and %s",
        (reporters, first, last),
    ).fetchall()
    series: dict[tuple[str, str], dict[date, tuple[int | None, bool]]] = defaultdict(dict)
    for reporter, measure, day, value, is_published in rows:
        series[(reporter, measure)][day] = (value, is_published)
    return series


def check_unpublished(series, dates: list[date], roster: DistrictRoster) -> Checked:
    """N1: one info finding per reporter and measure not published in the window."""
    checked: Checked = []
    for (reporter, measure), by_day in sorted(series.items()):
        window = sorted(d for d in by_day if d in set(dates))
        if not window or all(by_day[d][1] for d in window):
            continue
        values = {by_day[d][0] for d in window}
        how = "blank" if values == {None} else "all zeros while its counterpart moves"
        name = roster.by_id(reporter).district_name
        checked.append(
            _checked(
                "N1",
                f"not_published({measure})",
                MEASURES_FEED,
                reporter,
                window[0],
                failed=True,
                severity="info",
                summary=f"{name} ({reporter}) does not publish {measure} in {window[0]}..{window[-1]} ({how}):"
                " treated as not published, not as zero; the identity rules skip it",
                details={"measure": measure, "from": str(window[0]), "to": str(window[-1]), "how": how},
            )
        )
    return checked


def measure_pair_problems(series, reporter: str, day: date) -> tuple[dict, dict]:
    """(I2 decreases, I5 mismatches) of a reporter's published pairs on a day against the day before; a
    decrease explains the increment's mismatch, so that pair's I5 is not raised as well."""
    decreases, mismatches = {}, {}
    for cumulative, daily in CUMULATIVE_OF.items():
        today = series.get((reporter, cumulative), {}).get(day)
        before = series.get((reporter, cumulative), {}).get(day - timedelta(days=1))
        if today is None or before is None or not (today[1] and before[1]) or None in (today[0], before[0]):
            continue
        if today[0] < before[0]:
            decreases[cumulative] = {"previous": before[0], "current": today[0]}
            continue
        new = series.get((reporter, daily), {}).get(day)
        if new is not None and new[1] and new[0] is not None and today[0] - before[0] != new[0]:
            mismatches[cumulative] = {
                "previous": before[0],
                "current": today[0],
                daily: new[0],
                "difference": today[0] - before[0] - new[0],
            }
    return decreases, mismatches


def check_measure_pairs(series, dates: list[date], roster: DistrictRoster) -> Checked:
    """I2 and I5 per reporter and day over every published cumulative/daily pair."""
    checked: Checked = []
    for reporter in sorted({reporter for reporter, _ in series}):
        name = roster.by_id(reporter).district_name
        for day in dates:
            problems_of = measure_pair_problems(series, reporter, day)
            for rule, check, problems, what in cumulative_checks(*problems_of, "the daily figure"):
                checked.append(
                    _checked(
                        rule, check, MEASURES_FEED, reporter, day,
                        failed=bool(problems), severity="error",
                        summary=cumulative_summary(name, reporter, day, problems, what, "ask the publisher"),
                        details={"district_id": reporter, "district_name": name, "measures": problems},
                    )
                )  # fmt: skip
    return checked


def check_series_completeness(
    conn: psycopg.Connection, city_id: str, roster: DistrictRoster, dates: list[date]
) -> Checked:
    """C1 for the city's published series: every date between its first and last imported date, and up to
    the calendar's last date when the series stops before it."""
    members = [city_id, *(d.district_id for d in roster.districts_of(city_id))]
    present = {
        day
        for (day,) in conn.execute(
            "select distinct report_date from landing.district_reports__current where district_id = any(%s)",
            (members,),
        )
    }
    if not present:
        return []
    first, last = min(present), max(present)
    deadline = load_reporting_calendar().get((DISTRICT_FEED, city_id, "city"))
    expected_to = (
        deadline.active_to if deadline and deadline.active_to and deadline.active_to > last else last
    )
    name = roster.by_id(city_id).district_name
    checked: Checked = []
    day = first
    judged = set(dates) | {d for d in _days(first, expected_to) if d not in present}
    while day <= expected_to:
        if day in judged:  # the imported dates, and every missing one
            missing = day not in present
            beyond = day > last
            what = (
                f"the series stops at {last} but its reporting calendar runs to {expected_to}"
                if beyond
                else f"missing inside the imported series {first}..{last}"
            )
            checked.append(
                _checked(
                    "C1",
                    "published_series_complete",
                    DISTRICT_FEED,
                    city_id,
                    day,
                    failed=missing,
                    severity="error",
                    kind="missing",
                    summary=f"{name} ({city_id}) bulletin for {day} is missing: {what}; find the published"
                    " bulletin for that day and import it",
                    details={
                        "series_from": str(first),
                        "series_to": str(last),
                        "calendar_to": str(expected_to),
                    },
                )
            )
        day += timedelta(days=1)
    return checked


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def check_bulletin_rejects(conn: psycopg.Connection, imported: BulletinImport) -> Checked:
    """Rejected rows of the import, one finding per root cause (see the module docstring)."""
    rows = conn.execute(
        "select j.feed, j.report_date, coalesce(j.reporter_id, j.reporter), j.reason, j.row_number, j.batch_id"
        " from landing.rejects as j where j.batch_id = any(%s) order by j.report_date, j.row_number",
        (imported.batch_ids,),
    ).fetchall()
    unknown: dict[str, list[tuple]] = defaultdict(list)
    duplicated: dict[date, list[tuple]] = defaultdict(list)
    other: dict[tuple[str, str, date], list[tuple]] = defaultdict(list)
    for row in rows:
        feed, day, reporter, reason = row[:4]
        if reason.startswith(DUPLICATE_ROW_REASON):
            duplicated[day].append(row)
        elif reason.startswith("unknown district"):
            unknown[reporter].append(row)
        else:
            other[(feed, reporter, day)].append(row)
    city = imported.bulletin.layout.city
    checked: Checked = []
    for reporter, found in sorted(unknown.items()):
        days = sorted({r[1] for r in found})
        why = imported.bulletin.layout.unmatched_reporters.get(reporter, found[0][3])
        checked.append(
            _checked(
                "V1",
                "reporter_known",
                DISTRICT_FEED,
                reporter,
                days[0],
                failed=True,
                severity="error",
                kind="unknown_reporter",
                summary=f"{imported.file_name}: column group {reporter!r} on {len(days)} dates {days[0]}..{days[-1]}"
                f" is no district of {city.district_name}: {why}; its rows are in landing.rejects and the"
                " archived file. If it is a district, add the alias (epifeeds roster); otherwise ignore it",
                details={
                    "dates": [str(d) for d in days],
                    "rows": len(found),
                    "reason": why,
                    "city_id": city.district_id,
                },
            )
        )
    for day, found in sorted(duplicated.items()):
        lines = [str(row.line_number) for row in imported.bulletin.rows_for(day)]
        checked.append(
            _checked(
                "I1",
                "date_delivered_once",
                DISTRICT_FEED,
                city.district_id,
                day,
                failed=True,
                severity="error",
                kind="duplicate_delivery",
                summary=f"{imported.file_name}: {day} is in the file twice; the first row landed, the repeat's"
                f" {len(found)} figures are rejected. Remove the repeated row (lines: {', '.join(lines)})",
                details={"rows_rejected": len(found)},
            )
        )
    checked += _corrected(conn, imported, set(unknown), set(duplicated))
    for (feed, reporter, day), found in sorted(other.items()):
        checked.append(
            _checked(
                "V1",
                "rows_accepted_by_landing",
                feed,
                reporter,
                day,
                failed=True,
                severity="error",
                kind="rejected_rows",
                summary=f"{feed} from {reporter} for {day}: {len(found)} figure(s) rejected — "
                + "; ".join(r[3] for r in found),
                details={"reasons": [r[3] for r in found], "batch_id": found[0][5]},
            )
        )
    return checked


def _corrected(
    conn: psycopg.Connection, imported: BulletinImport, unknown: set[str], duplicated: set[date]
) -> Checked:
    """Passes for what a corrected file no longer has: a date no longer delivered twice, a column group
    that is gone (its open finding, from an earlier import of the city, resolves)."""
    city = imported.bulletin.layout.city.district_id
    dates = imported.bulletin.report_dates
    gone = conn.execute(
        "select reporter, report_date from dq.findings where rule = 'V1' and finding_key like %s"
        " and details->>'city_id' = %s and report_date between %s and %s and status = 'open'",
        ("V1:unknown_reporter:%", city, dates[0], dates[-1]),
    ).fetchall()
    passes = [
        ("V1", "reporter_known", "unknown_reporter", reporter, day)
        for reporter, day in gone
        if reporter not in unknown
    ]
    passes += [
        ("I1", "date_delivered_once", "duplicate_delivery", city, d) for d in dates if d not in duplicated
    ]
    return [
        _checked(
            rule,
            check,
            DISTRICT_FEED,
            reporter,
            day,
            failed=False,
            severity="error",
            kind=kind,
            summary="",
            details={},
        )
        for rule, check, kind, reporter, day in passes
    ]


def check_bulletin(
    conn: psycopg.Connection, imported: BulletinImport, run_id: str, as_of: datetime
) -> list[CheckResult]:
    """N1, I2/I5 on every pair, C1 for the series, grouped rejects; results stored, findings kept in step."""
    roster = load_district_roster()
    city_id = imported.bulletin.layout.city.district_id
    dates = imported.bulletin.report_dates
    reporters = [city_id, *(d.district_id for d in roster.districts_of(city_id))]
    series = latest_measures(conn, reporters, dates[0] - timedelta(days=1), dates[-1])
    checked = check_unpublished(series, dates, roster)
    checked += check_measure_pairs(series, dates, roster)
    checked += check_series_completeness(conn, city_id, roster, dates)
    checked += check_bulletin_rejects(conn, imported)
    statistics = {"file": imported.file_name, "city": city_id, "from": str(dates[0]), "to": str(dates[-1])}
    return record_run(conn, SUITE, MEASURES_FEED, run_id, checked, as_of, statistics=statistics)
