"""Ingest testing-site daily reports (采样点日报) from the file drop."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, get_current_context, task

from epifeeds.assets import LANDING_ASSETS
from epifeeds.dag_defaults import default_args
from epifeeds.schedules import INGEST_TESTING_SITES_CRON, cron_timetable

DOC = """
### Ingest testing-site daily reports

Each run, at 10:30 Asia/Shanghai on day D+1 (every district's file for D arrives by 05:30), takes the
files `testing_sites/<district>/<date>.csv|xlsx` for D and the three days before it
(`EPIFEEDS_FILE_DROP_LOOKBACK_DAYS`) from the file drop (`EPIFEEDS_FILE_DROP_URL`, any fsspec URL) that
had arrived by the run's data-interval end and were not taken before. Every file is archived by sha256
and recorded in `landing.batches` before parsing (GBK/UTF-8/BOM, header drift, full-width digits,
thousands separators, totals and blank rows are handled); rows land in `landing.testing_site_reports` as
versions, one transaction per district and day; rows naming a site missing from the `testing_sites`
registry (landed by `ingest_registries`) go to `landing.rejects` with their reason; an unreadable file is
quarantined. Emits the `landing.testing_site_reports` Asset; the GX suite validates each changed day.
"""


@dag(
    schedule=cron_timetable(INGEST_TESTING_SITES_CRON),
    catchup=False,
    doc_md=DOC,
    tags=["epifeeds", "ingest", "file_drop", "testing_site_reports"],
    default_args=default_args(retry_delay=timedelta(minutes=2)),
)
def ingest_testing_sites():
    @task(outlets=[LANDING_ASSETS["testing_site_reports"]])
    def land() -> dict:
        from epifeeds.tasks import ingest_testing_sites_for_run

        return ingest_testing_sites_for_run(get_current_context()["data_interval_end"])

    @task
    def validate(landed: dict) -> list[dict]:
        from epifeeds.tasks import validate_changed_slices

        context = get_current_context()
        run_id, run_time = context["run_id"], context["data_interval_end"]
        return validate_changed_slices(
            landed["deliveries"], run_id, run_time, feeds=("testing_site_reports",)
        )

    validate(land())


ingest_testing_sites()
