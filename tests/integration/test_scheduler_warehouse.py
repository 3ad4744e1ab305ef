"""The real `build_warehouse` DAG under a real scheduler (LocalExecutor, tests/integration/scheduler_platform.py):
its one in-process `dbt build` (`DbtRunnerBuildOperator`) and the GX marts checkpoint run in the executor's
task processes, the profile taken from the `epifeeds_warehouse` connection through the api-server.

The DAG folder holds the real `ingest_district_reports` and `build_warehouse` files. One clean simulated
day of one city is pulled over HTTP by the ingest run; its Asset event triggers the build. The expected
mart rows are counted from the simulator's own files (its report file and district registry), not from
the warehouse.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date
from datetime import time as clock_time
from pathlib import Path

import psycopg
import pytest

from epifeeds.bi_access import ensure_bi_reader
from epifeeds.orchestration import run_time_for
from epifeeds.settings import DAGS_DIR, load_settings
from epifeeds_sim.generate import generate
from tests.integration.scheduler_platform import Platform, finished_run, scheduler_platform, wait_for

pytestmark = pytest.mark.integration

DAY = date(2022, 3, 1)
TEST_DAGS = ("ingest_district_reports", "build_warehouse")
MARTS = ("fct_district_daily", "fct_city_daily", "mart_district_daily_summary", "dim_district")


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Iterator[Platform]:
    tmp = tmp_path_factory.mktemp("scheduler-warehouse")
    dags = tmp / "dags"
    dags.mkdir()
    for dag_id in TEST_DAGS:
        shutil.copy(DAGS_DIR / f"{dag_id}.py", dags)
    generate(
        tmp / "sim", days=1, seed=7, start=DAY, faults="none", scale="small", feeds=("district_reports",)
    )
    with scheduler_platform(
        tmp,
        dags=dags,
        sim=tmp / "sim",
        dag_ids=TEST_DAGS,
        extra_env={"EPIFEEDS_INGEST_LOOKBACK_DAYS": "0"},  # the one simulated day only
        before_start=lambda dsn: ensure_bi_reader(load_settings().admin_dsn, dsn),  # dbt grants to it
    ) as platform:
        yield platform


def simulated_day(sim: Path) -> tuple[dict[tuple[str, date], int], dict[str, int]]:
    """From the simulator's files: new positives per (district id, day) reported, and per city id."""
    registry = json.loads((sim / "registries" / "districts.json").read_text(encoding="utf-8"))["items"]
    by_name = {entry["district_name"]: entry for entry in registry}
    reports = json.loads((sim / "district_reports" / f"{DAY}.json").read_text(encoding="utf-8"))["items"]
    districts, cities = {}, {}
    for item in reports:
        entry = by_name[item["district"]]
        if entry["district_level"] == "district":
            districts[(entry["district_id"], date.fromisoformat(item["report_date"]))] = item["new_positives"]
        else:
            cities[entry["district_id"]] = item["new_positives"]
    return districts, cities


def published_nodes(metadata_dsn: str, run_id: str) -> dict:
    with psycopg.connect(metadata_dsn) as conn:
        [(value,)] = conn.execute(
            "select value from xcom where dag_id = 'build_warehouse' and task_id = 'dbt_build'"
            " and run_id = %s and key = 'dbt_nodes'",
            (run_id,),
        ).fetchall()
    return value if isinstance(value, dict) else json.loads(value)


def test_the_real_build_warehouse_runs_dbt_under_the_scheduler_and_publishes_every_node(platform):
    api = platform.api
    ingest = api.trigger("ingest_district_reports", run_time_for(DAY, clock_time(10, 30)))
    run = wait_for("the ingest run", lambda: finished_run(api, "ingest_district_reports", ingest))
    assert run["state"] == "success", api.task_instances("ingest_district_reports", ingest)

    def finished_build() -> dict | None:
        builds = [r for r in api.dag_runs("build_warehouse") if r["state"] in ("success", "failed")]
        return builds[0] if builds else None

    build = wait_for("the asset-triggered build_warehouse run", finished_build, timeout_seconds=240)
    instances = {ti["task_id"]: ti for ti in api.task_instances("build_warehouse", build["dag_run_id"])}
    assert build["run_type"] == "asset_triggered"
    assert build["state"] == "success", instances
    assert {task: ti["state"] for task, ti in instances.items()} == {
        "dbt_build": "success",
        "validate_marts": "success",
    }
    assert instances["dbt_build"]["try_number"] == 1  # passed first time, not on a retry

    sim = Path(platform.env["EPIFEEDS_HOME"]) / "sim"
    districts, cities = simulated_day(sim)
    assert len(districts) == 10 and len(cities) == 1  # the small scale: one city, ten districts
    with psycopg.connect(platform.warehouse_dsn) as conn:
        district_rows = conn.execute(
            "select district_id, report_date, new_positives from marts.fct_district_daily"
        ).fetchall()
        city_rows = conn.execute(
            "select city_id, report_date, districts_reporting, is_reconciled, city_new_positives,"
            " districts_new_positives from marts.fct_city_daily"
        ).fetchall()
        summary_rows = conn.execute("select count(*) from marts.mart_district_daily_summary").fetchone()[0]
    assert {(d, day): positives for d, day, positives in district_rows} == districts
    assert len(district_rows) == len(districts)  # one row per district and day landed
    [(city_id, city_day, reporting, reconciled, city_positives, summed)] = city_rows
    [(expected_city, expected_positives)] = cities.items()
    assert (city_id, city_day, reporting, reconciled) == (expected_city, DAY, len(districts), True)
    assert city_positives == expected_positives == summed == sum(districts.values())
    assert summary_rows == len(districts)

    nodes = published_nodes(platform.metadata_dsn, build["dag_run_id"])
    statuses = {node["unique_id"]: node["status"] for node in nodes["nodes"]}
    built = {uid: status for uid, status in statuses.items() if not uid.startswith("exposure.")}
    assert set(built.values()) <= {"success", "pass"}, nodes["counts"]  # an exposure is a "no-op"
    for mart in MARTS:
        assert statuses[f"model.epifeeds.{mart}"] == "success"
    tests = {uid.split(".")[2] for uid in statuses if uid.startswith("test.")}
    assert len(tests) > 50 and nodes["failing_rows"] == {}
    with psycopg.connect(platform.warehouse_dsn) as conn:  # every test's outcome under dbt's invocation id
        stored = conn.execute(
            "select check_name, status from dq.check_results where run_id = %s", (nodes["invocation_id"],)
        ).fetchall()
    assert sorted(name for name, _ in stored) == sorted(tests)
    assert {status for _, status in stored} == {"pass"}

    dbt_log = (
        Path(platform.env["EPIFEEDS_HOME"]) / "var" / "dbt" / "build_warehouse.dbt_build" / "logs" / "dbt.log"
    )
    assert nodes["invocation_id"] in dbt_log.read_text(encoding="utf-8")  # the task's own work folder
    task_log = Path(platform.env["AIRFLOW_HOME"]) / "logs" / "dag_id=build_warehouse"
    [task_log] = task_log.glob(f"run_id={build['dag_run_id']}/task_id=dbt_build/attempt=1.log")
    logged = task_log.read_text(encoding="utf-8")  # the node table, in the task log a data engineer reads
    assert f"dbt build: {len(statuses)} nodes" in logged and nodes["invocation_id"] in logged
    assert "model.epifeeds.fct_district_daily" in logged
