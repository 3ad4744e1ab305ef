"""Setting the platform up on a machine and driving real Airflow runs of its DAG chain.

The CLI runs DAGs in-process with `dag.test()`: the same Airflow code paths, metadata database and
task runs as a scheduler would make, without needing a scheduler running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import psycopg

from epifeeds.schedules import (
    INGEST_DISTRICT_REPORTS_CRON,
    INGEST_ISOLATION_HOTELS_CRON,
    INGEST_REGISTRIES_CRON,
    INGEST_TESTING_SITES_CRON,
    WATCHDOG_BACKFILL_LOCAL_TIME,
    cron_local_time,
)
from epifeeds.settings import DAGS_DIR, PLUGINS_DIR, REPORT_TIMEZONE, Settings, sqlalchemy_url

# The DAG runs that handle report date D, in order, at their local times on day D+1 (from the DAGs'
# schedules). build_warehouse is Asset-triggered: it runs once after the day's ingests.
DAILY_INGESTS = (
    ("ingest_registries", INGEST_REGISTRIES_CRON),
    ("ingest_district_reports", INGEST_DISTRICT_REPORTS_CRON),
    ("ingest_testing_sites", INGEST_TESTING_SITES_CRON),
    ("ingest_isolation_hotels", INGEST_ISOLATION_HOTELS_CRON),
)


def chain_for(report_date: date) -> list[tuple[str, datetime]]:
    """(dag_id, logical date) of every run that handles one report date, as a scheduler would make them."""
    ingests = [(dag_id, run_time_for(report_date, cron_local_time(cron))) for dag_id, cron in DAILY_INGESTS]
    last_ingest = max(at for _, at in ingests)
    return [
        *ingests,
        ("build_warehouse", last_ingest + timedelta(minutes=1)),
        ("feed_watchdog", run_time_for(report_date, WATCHDOG_BACKFILL_LOCAL_TIME)),
    ]


class PlatformSetupError(RuntimeError):
    """Set-up cannot go on; the message is one line saying what to do."""


def airflow_environment(settings: Settings, district_api_url: str | None = None) -> dict[str, str]:
    """Environment for Airflow and dbt, derived from the EPIFEEDS_* settings: the Airflow connections carry
    the settings' DSN and API, and dbt's part is `warehouse.dbt_env` (one builder each)."""
    from epifeeds.warehouse import dbt_env

    api = urlsplit(district_api_url or settings.district_api_url)
    return {
        "AIRFLOW_HOME": str(settings.airflow_home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(settings.airflow_dsn),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "utc",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "GX_ANALYTICS_ENABLED": "False",
        "AIRFLOW_CONN_EPIFEEDS_WAREHOUSE": settings.warehouse_dsn,
        "AIRFLOW_CONN_EPIFEEDS_DISTRICT_API": f"http://:{quote(settings.district_api_token, safe='')}@{api.netloc}",
        **dbt_env(settings),  # EPIFEEDS_PG_*, EPIFEEDS_WAREHOUSE_DB and DO_NOT_TRACK
    }


def apply_environment(env: dict[str, str], override: bool = False) -> None:
    """Put the derived environment in place; values the user set themselves win unless `override`."""
    for name, value in env.items():
        if override or name not in os.environ:
            os.environ[name] = value


def check_postgres(settings: Settings) -> None:
    try:
        psycopg.connect(settings.admin_dsn, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PlatformSetupError(
            f"Postgres is not reachable at {settings.pg_host}:{settings.pg_port} as {settings.pg_user} ({reason}). "
            "Start one (e.g. `pg_ctlcluster 15 main start`, or `docker compose up -d postgres`) "
            "or point EPIFEEDS_PG_HOST/EPIFEEDS_PG_PORT/EPIFEEDS_PG_USER/EPIFEEDS_PG_PASSWORD at yours."
        ) from None


def ensure_databases(settings: Settings) -> list[str]:
    """Create the warehouse and airflow databases if missing; returns the ones created."""
    created = []
    with psycopg.connect(settings.admin_dsn, autocommit=True) as conn:
        for name in (settings.warehouse_db, settings.airflow_db):
            if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is None:
                conn.execute(f'create database "{name}"')
                created.append(name)
    return created


def migrate_airflow_db() -> None:
    """`airflow db migrate` against the configured metadata database (idempotent)."""
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, env=os.environ.copy()
    )
    if done.returncode != 0:
        raise PlatformSetupError(f"airflow db migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def run_time_for(report_date: date, local_time: time) -> datetime:
    """The moment (UTC) on local day D+1 at which a scheduled run handles report date D."""
    local = datetime.combine(report_date + timedelta(days=1), local_time, tzinfo=ZoneInfo(REPORT_TIMEZONE))
    return local.astimezone(ZoneInfo("UTC"))


def run_dag(dag_id: str, logical_date: datetime | None):
    """One real Airflow run of a DAG, in-process; returns the DagRun."""
    bag = load_dag_bag()
    dag = bag.dags.get(dag_id)
    if dag is None:
        raise PlatformSetupError(f"DAG {dag_id} did not load: {bag.import_errors}")
    return dag.test(logical_date=logical_date) if logical_date else dag.test()


@cache
def load_dag_bag():
    """The project's DAGs, parsed once per process."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))
