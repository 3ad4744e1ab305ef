"""Shared fixtures: every test that needs Postgres gets its own uniquely named database, dropped after."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
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
