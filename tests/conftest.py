"""Shared fixtures: every test that needs Postgres gets its own uniquely named database, dropped after."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from epifeeds.settings import DAGS_DIR, PLUGINS_DIR, PROJECT_ROOT, load_settings

# Airflow reads its configuration on first import: point it at a throw-away home before any test imports it.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="epifeeds-test-airflow-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_DIR))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(PLUGINS_DIR))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


def _real_data_dir() -> Path:
    """The workplace's real published bulletins: `shared/` sits beside the checkout (and CI's clone)."""
    candidate = PROJECT_ROOT.parent / "shared" / "data" / "real"
    if not candidate.is_dir():
        raise FileNotFoundError(f"the real bulletins are expected beside the checkout, at {candidate}")
    return candidate


BEIJING_CSV = _real_data_dir() / "beijing-daily.csv"


def create_database(prefix: str = "epifeeds_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(load_settings().admin_dsn, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(load_settings().admin_dsn, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def dsn_for(name: str) -> str:
    settings = load_settings()
    return settings.admin_dsn.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def warehouse_dsn() -> Iterator[str]:
    """A fresh, empty warehouse database for one test."""
    name = create_database()
    try:
        yield dsn_for(name)
    finally:
        drop_database(name)


@contextmanager
def airflow_of_our_own(home: Path, file_drop: Path) -> Iterator[tuple[dict[str, str], str, str]]:
    """A warehouse and a migrated Airflow metadata database of their own, and the environment of an
    `airflow` subprocess that uses them (nothing inherited from AIRFLOW_*/EPIFEEDS_*); both dropped after.
    Yields (env, warehouse DSN, metadata DSN)."""
    warehouse, metadata = create_database("epifeeds_test_wh"), create_database("epifeeds_test_af")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "EPIFEEDS_"))} | {
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://"
        + dsn_for(metadata).split("://", 1)[1],
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "utc",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "False",
        "AIRFLOW_CONN_EPIFEEDS_WAREHOUSE": dsn_for(warehouse),
        "EPIFEEDS_HOME": str(home),
        "EPIFEEDS_ARCHIVE_URL": str(home / "archive"),
        "EPIFEEDS_FILE_DROP_URL": str(file_drop),
    }
    try:
        airflow = str(Path(sys.executable).with_name("airflow"))
        migrated = subprocess.run(
            [airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
        )
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        yield env, dsn_for(warehouse), dsn_for(metadata)
    finally:
        drop_database(warehouse)
        drop_database(metadata)
