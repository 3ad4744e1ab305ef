"""Build the dbt warehouse whenever any landing table changes.

Everything dbt-specific (the in-process `dbt build`, its profile from the `epifeeds_warehouse`
connection, per-node results) lives in `epifeeds.dbt_operator` and `epifeeds.dbt_results`; this file
only wires it to a schedule. Nothing heavy is imported at parse time (dbt, GX and psycopg load in the tasks).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import AssetAny, dag, get_current_context, task

from epifeeds.assets import LANDING_ASSETS
from epifeeds.dag_defaults import default_args
from epifeeds.dbt_operator import DbtRunnerBuildOperator

DOC_MD = """
### build_warehouse

Runs the dbt project `epifeeds` (`dbt_project/`) as **one `dbt build` task** (dbt in the task's process):
seeds, snapshots, staging (latest version of each report), intermediate models, then the marts BI
reads, each model's tests right after it, gating its children. One task, because every dbt start-up
costs ~2.8 s: one task per model took ~5x the build itself (`docs/performance.md`).

**Per model:** the `dbt_build` task log lists every node (status, seconds, rows, failures; problems
first) and, for each failing test, the first rows it returned; the same is in the task's XCom
`dbt_nodes`, and every test's outcome (with those rows) is in `dq.check_results` (`rule` = the test's
`meta.rule`, else `dbt`; `run_id` = dbt's invocation id, printed in the log).

**Triggered by** an update of any landing Asset (`landing.district_reports`, `landing.testing_site_reports`,
...; emitted by the ingest DAGs after they land a batch), not by the clock. Re-running is safe: models
are rebuilt from landing, `fct_testing_site_daily` is incremental with a lookback (late and revised
rows are redone), and the registry snapshots only record real changes.

**If `dbt_build` fails**, everything not downstream of the failing node is built; read the log's first
lines for the failing node and its rows, fix the data (or the contract), then clear the task.
Source freshness is not checked here (historical replays would fail it): run
`dbt source freshness --project-dir dbt_project --profiles-dir dbt_project`.

**validate_marts** runs after dbt: the GX checkpoint `marts` (`expectations/checkpoints/marts.json`, one
reviewed suite per mart). Every expectation's result goes to `dq.check_results`; a failed expectation
does not fail the task: read it there or in the Data Docs (`epifeeds gx-docs`).
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

    DbtRunnerBuildOperator(task_id="dbt_build") >> validate_marts()


build_warehouse()
