"""build_warehouse's dbt task through Airflow for real: `DbtRunnerBuildOperator` under `dag.test()`, own
Airflow home and metadata database, the profile taken from the `epifeeds_warehouse` connection.

A district reports a negative count: the task fails, and what it publishes (XCom `dbt_nodes`, the
failing rows in dq.check_results) names the test and the row. The report is then corrected and the
same task passes, re-using the partial parse of its previous run instead of parsing the project again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime

import psycopg
import pytest

from epifeeds.bi_access import ensure_bi_reader
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.settings import load_settings
from tests.conftest import airflow_of_our_own

pytestmark = pytest.mark.integration

REPORT_DATE = date(2022, 3, 5)
FAILING_TEST = "non_negative_stg_districts__daily_reports_new_positives"
PROBE_DAG = """
from datetime import datetime
from airflow.sdk import dag
from epifeeds.dag_defaults import default_args
from epifeeds.dbt_operator import DbtRunnerBuildOperator

# No retries: dag.test() would wait out the retry delay of a build that fails on its data.
@dag(schedule=None, start_date=datetime(2022, 3, 1), catchup=False, default_args=default_args() | {"retries": 0})
def dbt_probe():
    DbtRunnerBuildOperator(task_id="dbt_build", select="stg_districts__daily_reports")

dbt_probe()
"""
RUNNER = """
import os
from airflow.dag_processing.dagbag import DagBag
run = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["dbt_probe"].test()
print("STATE " + str(run.state))
"""


def _land_report(dsn: str, positives: int, version: int) -> None:
    loaded_at = datetime(2022, 3, 6, version, tzinfo=UTC)
    with psycopg.connect(dsn) as conn:
        ensure_landing_schema(conn)
        batch_id = conn.execute(
            "insert into landing.batches (feed, reporter, report_date, source_uri, sha256, received_at, status,"
            " rows_read, rows_landed) values ('district_reports', 'all', %s, 'file:///archive/test.json', %s, %s,"
            " 'landed', 1, 1) returning batch_id",
            (REPORT_DATE, uuid.uuid4().hex, loaded_at),
        ).fetchone()[0]
        conn.execute(
            "insert into landing.district_reports (district_id, district_name_reported, report_date,"
            " new_positives, new_confirmed, new_asymptomatic, _batch_id, _loaded_at, _version, _row_hash)"
            " values ('140108', '尖草坪区', %s, %s, 0, 0, %s, %s, %s, %s)",
            (REPORT_DATE, positives, batch_id, loaded_at, version, f"140108-{version}"),
        )


def _run_probe(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", RUNNER], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    states = [line for line in done.stdout.splitlines() if line.startswith("STATE ")]
    assert done.returncode == 0 and states, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return states[-1].removeprefix("STATE ")


def _published_nodes(metadata_dsn: str) -> dict:
    with psycopg.connect(metadata_dsn) as conn:
        [(value,)] = conn.execute(
            "select value from xcom where dag_id = 'dbt_probe' and key = 'dbt_nodes'"
            " order by timestamp desc limit 1"
        ).fetchall()
    return value if isinstance(value, dict) else json.loads(value)


def test_the_dbt_task_fails_on_a_failing_test_publishes_its_rows_then_passes_on_partial_parse(tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "dbt_probe.py").write_text(PROBE_DAG, encoding="utf-8")
    with airflow_of_our_own(tmp_path, tmp_path) as (env, warehouse_dsn, metadata_dsn):
        env = env | {"AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
        ensure_bi_reader(load_settings().admin_dsn, warehouse_dsn)
        _land_report(warehouse_dsn, positives=-1, version=1)

        assert "failed" in _run_probe(env)
        nodes = _published_nodes(metadata_dsn)
        statuses = {node["unique_id"].split(".")[2]: node["status"] for node in nodes["nodes"]}
        assert statuses["stg_districts__daily_reports"] == "success"
        assert statuses[FAILING_TEST] == "fail"
        assert nodes["failing_rows"] == {FAILING_TEST: [{"negative_value": -1}]}
        with psycopg.connect(warehouse_dsn) as conn:
            [(observed,)] = conn.execute(  # one build, one row
                "select observed from dq.check_results where check_name = %s", (FAILING_TEST,)
            ).fetchall()
        assert observed["failing_rows"] == [{"negative_value": -1}]

        _land_report(warehouse_dsn, positives=0, version=2)  # the district's correction
        assert "success" in _run_probe(env)
        assert _published_nodes(metadata_dsn)["counts"].get("fail") is None

        dbt_log = tmp_path / "var" / "dbt" / "dbt_probe.dbt_build" / "logs" / "dbt.log"
        second_run = dbt_log.read_text(encoding="utf-8").split("Running with dbt=")[-1]
        assert "Unable to do partial parsing" not in second_run, "the second build re-parsed the project"
