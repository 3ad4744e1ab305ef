"""Rule C1 for the file-drop feeds: every testing site and isolation hotel the registries list as active
on a day has its figures delivered by the deadline. Run on the clock (the feed_watchdog DAG), like the
districts' C1 (`quality/completeness.py`), whose Deadline and due-date logic it shares.

- Testing sites report through their district's office, one file per district and day: the reporter is
  the district (`C1:<kind>:testing_site_reports:<district_id>:<date>`). Expected when the district has a
  site active that day (`opened_on ≤ d < closed_on`, latest registry version). `missing` (error): no
  file by deadline + grace, or a file (empty, cut short, quarantined) without a row for some active
  site — `details.missing_site_ids` names them; a site whose row came but was rejected was delivered
  (its fault is V1's). `late` (warn): the first file arrived after the deadline.
- Hotels report one file each: the reporter is the hotel (`C1:<kind>:hotel_reports:<hotel_id>:<date>`),
  expected while requisitioned (`requisitioned_from ≤ d < requisitioned_to`). `missing` (error): no
  report row for the day by deadline + grace (an unreadable file is noted in the details); `late` (warn).

A file's delivery time is its arrival in the drop (`landing.batches.received_at`), not when an ingest
run took it; a check at `as_of` counts only deliveries that had arrived by then. Deadlines follow the
reporting calendar (`dbt_project/seeds/reporting_calendar.csv`, per feed, city and reporter level) and
fall back to `DEFAULT_DEADLINES` below for a feed the calendar has no row for (the rows to add to the
calendar are in `CALENDAR_ROWS`). They fit the agencies' habits and the ingest schedule: district
offices upload site files D+1 00:30–05:30 (due 06:00), hotels D+1 07:00–08:30 (due 09:00); the file
ingests run at 10:30, so both alert from 11:00 (the watchdog's backfill time), once a file that had come
would have been landed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

import psycopg

from epifeeds.feeds.contracts import HOTEL_REPORTS, TESTING_SITE_REPORTS
from epifeeds.feeds.names import DistrictRoster, load_district_roster
from epifeeds.quality.completeness import (
    CalendarKey,
    Deadline,
    finding_key,
    load_reporting_calendar,
    report_dates_due,
)
from epifeeds.quality.findings import Finding, record_findings
from epifeeds.quality.results import CheckResult, store_check_run

SITES = TESTING_SITE_REPORTS.feed
HOTELS = HOTEL_REPORTS.feed
LEVEL_OF = {SITES: "district", HOTELS: "hotel"}  # who the reporter is, for the calendar's reporter_level
TAIYUAN = "140100"

DEFAULT_DEADLINES: dict[CalendarKey, Deadline] = {
    (SITES, TAIYUAN, "district"): Deadline(
        SITES, TAIYUAN, "district", date(2022, 3, 1), 1, time(6, 0), timedelta(minutes=300)
    ),
    (HOTELS, TAIYUAN, "hotel"): Deadline(
        HOTELS, TAIYUAN, "hotel", date(2022, 3, 1), 1, time(9, 0), timedelta(minutes=120)
    ),
}
# The same deadlines as rows of dbt_project/seeds/reporting_calendar.csv (which then takes precedence).
CALENDAR_ROWS = (
    'testing_site_reports,140100,district,2022-03-01,,1,06:00,300,"A Taiyuan district office uploads its'
    " testing-site file for day D by 06:00 Asia/Shanghai on D+1 (files come 00:30-05:30); missing is judged"
    ' from 11:00, after the 10:30 ingest"',
    'hotel_reports,140100,hotel,2022-03-01,,1,09:00,120,"A Taiyuan isolation hotel sends its daily report for'
    " day D by 09:00 Asia/Shanghai on D+1 (reports come 07:00-08:30); missing is judged from 11:00, after the"
    ' 10:30 ingest"',
)


def file_feed_deadlines() -> dict[CalendarKey, Deadline]:
    """The deadlines of the file feeds: the calendar's rows where it has them, else the defaults."""
    calendar = {k: v for k, v in load_reporting_calendar().items() if k[0] in LEVEL_OF}
    return DEFAULT_DEADLINES | calendar


REGISTRY_SQL = {
    SITES: """
        select site_id as member_id, district_id, opened_on as active_from, closed_on as active_to
        from landing.testing_sites__current
        order by site_id
    """,
    HOTELS: """
        select hotel_id as member_id, district_id, requisitioned_from as active_from,
            requisitioned_to as active_to
        from landing.isolation_hotels__current
        order by hotel_id
    """,
}

# First arrival of a file per (reporter, day), what it became, and which members' rows it brought: landed
# rows (any version) or rejected rows naming the member (a rejected row was delivered, it is V1's).
DELIVERIES_SQL = """
select reporter, report_date, min(received_at) as first_received_at,
    (array_agg(status order by received_at desc, batch_id desc))[1] as latest_status, count(*) as files
from landing.batches
where feed = %(feed)s and report_date = any(%(dates)s) and received_at <= %(as_of)s
group by reporter, report_date
"""
DELIVERED_MEMBERS_SQL = {
    SITES: """
        select r.district_id as reporter, r.report_date, r.site_id as member_id
        from landing.testing_site_reports as r
        join landing.batches as b on b.batch_id = r._batch_id
        where r.report_date = any(%(dates)s) and b.received_at <= %(as_of)s
        union
        select b.reporter, j.report_date, upper(j.reporter)
        from landing.rejects as j
        join landing.batches as b on b.batch_id = j.batch_id
        where j.feed = %(feed)s and j.report_date = any(%(dates)s) and b.received_at <= %(as_of)s
            and j.reporter <> b.reporter
    """,
    HOTELS: """
        select r.hotel_id as reporter, r.report_date, r.hotel_id as member_id
        from landing.hotel_reports as r
        join landing.batches as b on b.batch_id = r._batch_id
        where r.report_date = any(%(dates)s) and b.received_at <= %(as_of)s
        union
        select b.reporter, j.report_date, b.reporter
        from landing.rejects as j
        join landing.batches as b on b.batch_id = j.batch_id
        where j.feed = %(feed)s and j.report_date = any(%(dates)s) and b.received_at <= %(as_of)s
    """,
}


def expected_reporters(
    conn: psycopg.Connection, feed: str, report_dates: list[date]
) -> dict[tuple[str, date], tuple[str, list[str]]]:
    """(reporter, day) -> (its district, the registry members expected in its delivery): a district's
    active sites, or the hotel itself."""
    expected: dict[tuple[str, date], list[str]] = defaultdict(list)
    district_of: dict[str, str] = {}
    for member_id, district_id, active_from, active_to in conn.execute(REGISTRY_SQL[feed]).fetchall():
        reporter = district_id if feed == SITES else member_id
        district_of[reporter] = district_id
        for day in report_dates:
            if active_from <= day and (active_to is None or day < active_to):
                expected[(reporter, day)].append(member_id)
    return {key: (district_of[key[0]], sorted(members)) for key, members in expected.items()}


def _deadline_of(
    deadlines: dict[CalendarKey, Deadline], feed: str, roster: DistrictRoster, district_id: str
) -> Deadline:
    jurisdiction_id = roster.jurisdiction_of(district_id)
    try:
        return deadlines[(feed, jurisdiction_id, LEVEL_OF[feed])]
    except KeyError:
        raise LookupError(
            f"the {feed} registry lists a reporter of district {district_id} (city {jurisdiction_id}), but no deadline"
            f" is declared for feed {feed!r}, jurisdiction {jurisdiction_id}, level {LEVEL_OF[feed]!r}: add a row to"
            " dbt_project/seeds/reporting_calendar.csv"
        ) from None


def _registry_landed(conn: psycopg.Connection, feed: str) -> bool:
    table = "landing.testing_sites" if feed == SITES else "landing.isolation_hotels"
    return conn.execute(f"select exists (select from {table})").fetchone()[0]


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
    deadlines = file_feed_deadlines()
    results: list[CheckResult] = []
    for feed in (SITES, HOTELS):
        if not _registry_landed(conn, feed):
            continue
        due_by_deadline = {
            key: report_dates_due(as_of, deadline, lookback_days)
            for key, deadline in deadlines.items()
            if key[0] == feed
        }
        all_due = sorted({day for days in due_by_deadline.values() for day in days})
        if not all_due:
            continue
        expected = expected_reporters(conn, feed, all_due)
        params = {"feed": feed, "dates": all_due, "as_of": as_of}
        deliveries = {(row[0], row[1]): row[2:] for row in conn.execute(DELIVERIES_SQL, params).fetchall()}
        delivered: dict[tuple[str, date], set[str]] = defaultdict(set)
        for reporter, day, member_id in conn.execute(DELIVERED_MEMBERS_SQL[feed], params).fetchall():
            delivered[(reporter, day)].add(member_id)
        checked: list[tuple[CheckResult, Finding | None]] = []
        for (reporter, day), (district_id, members) in sorted(
            expected.items(), key=lambda item: (item[0][1], item[0][0])
        ):
            deadline = _deadline_of(deadlines, feed, roster, district_id)
            if day not in due_by_deadline[(feed, deadline.jurisdiction_id, deadline.reporter_level)]:
                continue
            checked += _judge(
                feed,
                reporter,
                district_id,
                day,
                members,
                deliveries.get((reporter, day)),
                delivered[(reporter, day)],
                deadline,
                as_of,
            )
        record_findings(conn, checked, as_of)
        feed_results = [result for result, _ in checked]
        store_check_run(
            conn,
            suite="completeness",
            feed=feed,
            report_date=None,
            run_id=run_id,
            results=feed_results,
            statistics={
                "report_dates": [d.isoformat() for d in all_due],
                "missing": sum(r.status == "fail" and r.severity == "error" for r in feed_results),
                "late": sum(r.status == "fail" and r.severity == "warn" for r in feed_results),
            },
        )
        results += feed_results
    return results


def _judge(
    feed: str,
    reporter: str,
    district_id: str,
    day: date,
    members: list[str],
    delivery: tuple[Any, ...] | None,
    delivered: set[str],
    deadline: Deadline,
    as_of: datetime,
) -> list[tuple[CheckResult, Finding | None]]:
    due_at, alert_at = deadline.due_at(day), deadline.alert_at(day)
    tz = due_at.tzinfo
    first_received, latest_status, files = delivery if delivery else (None, None, 0)
    missing = [m for m in members if m not in delivered]
    what = "testing-site file" if feed == SITES else "daily report"
    who = f"district {reporter}" if feed == SITES else f"isolation hotel {reporter} ({district_id})"
    observed = {
        "first_received_at": first_received.isoformat() if first_received else None,
        "files": files,
        "latest_file_status": latest_status,
        "expected": len(members),
        "delivered": len(members) - len(missing),
    }
    expected = {"due_at": due_at.isoformat(), "alert_after": alert_at.isoformat()}
    details = {**observed, **expected, "district_id": district_id}
    if feed == SITES:
        details["missing_site_ids"] = missing
    if first_received is None:
        summary = (
            f"{who} did not deliver its {what} for {day}: due {due_at:%Y-%m-%d %H:%M %Z}, nothing received by "
            f"{as_of.astimezone(tz):%Y-%m-%d %H:%M %Z}"
            + (f" ({len(members)} active sites)" if feed == SITES else "")
        )
    elif feed == SITES:
        summary = (
            f"{who}'s {what} for {day} ({latest_status}) has no row for {len(missing)} of its {len(members)} active"
            f" sites ({', '.join(missing[:5])}{', …' if len(missing) > 5 else ''}); ask the office to upload the"
            " whole file again"
        )
    else:
        summary = f"{who} sent a {what} for {day} that could not be read ({latest_status}); ask for it again"
    pairs: list[tuple[CheckResult, Finding | None]] = []
    is_missing = bool(missing)
    pairs.append(
        (
            CheckResult(
                "report_delivered_by_deadline",
                "C1",
                feed,
                reporter,
                day,
                observed,
                expected,
                "error" if is_missing else "info",
                "fail" if is_missing else "pass",
            ),
            Finding(
                finding_key("C1", "missing", feed, reporter, day),
                feed,
                "C1",
                reporter,
                day,
                "error",
                summary,
                details,
            ),
        )
    )
    if first_received is not None:
        is_late = first_received > due_at
        late_summary = (
            f"{who} delivered its {what} for {day} late: received "
            f"{first_received.astimezone(tz):%Y-%m-%d %H:%M}, due {due_at:%H:%M %Z}"
        )
        pairs.append(
            (
                CheckResult(
                    "report_delivered_on_time",
                    "C1",
                    feed,
                    reporter,
                    day,
                    observed,
                    expected,
                    "warn" if is_late else "info",
                    "fail" if is_late else "pass",
                ),
                Finding(
                    finding_key("C1", "late", feed, reporter, day),
                    feed,
                    "C1",
                    reporter,
                    day,
                    "warn",
                    late_summary,
                    details | {"late_by_minutes": round((first_received - due_at).total_seconds() / 60)},
                ),
            )
        )
    return pairs
