"""Ingest isolation-hotel daily reports (隔离点日报) from the file drop."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, get_current_context, task

from epifeeds.assets import LANDING_ASSETS
from epifeeds.dag_defaults import default_args
from epifeeds.schedules import INGEST_ISOLATION_HOTELS_CRON, cron_timetable

DOC = """
### Ingest isolation-hotel daily reports

Each run, at 10:30 Asia/Shanghai on day D+1 (hotels' files for D arrive 07:00-08:30), takes the files
`hotel_reports/<hotel_id>/<date>.xlsx|json` for D and the three days before it
(`EPIFEEDS_FILE_DROP_LOOKBACK_DAYS`) from the file drop (`EPIFEEDS_FILE_DROP_URL`) that had arrived by
the run's data-interval end and were not taken before. Each file is archived and ledgered, then lands as
two slices: `landing.hotel_reports` (rooms, guests, check-ins, check-outs, staff; the XLSX merged
two-row header is read) and `landing.hotel_check_ins` (check-ins by source district, names resolved
through the district alias table). Hotels missing from the `isolation_hotels` registry are rejected with
their reason. Emits both Assets; the GX suites validate each changed day.
"""


@dag(
    schedule=cron_timetable(INGEST_ISOLATION_HOTELS_CRON),
    catchup=False,
    doc_md=DOC,
    tags=["epifeeds", "ingest", "file_drop", "hotel_reports"],
    default_args=default_args(retry_delay=timedelta(minutes=2)),
)
def ingest_isolation_hotels():
    @task(outlets=[LANDING_ASSETS["hotel_reports"], LANDING_ASSETS["hotel_check_ins"]])
    def land() -> dict:
        from epifeeds.tasks import ingest_isolation_hotels_for_run

        return ingest_isolation_hotels_for_run(get_current_context()["data_interval_end"])

    @task
    def validate(landed: dict) -> list[dict]:
        from epifeeds.tasks import validate_changed_slices

        context = get_current_context()
        run_id, run_time = context["run_id"], context["data_interval_end"]
        return validate_changed_slices(
            landed["deliveries"], run_id, run_time, feeds=("hotel_reports", "hotel_check_ins")
        )

    validate(land())


ingest_isolation_hotels()
