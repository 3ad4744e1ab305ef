"""`epifeeds setup`: what `make demo` and `make test` run first on a fresh machine."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from epifeeds.settings import load_settings
from tests.conftest import drop_database

pytestmark = pytest.mark.integration

EPIFEEDS = str(Path(sys.executable).with_name("epifeeds"))


def clean_env(**settings: str) -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "EPIFEEDS_"))} | settings


def test_unreachable_postgres_is_one_clear_line_saying_what_to_do(tmp_path):
    done = subprocess.run(
        [EPIFEEDS, "setup"],
        env=clean_env(EPIFEEDS_PG_PORT="1", EPIFEEDS_HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, done.stdout
    assert "Postgres is not reachable at 127.0.0.1:1" in lines[0]
    assert "Start one" in lines[0] and "EPIFEEDS_PG_HOST" in lines[0]


def test_setup_creates_the_databases_and_is_idempotent(tmp_path):
    suffix = os.urandom(4).hex()
    names = {
        "EPIFEEDS_WAREHOUSE_DB": f"epifeeds_test_wh_{suffix}",
        "EPIFEEDS_AIRFLOW_DB": f"epifeeds_test_af_{suffix}",
    }
    env = clean_env(EPIFEEDS_HOME=str(tmp_path), **names)
    try:
        first = subprocess.run([EPIFEEDS, "setup"], env=env, capture_output=True, text=True, timeout=300)
        second = subprocess.run([EPIFEEDS, "setup"], env=env, capture_output=True, text=True, timeout=300)
        assert first.returncode == 0, first.stdout + first.stderr
        assert second.returncode == 0, second.stdout + second.stderr
        assert f"created database {names['EPIFEEDS_WAREHOUSE_DB']}" in first.stdout.replace("\n", " ")
        assert "created database" not in second.stdout
        admin = load_settings().admin_dsn
        with psycopg.connect(admin.rsplit("/", 1)[0] + "/" + names["EPIFEEDS_AIRFLOW_DB"]) as conn:
            assert conn.execute("select count(*) from alembic_version").fetchone()[0] == 1  # migrated
        assert (tmp_path / ".airflow").is_dir()
    finally:
        for name in names.values():
            drop_database(name)
