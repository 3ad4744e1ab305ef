"""Ingest the testing-site and isolation-hotel registries (名录)."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, get_current_context, task

from epifeeds.assets import LANDING_ASSETS
from epifeeds.dag_defaults import default_args
from epifeeds.schedules import INGEST_REGISTRIES_CRON, cron_timetable

DOC = """
### Ingest registries

Each run, at 10:15 Asia/Shanghai (before `ingest_testing_sites` and `ingest_isolation_hotels`, which
check every reporting site and hotel against them), reads `testing_sites.json` and
`isolation_hotels.json` under `EPIFEEDS_REGISTRY_URL` (default: the `registries` folder next to the
file drop). A registry whose bytes were taken before is skipped; a new snapshot is archived by sha256,
ledgered in `landing.batches` (reporter `*`, the run's report date) and lands in `landing.testing_sites`
/ `landing.isolation_hotels`, where a site or hotel whose entry changed becomes a new `_version`.
Entries with an unknown district go to `landing.rejects`. Emits both Assets; GX validates the changes.
"""


@dag(
    schedule=cron_timetable(INGEST_REGISTRIES_CRON),
    catchup=False,
    doc_md=DOC,
    tags=["epifeeds", "ingest", "registries"],
    default_args=default_args(retry_delay=timedelta(minutes=2)),
)
def ingest_registries():
    @task(outlets=[LANDING_ASSETS["testing_sites"], LANDING_ASSETS["isolation_hotels"]])
    def land() -> list[dict]:
        from epifeeds.tasks import ingest_registries_for_run

        return ingest_registries_for_run(get_current_context()["data_interval_end"])

    @task
    def validate(deliveries: list[dict]) -> list[dict]:
        from epifeeds.tasks import validate_changed_slices

        return validate_changed_slices(deliveries, get_current_context()["run_id"])

    validate(land())


ingest_registries()
