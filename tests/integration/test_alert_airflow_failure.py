"""An Airflow task that fails for good reaches the alert webhook, through the notifier every epifeeds
DAG gets from default_args(): a real DAG run (`dag.test()`) in a subprocess with its own Airflow home
and its own, fresh Postgres metadata database."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from epifeeds.alerts.receiver import webhook_receiver
from epifeeds.settings import PLUGINS_DIR
from tests.conftest import create_database, drop_database, dsn_for

pytestmark = pytest.mark.integration

AIRFLOW = str(Path(sys.executable).with_name("airflow"))

PROBE_DAG = textwrap.dedent(
    '''
    """A DAG whose only task fails, to see the failure alert arrive."""
    import os
    from datetime import UTC, datetime

    from airflow.sdk import dag, task

    from epifeeds.dag_defaults import default_args


    @dag(
        schedule=None,
        start_date=datetime(2022, 3, 1, tzinfo=UTC),
        catchup=False,
        tags=["epifeeds", "test"],
        default_args=default_args() | {"retries": 0},
    )
    def alert_probe():
        @task
        def pull_district_reports():
            raise RuntimeError("district API answered 503 for 2022-03-03")

        pull_district_reports()


    probe = alert_probe()

    if __name__ == "__main__":
        probe.test(logical_date=datetime(2022, 3, int(os.environ["PROBE_DAY"]), 2, 30, tzinfo=UTC))
    '''
)


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    """Own Airflow home, DAG folder and metadata database (migrated) for this module, dropped afterwards."""
    database = create_database("epifeeds_test_af_alert")
    tmp_path = tmp_path_factory.mktemp("alert-airflow")
    dags = tmp_path / "dags"
    dags.mkdir()
    sqlalchemy_dsn = "postgresql+psycopg2://" + dsn_for(database).split("://", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "EPIFEEDS_"))} | {
        "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_dsn,
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_DIR),
        "AIRFLOW__API__BASE_URL": "http://airflow.test:8080",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
    }
    try:
        migrated = subprocess.run(
            [AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
        )
        assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
        yield env, dags
    finally:
        drop_database(database)


def test_a_task_that_fails_for_good_is_reported_to_the_alert_channel(airflow_env):
    env, dags = airflow_env
    (dags / "alert_probe.py").write_text(PROBE_DAG, encoding="utf-8")
    with webhook_receiver() as (url, received):
        run = subprocess.run(
            [sys.executable, str(dags / "alert_probe.py")],
            env=env
            | {
                "PROBE_DAY": "4",
                "EPIFEEDS_ALERT_WEBHOOK_URL": url,
                "EPIFEEDS_ALERT_RETRY_BACKOFF_SECONDS": "0.1",
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
    output = run.stdout[-3000:] + run.stderr[-3000:]
    assert "district API answered 503" in output, output  # the task really ran and failed
    [message] = received.messages
    run_id = message["run_id"]
    assert message["kind"] == "failure" and message["dag_id"] == "alert_probe"
    assert (
        message["title"]
        == f"[FAILED] DAG alert_probe task pull_district_reports failed for run {run_id} (try 1)"
    )
    assert "Error: RuntimeError: district API answered 503 for 2022-03-03" in message["body"]
    assert "Log: http://airflow.test:8080/dags/alert_probe/runs/" in message["body"]
    assert "/tasks/pull_district_reports?try_number=1" in message["log_url"]


def test_a_failing_task_without_any_alert_channel_fails_only_for_its_own_reason(airflow_env):
    env, dags = airflow_env
    (dags / "alert_probe.py").write_text(PROBE_DAG, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(dags / "alert_probe.py")],
        env=env | {"PROBE_DAY": "5"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = run.stdout + run.stderr
    assert "district API answered 503" in output
    assert "No alert channel configured" in output
    assert "Failed to run task callback" not in output
