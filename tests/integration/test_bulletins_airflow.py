"""ingest_bulletins and feed_watchdog run through Airflow for real (`dag.test()`, own Airflow home and
metadata database): the real Beijing bulletin dropped in `bulletins/`, landed through the one driver,
judged and alerted; then the watchdog's C1 over every feed at 11:00 the next day."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import psycopg
import pytest

from tests.conftest import BEIJING_CSV, airflow_of_our_own

pytestmark = pytest.mark.integration

RUNNER = """
import json, sys
from datetime import datetime
from epifeeds.orchestration import run_dag

states = []
for dag_id, at in json.loads(sys.argv[1]):
    run = run_dag(dag_id, datetime.fromisoformat(at))
    states.append([dag_id, str(run.state)])
print("STATES " + json.dumps(states))
"""
# 2022-05-12, the day after Beijing's last bulletin (2022-05-11): ingest at 10:45, watchdog at 11:00.
PLAN = [
    ["ingest_bulletins", "2022-05-12T10:45:00+08:00"],
    ["feed_watchdog", "2022-05-12T11:00:00+08:00"],
    ["ingest_bulletins", "2022-05-13T10:45:00+08:00"],  # the same file again: nothing changes
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-bulletins")
    drop = home / "file_drop"
    (drop / "bulletins").mkdir(parents=True)
    shutil.copy(BEIJING_CSV, drop / "bulletins" / "beijing-daily.csv")
    with airflow_of_our_own(home, drop) as (env, warehouse, metadata):
        done = subprocess.run(
            [sys.executable, "-c", RUNNER, json.dumps(PLAN)],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            cwd=env["EPIFEEDS_HOME"],
        )
        assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        [line] = [line for line in done.stdout.splitlines() if line.startswith("STATES ")]
        yield json.loads(line.removeprefix("STATES ")), warehouse, metadata


def test_the_bulletin_lands_through_airflow_once(runs):
    states, warehouse, metadata = runs
    assert states == [[dag_id, "success"] for dag_id, _ in PLAN]
    with psycopg.connect(warehouse) as conn:
        batches = conn.execute(
            "select feed, status, count(*) from landing.batches group by 1, 2 order by 1, 2"
        ).fetchall()
        rows = conn.execute("select count(*) from landing.district_reports").fetchone()[0]
    # 33 report dates, each a district-report and a bulletin-measures delivery; 北京市 + 16 districts a day.
    assert batches == [("bulletin_measures", "landed", 33), ("district_reports", "landed", 33)]
    assert rows == 33 * 17  # the second run landed no new version
    with psycopg.connect(metadata) as conn:
        events = dict(
            conn.execute(
                "select a.name, count(*) from asset_event as e join asset as a on a.id = e.asset_id group by 1"
            ).fetchall()
        )
    assert events == {"landing.district_reports": 2, "landing.bulletin_measures": 2}  # one per run


def test_the_watchdog_finds_taiyuan_missing_and_beijing_on_time(runs):
    _, warehouse, _ = runs
    with psycopg.connect(warehouse) as conn:
        missing = conn.execute(
            "select left(reporter, 4), count(*) from dq.findings where finding_key like 'C1:missing:district_reports:%'"
            " and status = 'open' group by 1"
        ).fetchall()
        late = conn.execute("select count(*) from dq.findings where finding_key like 'C1:late:%'").fetchone()[
            0
        ]
        judged = conn.execute(
            "select r.status, count(*) from dq.check_results as r join dq.check_runs using (check_run_id)"
            " where suite = 'completeness' and r.reporter like '11%' group by 1"
        ).fetchall()
    # At 11:00 on 05-12 the last three report dates (05-09..05-11) are past deadline + grace: Taiyuan's
    # 10 districts and city delivered nothing (no district API in this test); Beijing's 17 were on time.
    assert missing == [("1401", 11 * 3)] and late == 0
    assert judged == [("pass", 17 * 3)]
