"""Watch for reports that never came, and alert once per root cause."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, get_current_context, task

from epifeeds.dag_defaults import default_args
from epifeeds.schedules import FEED_WATCHDOG_CRON, cron_timetable

DOC = """
### Feed watchdog

Absent data fires no Asset event, so this DAG runs on the clock (hourly, Asia/Shanghai). Each run
checks rule C1 for every feed against the reporting calendar (`dbt_project/seeds/reporting_calendar.csv`):
every district and city on the roster, every district's testing-site file and every requisitioned
hotel's report (per the registries); then C2 freshness. A report not landed by its deadline plus grace
opens a finding and one alert; a late report is a warning; an alert resolves (with a notice) when the
data lands. Alerts go to `EPIFEEDS_ALERT_WEBHOOK_URL`.
"""


@dag(
    schedule=cron_timetable(FEED_WATCHDOG_CRON),
    catchup=False,
    doc_md=DOC,
    tags=["epifeeds", "quality", "alerts"],
    default_args=default_args(retry_delay=timedelta(minutes=1)),
)
def feed_watchdog():
    @task
    def check_completeness_and_alert() -> dict:
        from epifeeds.tasks import watch_feeds

        context = get_current_context()
        return watch_feeds(context["data_interval_end"], context["run_id"])

    check_completeness_and_alert()


feed_watchdog()
