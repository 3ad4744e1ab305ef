"""Who had to report, and what had arrived: the roster and the registries against landing, for C1.

An `Expected` report is a reporter, a day and the calendar row it follows (for a file feed, the registry
members whose rows its file must hold); `Received` is what had arrived for it by the check's time.
Judging them is `quality/completeness.py`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import psycopg

from epifeeds.feeds.contracts import DISTRICT_REPORTS, HOTEL_REPORTS, TESTING_SITE_REPORTS
from epifeeds.feeds.names import DistrictRoster
from epifeeds.quality.reporting_calendar import (
    Deadline,
    deadline_of,
    load_reporting_calendar,
    report_dates_due,
)

DISTRICTS, SITES, HOTELS = DISTRICT_REPORTS.feed, TESTING_SITE_REPORTS.feed, HOTEL_REPORTS.feed
FILE_FEEDS = (SITES, HOTELS)
LEVEL_OF = {SITES: "district", HOTELS: "hotel"}  # a file feed's reporter, as the calendar's reporter_level


@dataclass(frozen=True)
class Expected:
    """One report the calendar expects: who, for which day, by when; for a file, which registry members."""

    feed: str
    reporter: str
    day: date
    deadline: Deadline
    district_id: str
    reporter_name: str = ""
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Received:
    """What had arrived for one expected report by `as_of`."""

    first_received_at: datetime | None = None
    latest_status: str | None = None
    files: int = 0
    delivered: frozenset[str] = field(default_factory=frozenset)  # registry members with a row


# When a reporter first delivered its report for a day. Timeliness is judged by when the agency
# submitted, not by when our pull happened to run. A report that arrived but was rejected (a bad value)
# was still delivered, when the row says it was submitted: its fault is V1's finding, not a missing or
# late report.
FIRST_DELIVERY_SQL = """
select min(delivered_at) from (
    select coalesce(r.submitted_at, b.received_at) as delivered_at
    from landing.district_reports as r
    join landing.batches as b on b.batch_id = r._batch_id
    where r.district_id = %(reporter)s and r.report_date = %(day)s and b.received_at <= %(as_of)s
    union all
    select case
        when j.raw_values ->> 'submitted_at' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}' then (j.raw_values ->> 'submitted_at')::timestamptz
        else b.received_at
    end
    from landing.rejects as j
    join landing.batches as b on b.batch_id = j.batch_id
    where j.reporter_id = %(reporter)s and j.claimed_report_date = %(day)s and j.report_date = %(day)s
        and b.received_at <= %(as_of)s
) as deliveries
"""


def expected_districts(roster: DistrictRoster, as_of: datetime, lookback_days: int) -> list[Expected]:
    """Every district and city on the roster, on each report date due at `as_of` by its city's row."""
    calendar = load_reporting_calendar()
    expected = []
    for district in roster.districts:
        deadline = deadline_of(calendar, DISTRICTS, roster, district.district_id, district.district_level)
        name = f"{district.district_name} ({district.district_id})"
        for day in report_dates_due(as_of, deadline, lookback_days):
            expected.append(
                Expected(DISTRICTS, district.district_id, day, deadline, district.district_id, name)
            )
    return expected


def districts_received(conn: psycopg.Connection, as_of: datetime) -> Callable[[Expected], Received]:
    def received(report: Expected) -> Received:
        params = {"reporter": report.reporter, "day": report.day, "as_of": as_of}
        return Received(conn.execute(FIRST_DELIVERY_SQL, params).fetchone()[0])

    return received


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


def registry_landed(conn: psycopg.Connection, feed: str) -> bool:
    table = "landing.testing_sites" if feed == SITES else "landing.isolation_hotels"
    return conn.execute(f"select exists (select from {table})").fetchone()[0]


def expected_files(
    conn: psycopg.Connection, feed: str, roster: DistrictRoster, as_of: datetime, lookback_days: int
) -> tuple[list[Expected], list[date]]:
    """The feed's expected reports on the dates due at `as_of` by each reporter's own calendar row, and
    every date due for any of the feed's rows."""
    calendar = {key: deadline for key, deadline in load_reporting_calendar().items() if key[0] == feed}
    due = {key: set(report_dates_due(as_of, deadline, lookback_days)) for key, deadline in calendar.items()}
    all_due = sorted(set().union(*due.values()))
    if not all_due:
        return [], []
    expected = []
    for (reporter, day), (district_id, members) in sorted(
        expected_reporters(conn, feed, all_due).items(), key=lambda item: (item[0][1], item[0][0])
    ):
        deadline = deadline_of(calendar, feed, roster, district_id, LEVEL_OF[feed])
        if day in due[(feed, deadline.jurisdiction_id, deadline.reporter_level)]:
            expected.append(Expected(feed, reporter, day, deadline, district_id, members=tuple(members)))
    return expected, all_due


def files_received(
    conn: psycopg.Connection, feed: str, report_dates: list[date], as_of: datetime
) -> Callable[[Expected], Received]:
    """What each (reporter, day) of a file feed had delivered by `as_of`: first arrival, latest status,
    how many files, and which registry members' rows they brought."""
    params = {"feed": feed, "dates": report_dates, "as_of": as_of}
    files = {(row[0], row[1]): row[2:] for row in conn.execute(DELIVERIES_SQL, params).fetchall()}
    delivered: dict[tuple[str, date], set[str]] = defaultdict(set)
    for reporter, day, member_id in conn.execute(DELIVERED_MEMBERS_SQL[feed], params).fetchall():
        delivered[(reporter, day)].add(member_id)

    def received(report: Expected) -> Received:
        first, latest, count = files.get((report.reporter, report.day), (None, None, 0))
        return Received(first, latest, count, frozenset(delivered[(report.reporter, report.day)]))

    return received
