"""ingest_registries, ingest_testing_sites and ingest_isolation_hotels run through Airflow for real: own
Airflow home and metadata database, `dag.test()` at the scheduled times, GX on the changed slices, Asset
events, and a second day's runs that change nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta

import psycopg
import pytest

from epifeeds_sim.generate import generate
from tests.conftest import airflow_of_our_own

pytestmark = pytest.mark.integration

DAYS = 3
LAST_DAY = date(2022, 3, 1) + timedelta(days=DAYS - 1)
RUNNER = """
import json, sys
from datetime import date
from epifeeds.orchestration import run_dag, run_time_for
from epifeeds.schedules import cron_local_time
import epifeeds.schedules as schedules

states = []
for dag_id, cron, day in json.loads(sys.argv[1]):
    run = run_dag(dag_id, run_time_for(date.fromisoformat(day), cron_local_time(getattr(schedules, cron))))
    states.append([dag_id, day, str(run.state)])
print("STATES " + json.dumps(states))
"""
PLAN = [
    ("ingest_registries", "INGEST_REGISTRIES_CRON"),
    ("ingest_testing_sites", "INGEST_TESTING_SITES_CRON"),
    ("ingest_isolation_hotels", "INGEST_ISOLATION_HOTELS_CRON"),
]


@pytest.fixture(scope="module")
def airflow_run(tmp_path_factory):
    """A simulation, a warehouse and an Airflow metadata database of our own; dropped afterwards."""
    home = tmp_path_factory.mktemp("airflow-file-feeds")
    sim_dir = home / "sim"
    truth = generate(sim_dir, days=DAYS, seed=7, faults="all", scale="small")
    with airflow_of_our_own(home, sim_dir / "file_drop") as (env, warehouse_dsn, metadata_dsn):
        yield env, warehouse_dsn, metadata_dsn, truth


def run_dags(env: dict, report_date: date) -> list[list[str]]:
    plan = json.dumps([[dag_id, cron, report_date.isoformat()] for dag_id, cron in PLAN])
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, plan],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=env["EPIFEEDS_HOME"],
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    [line] = [line for line in done.stdout.splitlines() if line.startswith("STATES ")]
    return json.loads(line.removeprefix("STATES "))


def landing_state(dsn: str) -> dict:
    with psycopg.connect(dsn) as conn:
        return {
            table: conn.execute(f"select * from landing.{table} order by 1, 2, 3").fetchall()
            for table in ("batches", "rejects", "testing_sites", "isolation_hotels", "testing_site_reports",
                          "hotel_reports", "hotel_check_ins")
        }  # fmt: skip


@pytest.fixture(scope="module")
def first_runs(airflow_run):
    env, warehouse, _, _ = airflow_run
    states = run_dags(env, LAST_DAY)  # at 10:15/10:30 on D+1; the 3-day lookback reaches every simulated day
    return states, landing_state(warehouse)


def test_each_dag_runs_through_airflow_and_lands_every_day(first_runs, airflow_run):
    states, landed = first_runs
    _, _, _, truth = airflow_run
    assert [(dag_id, state) for dag_id, _, state in states] == [
        (dag_id, "success") for dag_id, _ in PLAN
    ]  # fmt: skip
    report_dates = {row[3] for row in landed["testing_site_reports"]}
    assert report_dates == {date(2022, 3, 1) + timedelta(days=n) for n in range(DAYS)}
    assert len(landed["hotel_reports"]) == truth.feeds["hotel_reports"]["reports"]
    assert len(landed["hotel_check_ins"]) == 10 * truth.feeds["hotel_reports"]["reports"]
    assert landed["testing_sites"] and landed["isolation_hotels"]


def test_gx_validated_every_changed_slice_and_found_the_planted_v2_break(first_runs, airflow_run):
    _, warehouse, _, truth = airflow_run
    [occupancy] = truth.select(kind="occupancy_over_rooms")
    with psycopg.connect(warehouse) as conn:
        runs = conn.execute("select suite, count(*) from dq.check_runs group by suite").fetchall()
        v2 = conn.execute(
            "select r.report_date::text, r.status from dq.check_results as r join dq.check_runs using (check_run_id)"
            " where suite = 'landing__hotel_reports' and r.rule = 'V2' order by 1"
        ).fetchall()
    assert dict(runs) == {
        "landing__testing_sites": 1,
        "landing__isolation_hotels": 1,
        "landing__testing_site_reports": DAYS,
        "landing__hotel_reports": DAYS,
        "landing__hotel_check_ins": DAYS,
        # The platform's own checks, once per report DAG run: rejects, delivery volume, file-feed rules.
        "landing_rejects": 2,
        "delivery_volume": 2,
        "file_feed_rules": 2,
        "schema_drift": 2,  # S1 on each delivery's header
        "plausibility": 2,  # P1 (hotels) and P2 (sites), beside the file-feed rules
    }
    assert [day for day, status in v2 if status == "fail"] == [occupancy.report_date]


def test_each_dag_emitted_the_assets_of_what_it_landed(first_runs, airflow_run):
    _, _, metadata, _ = airflow_run
    with psycopg.connect(metadata) as conn:
        events = dict(
            conn.execute(
                "select a.name, count(*) from asset_event as e join asset as a on a.id = e.asset_id group by a.name"
            ).fetchall()
        )
    assert events == {
        "landing.testing_sites": 1,
        "landing.isolation_hotels": 1,
        "landing.testing_site_reports": 1,
        "landing.hotel_reports": 1,
        "landing.hotel_check_ins": 1,
    }


def test_the_next_days_runs_find_nothing_new_and_change_nothing(first_runs, airflow_run):
    _, before = first_runs
    env, warehouse, _, _ = airflow_run
    states = run_dags(env, LAST_DAY + timedelta(days=1))
    assert all(state == "success" for _, _, state in states)
    assert landing_state(warehouse) == before
