"""Scheduling semantics under a real Airflow scheduler: the local platform's api-server, dag-processor and
scheduler (LocalExecutor) as processes, started once for this module (tests/integration/scheduler_platform.py),
with their own metadata database (created, migrated, dropped), ports and state folder.

The DAG folder holds the real `ingest_district_reports` DAG (pulling from the simulator over HTTP) and
light stand-ins: `build_warehouse` with the real DAG's id, Asset schedule (any landing Asset) and
`max_active_runs=1`, but a sleep instead of dbt (test_scheduler_warehouse.py runs the real one); a DAG that
emits a landing Asset; a task that hangs past its `execution_timeout`. Every DAG gets the platform's
`default_args()` (owner, retries, the failure notifier).
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from datetime import UTC, date, datetime
from datetime import time as clock_time

import psycopg
import pytest

from epifeeds.orchestration import run_time_for
from epifeeds.settings import DAGS_DIR
from epifeeds_sim.generate import generate
from tests.integration.scheduler_platform import AIRFLOW, Platform, finished_run, scheduler_platform, wait_for

pytestmark = pytest.mark.integration

BUILD_SECONDS = 8

LIGHT_DAGS = textwrap.dedent(
    f'''
    """Light stand-ins for the scheduler tests (see tests/integration/test_scheduler.py)."""
    import time
    from datetime import datetime, timedelta

    from airflow.sdk import AssetAny, dag, task

    from epifeeds.assets import LANDING_ASSETS
    from epifeeds.dag_defaults import default_args


    @dag(
        dag_id="build_warehouse",
        schedule=AssetAny(*LANDING_ASSETS.values()),
        start_date=datetime(2022, 3, 1),
        catchup=False,
        max_active_runs=1,
        tags=["epifeeds", "test"],
        default_args=default_args(retry_delay=timedelta(seconds=1)),
    )
    def build_warehouse():
        @task
        def dbt_build():
            time.sleep({BUILD_SECONDS})

        dbt_build()


    @dag(schedule=None, start_date=datetime(2022, 3, 1), catchup=False, tags=["epifeeds", "test"],
         default_args=default_args(retry_delay=timedelta(seconds=1)))
    def emit_testing_sites():
        @task(outlets=[LANDING_ASSETS["testing_site_reports"]])
        def land():
            return "landed"

        land()


    @dag(schedule=None, start_date=datetime(2022, 3, 1), catchup=False, tags=["epifeeds", "test"],
         default_args=default_args(retry_delay=timedelta(seconds=1)) | {{"retries": 1}})
    def hang_probe():
        @task(execution_timeout=timedelta(seconds=3))
        def pull_hanging_api():
            time.sleep(300)

        pull_hanging_api()


    build_warehouse()
    emit_testing_sites()
    hang_probe()
    '''
)
TEST_DAGS = ("ingest_district_reports", "build_warehouse", "emit_testing_sites", "hang_probe")


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Iterator[Platform]:
    tmp = tmp_path_factory.mktemp("scheduler")
    dags = tmp / "dags"
    dags.mkdir()
    shutil.copy(DAGS_DIR / "ingest_district_reports.py", dags)
    (dags / "light_dags.py").write_text(LIGHT_DAGS, encoding="utf-8")
    generate(
        tmp / "sim",
        days=3,
        seed=7,
        start=date(2022, 3, 1),
        faults="none",
        scale="small",
        feeds=("district_reports",),
    )
    with scheduler_platform(tmp, dags=dags, sim=tmp / "sim", dag_ids=TEST_DAGS) as platform:
        yield platform


def test_a_triggered_ingest_run_succeeds_and_its_asset_event_triggers_a_warehouse_build(platform):
    api = platform.api
    run_id = api.trigger("ingest_district_reports", run_time_for(date(2022, 3, 3), clock_time(10, 30)))
    run = wait_for("the ingest run", lambda: finished_run(api, "ingest_district_reports", run_id))
    assert run["state"] == "success", api.task_instances("ingest_district_reports", run_id)
    with psycopg.connect(platform.warehouse_dsn) as conn:
        landed = conn.execute(
            "select report_date, count(*) from landing.district_reports group by 1 order by 1"
        ).fetchall()
    assert [day for day, _ in landed] == [date(2022, 3, 1), date(2022, 3, 2), date(2022, 3, 3)]

    def build_after_ingest() -> dict | None:
        builds = [
            r
            for r in api.dag_runs("build_warehouse")
            if r["run_type"] == "asset_triggered" and r["state"] == "success"
        ]
        return builds[0] if builds else None

    build = wait_for("an asset-triggered build_warehouse run", build_after_ingest)
    events = api.request(
        "GET", f"/api/v2/dags/build_warehouse/dagRuns/{build['dag_run_id']}/upstreamAssetEvents"
    ).json()["asset_events"]
    assert {(e["name"], e["source_dag_id"], e["source_run_id"]) for e in events} == {
        ("landing.district_reports", "ingest_district_reports", run_id)
    }


def test_two_landings_close_together_give_one_warehouse_build_at_a_time(platform):
    api = platform.api
    wait_for(
        "earlier builds to finish",
        lambda: all(r["state"] in ("success", "failed") for r in api.dag_runs("build_warehouse")),
    )
    before = {r["dag_run_id"] for r in api.dag_runs("build_warehouse")}
    first = api.trigger("emit_testing_sites", datetime(2022, 3, 2, 2, 30, tzinfo=UTC))
    wait_for("the first landing", lambda: finished_run(api, "emit_testing_sites", first))
    wait_for(
        "the first build to start",
        lambda: [
            r
            for r in api.dag_runs("build_warehouse")
            if r["dag_run_id"] not in before and r["state"] == "running"
        ],
    )
    second = api.trigger("emit_testing_sites", datetime(2022, 3, 3, 2, 30, tzinfo=UTC))
    wait_for("the second landing", lambda: finished_run(api, "emit_testing_sites", second))

    def two_builds_done() -> list[dict] | None:
        builds = [r for r in api.dag_runs("build_warehouse") if r["dag_run_id"] not in before]
        done = len(builds) == 2 and all(r["state"] == "success" for r in builds)
        return sorted(builds, key=lambda r: r["start_date"]) if done else None

    earlier, later = wait_for("two builds", two_builds_done)
    assert {earlier["run_type"], later["run_type"]} == {"asset_triggered"}
    assert later["start_date"] >= earlier["end_date"], (earlier, later)  # never two at once


def test_a_task_hanging_past_its_execution_timeout_is_failed_retried_and_alerted(platform):
    api = platform.api
    run_id = api.trigger("hang_probe", datetime(2022, 3, 4, 2, 30, tzinfo=UTC))
    run = wait_for(
        "the hanging run to end", lambda: finished_run(api, "hang_probe", run_id), timeout_seconds=120
    )
    assert run["state"] == "failed"
    [instance] = api.task_instances("hang_probe", run_id)
    assert instance["state"] == "failed" and instance["try_number"] == 2  # the first try, then its retry
    assert instance["duration"] < 30  # each try stopped at the timeout, not after the 300 s sleep
    messages = wait_for(
        "the failure alert",
        lambda: [m for m in platform.alerts.messages if m.get("dag_id") == "hang_probe"],
        timeout_seconds=30,
    )
    [message] = messages  # once, when the retries are used up
    assert (
        message["title"] == f"[FAILED] DAG hang_probe task pull_hanging_api failed for run {run_id} (try 2)"
    )
    assert "Timeout" in message["body"]


def test_a_backfill_over_two_days_runs_both_report_dates_under_the_scheduler(platform):
    api = platform.api
    created = subprocess.run(
        [
            AIRFLOW,
            "backfill",
            "create",
            "--dag-id",
            "ingest_district_reports",
            "--from-date",
            "2022-03-02T00:00+08:00",
            "--to-date",
            "2022-03-03T23:59+08:00",
            "--max-active-runs",
            "1",
            "--reprocess-behavior",
            "completed",
        ],
        env=platform.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]

    def backfill_runs_done() -> list[dict] | None:
        runs = [r for r in api.dag_runs("ingest_district_reports") if r["run_type"] == "backfill"]
        return runs if len(runs) == 2 and all(r["state"] in ("success", "failed") for r in runs) else None

    runs = wait_for("the two backfill runs", backfill_runs_done, timeout_seconds=200)
    assert sorted(r["logical_date"][:16] for r in runs) == ["2022-03-02T02:30", "2022-03-03T02:30"]
    assert {r["state"] for r in runs} == {"success"}
    with psycopg.connect(platform.warehouse_dsn) as conn:  # each run checked its pulled days under its run id
        checked = {row[0] for row in conn.execute("select distinct run_id from dq.check_results").fetchall()}
    assert {r["dag_run_id"] for r in runs} <= checked
