"""A task process killed with SIGKILL in the middle of its run, then the DAG run cleared and run again:
nothing lost, nothing doubled. Real Airflow (`dag.test()` in its own process, its own metadata database).

The kill is placed, not hoped for: once three files have landed, the test takes a lock on the landing
table, so the task's next COPY waits inside the statement; the test then kills the task's process with
SIGKILL (no cleanup, no except clause runs) and lets go of the lock. The ledger then holds landed
deliveries, one 'received' delivery whose rows were never committed, and files not taken yet. The
rerun (`dag.test()` for the same logical date clears the run's task instances) runs the killed task,
`land`; its downstream `validate` only reads what landed and is left out to keep the test short.
About 30 s on an idle machine (130 s under load): most of it Airflow's own start-up and `airflow db migrate`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from epifeeds.feeds.registries import ingest_registries
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.orchestration import run_time_for
from epifeeds.schedules import INGEST_TESTING_SITES_CRON, cron_local_time
from epifeeds.settings import DAGS_DIR
from tests.conftest import airflow_of_our_own
from tests.reliability.conftest import AFTER_ALL_ARRIVALS, DATES

pytestmark = pytest.mark.integration

RUNNER = """
import sys
from datetime import datetime
from airflow.dag_processing.dagbag import DagBag

dag = DagBag(dag_folder=sys.argv[1]).dags["ingest_testing_sites"]
if len(sys.argv) > 3:  # the rerun: the task that was killed (validate reads what landed; it loses nothing)
    dag = dag.partial_subset(task_ids=["land"], include_downstream=False)
run = dag.test(logical_date=datetime.fromisoformat(sys.argv[2]))
print("STATE", run.state)
"""


@pytest.fixture
def airflow_env(tmp_path: Path, small_sim: Path):
    with airflow_of_our_own(tmp_path, small_sim / "file_drop") as (env, warehouse_dsn, _):
        with psycopg.connect(warehouse_dsn) as conn:
            ensure_landing_schema(conn)
        ingest_registries(warehouse_dsn, env["EPIFEEDS_ARCHIVE_URL"], str(small_sim / "registries"), DATES[-1], AFTER_ALL_ARRIVALS)  # fmt: skip
        yield env, warehouse_dsn


def by_status(conn) -> dict[str, int]:
    return dict(
        conn.execute(
            "select status, count(*) from landing.batches where feed = 'testing_site_reports' group by 1"
        ).fetchall()
    )


def test_a_task_killed_mid_run_then_rerun_loses_and_doubles_nothing(airflow_env, small_sim):
    env, warehouse = airflow_env
    logical_date = run_time_for(DATES[-1], cron_local_time(INGEST_TESTING_SITES_CRON)).isoformat()
    dag_file = str(DAGS_DIR / "ingest_testing_sites.py")
    task = subprocess.Popen(
        [sys.executable, "-c", RUNNER, dag_file, logical_date],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with psycopg.connect(warehouse, autocommit=True) as watcher, psycopg.connect(warehouse) as blocker:
        deadline = time.monotonic() + 120
        while by_status(watcher).get("landed", 0) < 3:
            assert task.poll() is None, f"the task ended before it could be killed: {task.communicate()}"
            assert time.monotonic() < deadline, "the task never landed three files"
            time.sleep(0.01)
        blocker.execute("lock table landing.testing_site_reports in exclusive mode")
        while not watcher.execute(
            "select 1 from pg_stat_activity where datname = current_database() and query ilike 'copy%'"
            " and wait_event_type = 'Lock'"
        ).fetchone():
            assert time.monotonic() < deadline, "the task never reached its next COPY"
            time.sleep(0.01)
        os.kill(task.pid, signal.SIGKILL)
        task.wait(30)
        at_kill = by_status(watcher)
        blocker.rollback()  # the orphaned COPY resumes, finds its client gone, and rolls back
        while watcher.execute(
            "select 1 from pg_stat_activity where datname = current_database() and query ilike 'copy%'"
        ).fetchone():
            time.sleep(0.05)
        after_kill = (
            by_status(watcher),
            watcher.execute("select count(*) from landing.testing_site_reports").fetchone()[0],
        )
    assert task.returncode == -signal.SIGKILL
    assert at_kill["landed"] >= 3 and at_kill["received"] == 1 and sum(at_kill.values()) < 20, at_kill
    assert after_kill[0] == at_kill

    rerun = subprocess.run([sys.executable, "-c", RUNNER, dag_file, logical_date, "land"], env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert "STATE success" in rerun.stdout, rerun.stderr[-3000:]
    truth = json.loads((small_sim / "ground_truth.json").read_text())
    with psycopg.connect(warehouse) as conn:
        statuses = by_status(conn)
        rows, doubled, keys = conn.execute(
            "select count(*), count(*) filter (where _version > 1), count(distinct (site_id, report_date))"
            " from landing.testing_site_reports"
        ).fetchone()
        per_batch = conn.execute(
            "select count(*) from landing.batches as b where b.feed = 'testing_site_reports' and b.rows_landed <>"
            " (select count(*) from landing.testing_site_reports as r where r._batch_id = b.batch_id)"
        ).fetchone()[0]
    assert statuses == {"landed": 20}, statuses
    assert rows == keys == truth["feeds"]["testing_sites"]["rows"] and doubled == 0 and per_batch == 0
