"""Scheduling semantics under a real Airflow scheduler: the local platform's api-server, dag-processor and
scheduler (LocalExecutor) as processes, started once for this module by `epifeeds.local_platform`, with
their own metadata database (created, migrated, dropped), ports and state folder.

The DAG folder holds the real `ingest_district_reports` DAG (pulling from the simulator over HTTP) and
light stand-ins: `build_warehouse` with the real DAG's id, Asset schedule (any landing Asset) and
`max_active_runs=1`, but a sleep instead of dbt; a DAG that emits a landing Asset; a task that hangs past
its `execution_timeout`. Every DAG gets the platform's `default_args()` (owner, retries, the failure
notifier).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from epifeeds import local_platform as lp
from epifeeds.alerts.receiver import webhook_receiver
from epifeeds.orchestration import run_time_for
from epifeeds.settings import DAGS_DIR, load_settings
from epifeeds_sim.generate import generate
from epifeeds_sim.server import serve_in_background
from tests.conftest import create_database, drop_database, dsn_for

pytestmark = pytest.mark.integration

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
TOKEN = "scheduler-test-token"
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclasses.dataclass
class Platform:
    api: lp.AirflowApi
    env: dict[str, str]
    warehouse_dsn: str
    alerts: Any  # ReceivedMessages of the loopback webhook
    state: lp.StateDir


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Platform:
    tmp = tmp_path_factory.mktemp("scheduler")
    metadata_db = create_database("epifeeds_test_sched_af")
    warehouse_db = create_database("epifeeds_test_sched_wh")
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
    state = lp.StateDir(tmp / "state")
    try:
        with serve_in_background(tmp / "sim", TOKEN) as api_url, webhook_receiver() as (webhook, received):
            settings = dataclasses.replace(
                load_settings(),
                home=tmp,
                airflow_dsn=dsn_for(metadata_db),
                warehouse_dsn=dsn_for(warehouse_db),
                district_api_url=api_url,
                district_api_token=TOKEN,
            )
            base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "EPIFEEDS_"))} | {
                "AIRFLOW_HOME": str(tmp / "airflow-home"),
                "EPIFEEDS_HOME": str(tmp),
                "EPIFEEDS_ARCHIVE_URL": str(tmp / "archive"),
                "EPIFEEDS_ALERT_RETRY_BACKOFF_SECONDS": "0.1",
            }
            env = lp.platform_environment(
                settings,
                state,
                api_port=_free_port(),
                parallelism=3,
                dags_folder=dags,
                alert_webhook_url=webhook,
                base=base,
            )
            migrated = subprocess.run(
                [AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
            )
            assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
            processes = lp.start_airflow(state, env, components=("api-server", "dag-processor", "scheduler"))
            api = None
            try:
                api = lp.AirflowApi(
                    env["AIRFLOW__API__BASE_URL"], lp.load_or_create_secrets(state)["ui_password"]
                )
                api.wait_until_up(processes)
                api.wait_for_dags(TEST_DAGS, timeout_seconds=180)
                for dag_id in TEST_DAGS:
                    api.unpause(dag_id)
                yield Platform(api, env, settings.warehouse_dsn, received, state)
            finally:
                if api is not None:
                    api.close()
                stopped = lp.stop_recorded(state)
                print("stopped:", stopped)
                assert len(stopped) == len(processes)
                assert members_of_groups({p.pid for p in processes}) == []  # workers and tasks too
                assert lp.recorded_processes(state) == [] and lp.stop_recorded(state) == []
    finally:
        drop_database(metadata_db)
        drop_database(warehouse_db)


def members_of_groups(group_ids: set[int]) -> list[str]:
    """Live processes (not zombies) in any of these process groups, as 'pid command'."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in group_ids and fields[0] not in ("Z", "X"):
            found.append(f"{stat.parent.name} {(stat.parent / 'cmdline').read_bytes()[:120]!r}")
    return found


def wait_for(what: str, probe: Callable[[], Any], timeout_seconds: float = 150) -> Any:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout_seconds:.0f} s waiting for {what}")


def finished_run(api: lp.AirflowApi, dag_id: str, run_id: str) -> dict | None:
    run = next(r for r in api.dag_runs(dag_id) if r["dag_run_id"] == run_id)
    return run if run["state"] in ("success", "failed") else None


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
