"""Ingest district daily reports (区县日报) from the districts' JSON API."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, get_current_context, task

from epifeeds.assets import LANDING_ASSETS
from epifeeds.dag_defaults import default_args
from epifeeds.schedules import INGEST_DISTRICT_REPORTS_CRON, cron_timetable

DOC = """
### Ingest district daily reports

Each run, at 10:30 Asia/Shanghai (after the districts' 09:00 and the city's 10:00 deadlines), pulls
the previous day's reports (and the two days before, to
catch late and revised reports) from the district-report API (Airflow connection
`epifeeds_district_api`: an http connection whose password is the token). Every payload is
archived by sha256 and recorded in `landing.batches` before parsing; typed rows go to
`landing.district_reports` as versions, bad rows to `landing.rejects` with their reason. The
`landing.district_reports` Asset then triggers `build_warehouse`; the GX suite
`landing__district_reports` validates each changed day, and the platform's district rules (V1/I1
from rejects, V2, R1, I2, I5, H1) check every pulled day, into `dq.check_results` and `dq.findings`.
"""


@dag(
    schedule=cron_timetable(INGEST_DISTRICT_REPORTS_CRON),
    catchup=False,
    doc_md=DOC,
    tags=["epifeeds", "ingest", "district_reports"],
    default_args=default_args(retry_delay=timedelta(minutes=2)),
)
def ingest_district_reports():
    @task(outlets=[LANDING_ASSETS["district_reports"]])
    def land() -> list[dict]:
        from epifeeds.tasks import ingest_district_reports_for_run

        return ingest_district_reports_for_run(get_current_context()["data_interval_end"])

    @task
    def validate(deliveries: list[dict]) -> dict:
        from epifeeds.tasks import validate_district_reports

        context = get_current_context()
        return validate_district_reports(deliveries, context["run_id"], context["data_interval_end"])

    validate(land())


ingest_district_reports()
