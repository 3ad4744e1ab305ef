"""The whole chain through real Airflow runs, real Postgres, real dbt (Cosmos), real GX and real HTTP:
`epifeeds demo` over a simulation, then an operator's `epifeeds run` backfill over the same days."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from epifeeds.alerts.receiver import webhook_receiver
from epifeeds_sim.server import serve_in_background
from tests.conftest import create_database, drop_database, dsn_for

pytestmark = pytest.mark.integration

EPIFEEDS = str(Path(sys.executable).with_name("epifeeds"))


@pytest.fixture(scope="module")
def platform_env(tmp_path_factory):
    """Own warehouse and Airflow databases and home for this module; dropped afterwards."""
    warehouse, airflow = create_database("epifeeds_test_wh"), create_database("epifeeds_test_af")
    home = tmp_path_factory.mktemp("epifeeds-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "EPIFEEDS_"))} | {
        "EPIFEEDS_WAREHOUSE_DB": warehouse,
        "EPIFEEDS_AIRFLOW_DB": airflow,
        "EPIFEEDS_HOME": str(home),
    }
    yield env, dsn_for(warehouse), home
    drop_database(warehouse)
    drop_database(airflow)


def run_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([EPIFEEDS, *args], env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, (
        f"epifeeds {' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return done


def warehouse_state(dsn: str) -> dict:
    with psycopg.connect(dsn) as conn:
        return {
            "landing": conn.execute(
                "select district_id, report_date, _version, _row_hash from landing.district_reports order by 1, 2, 3"
            ).fetchall(),
            "mart": conn.execute(
                "select * from marts.fct_district_daily order by district_id, report_date"
            ).fetchall(),
            "alerts": conn.execute("select root_cause_key, status from dq.alerts order by 1").fetchall(),
            "rows": {
                table: conn.execute(f"select count(*) from {table}").fetchone()[0]
                for table in (
                    "landing.batches",
                    "landing.rejects",
                    "landing.testing_site_reports",
                    "landing.hotel_reports",
                    "landing.hotel_check_ins",
                )
            },
        }


@pytest.fixture(scope="module")
def demo(platform_env):
    env, dsn, home = platform_env
    done = run_cli(env, "demo", "--days", "3", "--seed", "7", "--scale", "small")
    truth = json.loads((home / "var" / "demo" / "sim" / "ground_truth.json").read_text(encoding="utf-8"))
    return done.stdout, dsn, truth


def test_demo_reports_what_happened(demo):
    stdout, _, _ = demo
    assert "Airflow runs: 18 of 18 succeeded" in stdout  # six DAG runs per report date
    assert "landing.district_reports" in stdout and "marts.fct_district_daily" in stdout
    assert "Checks:" in stdout and "Alerts sent:" in stdout
    assert "Notifications: " in stdout and "alert precision" in stdout  # the notification budget, measured
    assert "晋源区: district_reports for 2022-03-03 is missing" in stdout


def test_a_district_that_did_not_report_raises_exactly_one_alert(demo):
    _, dsn, truth = demo
    [missing] = [f for f in truth["faults"] if f["kind"] == "missing_report"]
    with psycopg.connect(dsn) as conn:
        alerts = conn.execute(
            "select reporter, report_date::text, status from dq.alerts where reporter = %s",
            (missing["reporter"],),
        ).fetchall()
        delivered = conn.execute(
            "select n.kind from dq.notifications as n join dq.alerts as a using (alert_id)"
            " where a.reporter = %s and n.is_delivered order by n.notification_id",
            (missing["reporter"],),
        ).fetchall()
        in_mart = conn.execute(
            "select count(*) from marts.fct_district_daily where district_id = %s and report_date = %s",
            (missing["reporter"], missing["report_date"]),
        ).fetchone()[0]
    assert alerts == [(missing["reporter"], missing["report_date"], "open")]
    assert delivered[0] == ("open",)
    assert in_mart == 0


def test_warehouse_holds_the_latest_reports_and_every_delivery_adds_up(demo):
    _, dsn, truth = demo
    with psycopg.connect(dsn) as conn:
        mart_rows = conn.execute("select count(*) from marts.fct_district_daily").fetchone()[0]
        unbalanced = conn.execute(
            "select count(*) from landing.batches where status = 'landed' and rows_read <> rows_landed + rows_rejected"
        ).fetchone()[0]
        archived = conn.execute(
            "select count(*) from landing.batches where message like 'archived at %'"
        ).fetchone()
    missing = sum(f["kind"] == "missing_report" for f in truth["faults"])
    assert mart_rows == 10 * 3 - missing
    assert unbalanced == 0
    assert archived[0] > 0


def test_gx_results_land_in_the_check_history(demo):
    _, dsn, truth = demo
    with psycopg.connect(dsn) as conn:
        gx = conn.execute(
            "select rule, status, count(*) from dq.check_results as r join dq.check_runs using (check_run_id)"
            " where suite = 'landing__district_reports' group by rule, status order by 1, 2"
        ).fetchall()
    by_rule = {(rule, status): count for rule, status, count in gx}
    assert by_rule[("V1", "pass")] > 0
    planted_v2_days = {f["report_date"] for f in truth["faults"] if f["rule"] == "V2"}
    assert by_rule.get(("V2", "fail"), 0) == len(planted_v2_days)


def test_backfill_through_airflow_is_idempotent(demo, platform_env):
    env, dsn, home = platform_env
    before = warehouse_state(dsn)
    sim_dir = home / "var" / "demo" / "sim"
    with serve_in_background(sim_dir, "demo-token") as api_url, webhook_receiver() as (webhook, received):
        settings = {
            "EPIFEEDS_DISTRICT_API_URL": api_url,
            "EPIFEEDS_ALERT_WEBHOOK_URL": webhook,
            "EPIFEEDS_FILE_DROP_URL": str(sim_dir / "file_drop"),
        }
        done = run_cli(
            env | settings,
            "run",
            "--from",
            "2022-03-01",
            "--to",
            "2022-03-03",
        )
    assert "18 of 18 succeeded" in done.stdout
    assert warehouse_state(dsn) == before
    assert [m["kind"] for m in received.messages] in ([], ["reminder"])  # nothing new: at most a reminder


def test_sim_score_reads_the_platforms_findings(demo, platform_env):
    env, _, home = platform_env
    truth_path = home / "var" / "demo" / "sim" / "ground_truth.json"
    done = run_cli(env, "sim", "score", "--truth", str(truth_path), "--format", "json")
    c1 = json.loads(done.stdout)["rules"]["C1"]
    assert (c1["expected"], c1["recall"], c1["precision"]) == (2, 1.0, 1.0)  # the missing and the late report
    alerts = json.loads(done.stdout)["alerts"]
    assert alerts["split"] == {} and alerts["unmatched"] == []  # one alert per root cause
