"""When the DAGs run, declared once: the DAG files and the CLI's backfill both read these."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from epifeeds.settings import REPORT_TIMEZONE

# Daily, after the districts' 09:00 and the city's 10:00 deadlines (reporting_calendar.csv).
INGEST_DISTRICT_REPORTS_CRON = "30 10 * * *"
# File-drop feeds: registries first (the report feeds check their sites and hotels against them), then the
# reports, after every file for day D has arrived (sites D+1 00:30-05:30, hotels D+1 07:00-08:30).
INGEST_REGISTRIES_CRON = "15 10 * * *"
INGEST_TESTING_SITES_CRON = "30 10 * * *"
INGEST_ISOLATION_HOTELS_CRON = "30 10 * * *"
# Published city bulletins for day D are out by 10:00 on D+1 (reporting_calendar.csv).
INGEST_BULLETINS_CRON = "45 10 * * *"
# Hourly: absent data fires no event, so completeness is checked on the clock.
FEED_WATCHDOG_CRON = "0 * * * *"
# The watchdog run the CLI's backfill makes for each report date: the first after every deadline + grace.
WATCHDOG_BACKFILL_LOCAL_TIME = time(11, 0)


def report_date_of_run(run_time: datetime) -> date:
    """A run on local day D+1 reports on day D (reports describe the previous day)."""
    return run_time.astimezone(ZoneInfo(REPORT_TIMEZONE)).date() - timedelta(days=1)


def report_dates_through(report_date: date, lookback_days: int) -> list[date]:
    """A run's report date and the `lookback_days` before it, oldest first, so late and revised reports land."""
    return [report_date - timedelta(days=offset) for offset in range(lookback_days, -1, -1)]


def cron_local_time(cron: str) -> time:
    """The local time of day of a daily cron expression ('M H * * *')."""
    minute, hour = cron.split()[:2]
    return time(int(hour), int(minute))


def cron_timetable(cron: str):
    from airflow.sdk import CronTriggerTimetable

    return CronTriggerTimetable(cron, timezone=REPORT_TIMEZONE)
