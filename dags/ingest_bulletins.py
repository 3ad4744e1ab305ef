"""Ingest published city bulletins (疫情通报, the wide layout) from the file drop."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, get_current_context, task

from epifeeds.assets import LANDING_ASSETS, landing_asset
from epifeeds.dag_defaults import default_args
from epifeeds.schedules import INGEST_BULLETINS_CRON, cron_timetable

DOC = """
### Ingest published city bulletins

Each run, at 10:45 Asia/Shanghai (after the 10:00 publication of day D's bulletins), takes every CSV in
`bulletins/` of the file drop (`EPIFEEDS_FILE_DROP_URL`, any fsspec URL): a city's published series in
the wide layout (city columns plus `{区}_{measure}`), UTF-8, BOM or GBK. Each file is archived by
sha256; per report date its district reports land in `landing.district_reports` and every published
measure in `landing.bulletin_measures`, as versions; a file already taken changes nothing. A city not
yet on the roster is onboarded from the national roster. The same checks as `epifeeds import-bulletin`
follow (C3, V2, R1, H1; N1 for unpublished measures, I2/I5 on every cumulative/daily pair, C1 for the
series, rejects grouped per root cause), then alerts are grouped and delivered like the watchdog's.
Emits the `landing.district_reports` and `landing.bulletin_measures` Assets (build_warehouse follows).
"""


@dag(
    schedule=cron_timetable(INGEST_BULLETINS_CRON),
    catchup=False,
    doc_md=DOC,
    tags=["epifeeds", "ingest", "file_drop", "bulletins"],
    default_args=default_args(retry_delay=timedelta(minutes=2)),
)
def ingest_bulletins():
    @task(outlets=[LANDING_ASSETS["district_reports"], landing_asset("bulletin_measures")])
    def land_check_and_alert() -> list[dict]:
        from epifeeds.tasks import ingest_bulletins_for_run

        return ingest_bulletins_for_run(get_current_context()["run_id"])

    land_check_and_alert()


ingest_bulletins()
