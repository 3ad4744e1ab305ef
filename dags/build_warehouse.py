"""Build the dbt warehouse whenever district reports land.

Everything dbt-specific (manifest, profile from the `epifeeds_warehouse` connection, Cosmos
configuration) lives in `epifeeds.warehouse`; this file only wires it to a schedule.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import AssetAny, dag, get_current_context, task

from epifeeds.assets import LANDING_ASSETS
from epifeeds.dag_defaults import default_args
from epifeeds.warehouse import dbt_task_group

DOC_MD = """
### build_warehouse

Runs the dbt project `epifeeds` (`dbt_project/`) through Cosmos, one task per seed, model and the
model's tests: seeds, then staging (latest version of each report), intermediate models, then the
marts BI reads.

**Triggered by** an update of any landing Asset (`landing.district_reports`, `landing.testing_site_reports`,
...; emitted by the ingest DAGs after they land a batch), not by the clock. Re-running is safe: models
are rebuilt from landing, `fct_testing_site_daily` is incremental with a lookback (late and revised
rows are redone), and the registry snapshots only record real changes.

**If a test task fails**, the model it tests is built but its children are not: read the failing
test's log for the offending rows, fix the data (or the contract), then clear the task.
Source freshness is not checked here (historical replays would fail it): run
`dbt source freshness --project-dir dbt_project --profiles-dir dbt_project`.

**validate_marts** runs after the dbt group: the GX checkpoint `marts` (`expectations/checkpoints/marts.json`,
one reviewed suite per mart, `marts__<table>`). Every expectation's result goes to `dq.check_results`;
a failed expectation does not fail the task: read it there or in the Data Docs (`epifeeds gx-docs`).
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
    @task
    def validate_marts() -> dict:
        from epifeeds.quality.gx_runner import validate_marts as run_marts_checkpoint
        from epifeeds.tasks import warehouse_dsn

        return run_marts_checkpoint(warehouse_dsn(), get_current_context()["run_id"])

    dbt_task_group(group_id="dbt") >> validate_marts()


build_warehouse()
