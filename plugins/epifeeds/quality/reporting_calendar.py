"""The reporting calendar (`dbt_project/seeds/reporting_calendar.csv`): when each feed's reporters are due.

One row per feed, jurisdiction (city) and reporter level: the first (and last) report date the feed is
expected for, the deadline (days after the report date, local time) and the grace before a missing
report alerts. Every feed's completeness (C1), freshness and volume checks read it from here; dbt reads
the same seed. A reporter follows its city's row for its level.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from epifeeds.feeds import names
from epifeeds.feeds.names import DistrictRoster
from epifeeds.settings import REPORT_TIMEZONE


@dataclass(frozen=True)
class Deadline:
    feed: str
    jurisdiction_id: str  # the city whose reporters this applies to
    reporter_level: str
    active_from: date  # the first report date this feed is expected for
    days_after: int
    local_time: time
    grace: timedelta
    active_to: date | None = None  # the last report date expected (inclusive); None = open-ended

    def is_active(self, report_date: date) -> bool:
        return self.active_from <= report_date and (self.active_to is None or report_date <= self.active_to)

    def due_at(self, report_date: date) -> datetime:
        local = datetime.combine(report_date + timedelta(days=self.days_after), self.local_time)
        return local.replace(tzinfo=ZoneInfo(REPORT_TIMEZONE))

    def alert_at(self, report_date: date) -> datetime:
        return self.due_at(report_date) + self.grace


CalendarKey = tuple[str, str, str]  # (feed, jurisdiction_id, reporter_level)


def load_reporting_calendar() -> dict[CalendarKey, Deadline]:
    # names.SEEDS_DIR read at call time: onboarding a city (and its tests) writes the seeds it points at.
    with (names.SEEDS_DIR / "reporting_calendar.csv").open(encoding="utf-8", newline="") as handle:
        return {
            (row["feed"], row["jurisdiction_id"], row["reporter_level"]): Deadline(
                feed=row["feed"],
                jurisdiction_id=row["jurisdiction_id"],
                reporter_level=row["reporter_level"],
                active_from=date.fromisoformat(row["active_from"]),
                active_to=date.fromisoformat(row["active_to"]) if row["active_to"].strip() else None,
                days_after=int(row["deadline_days_after_report_date"]),
                local_time=time.fromisoformat(row["deadline_local_time"]),
                grace=timedelta(minutes=int(row["grace_minutes"])),
            )
            for row in csv.DictReader(handle)
        }


def feed_expected_on(feed: str, report_date: date) -> bool:
    """Whether any jurisdiction expects this feed for the day (the calendar's active ranges)."""
    return any(d.feed == feed and d.is_active(report_date) for d in load_reporting_calendar().values())


def deadline_of(
    calendar: dict[CalendarKey, Deadline], feed: str, roster: DistrictRoster, district_id: str, level: str
) -> Deadline:
    """The calendar row a reporter follows: its city's row for its level (`district_id` is the reporter's
    district, or the district it belongs to)."""
    jurisdiction_id = roster.jurisdiction_of(district_id)
    try:
        return calendar[(feed, jurisdiction_id, level)]
    except KeyError:
        raise LookupError(
            f"a {feed} reporter of district {district_id} (city {jurisdiction_id}) is expected, but"
            f" reporting_calendar.csv has no row for feed {feed!r}, jurisdiction {jurisdiction_id}, level"
            f" {level!r}: add one (with active_from/active_to) to dbt_project/seeds/reporting_calendar.csv"
        ) from None


def report_dates_due(as_of: datetime, deadline: Deadline, lookback_days: int) -> list[date]:
    """Report dates whose deadline plus grace has passed at `as_of` and on which the reporter's
    jurisdiction is active, newest `lookback_days` of them."""
    local_today = as_of.astimezone(ZoneInfo(REPORT_TIMEZONE)).date()
    candidates = [local_today - timedelta(days=n) for n in range(lookback_days + deadline.days_after, -1, -1)]
    due = [day for day in candidates if deadline.alert_at(day) <= as_of and deadline.is_active(day)]
    return due[-lookback_days:]
