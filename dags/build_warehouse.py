"""Build the dbt warehouse whenever district reports land.

Everything dbt-specific (manifest, profile from the `epifeeds_warehouse` connection, Cosmos
configuration) lives in `epifeeds.warehouse`; this file only wires it to a schedule.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import AssetAny, dag

from epifeeds.assets import LANDING_ASSETS
from epifeeds.dag_defaults import default_args
from epifeeds.warehouse import dbt_task_group

DOC_MD = """
### build_warehouse

Runs the dbt project `epifeeds` (`dbt_project/`) through Cosmos, one task per seed, model and the
model's tests: seeds, then staging (latest version of each report), intermediate models, then the
marts BI reads.

**Triggered by** an update of any landing Asset (`landing.district_reports`, `landing.testing_site_reports`,
...; emitted by the ingest DAGs after they land a batch), not by the clock. Re-running is safe: every model is rebuilt from landing.

**If a test task fails**, the model it tests is built but its children are not: read the failing
test's log for the offending rows, fix the data (or the contract), then clear the task.
Source freshness is not checked here (historical replays would fail it): run
`dbt source freshness --project-dir dbt_project --profiles-dir dbt_project`.
"""


@dag(
    dag_id="build_warehouse",
    schedule=AssetAny(*LANDING_ASSETS.values()),
    start_date=datetime(2022, 3, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["epifeeds", "warehouse"],
    default_args=default_args(retry_delay=timedelta(minutes=1)),
)
def build_warehouse() -> None:
    dbt_task_group(group_id="dbt")


build_warehouse()
