"""A real Airflow api-server on loopback, with the feed-health plugin, in front of a warehouse that a short
simulated run filled. Its own AIRFLOW_HOME and metadata database (migrated, dropped after), Airflow's
SimpleAuthManager with one known viewer. Shared by the JSON API tests and the browser tests."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from epifeeds.settings import PLUGINS_DIR, PROJECT_ROOT, load_settings
from tests.conftest import create_database, drop_database, dsn_for
from tests.e2e.warehouse import FilledWarehouse, fill_warehouse

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
ARTIFACTS = PROJECT_ROOT / "var" / "test-artifacts" / "e2e"
USER = "feed-health-viewer"
SERVER_START_TIMEOUT_S = 180


@dataclass(frozen=True)
class AirflowServer:
    url: str
    username: str
    password: str

    def token(self) -> str:
        """A JWT from Airflow's own token endpoint, as an API client would get one."""
        answer = httpx.post(
            f"{self.url}/auth/token", json={"username": self.username, "password": self.password}, timeout=30
        )
        answer.raise_for_status()
        return answer.json()["access_token"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="package")
def server_url() -> str:
    return f"http://127.0.0.1:{_free_port()}"


@pytest.fixture(scope="package")
def warehouse(tmp_path_factory: pytest.TempPathFactory, server_url: str) -> Iterator[FilledWarehouse]:
    name = create_database("epifeeds_test_fh")
    with (
        pytest.MonkeyPatch.context() as monkeypatch
    ):  # only while the settings are read: later tests see none of it
        monkeypatch.setenv("EPIFEEDS_WAREHOUSE_DB", name)
        monkeypatch.delenv("EPIFEEDS_WAREHOUSE_DSN", raising=False)
        settings = load_settings()
    try:
        yield fill_warehouse(settings, tmp_path_factory.mktemp("feed-health"), server_url)
    finally:
        drop_database(name)


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"airflow api-server exited with {process.returncode}:\n{log.read_text()[-4000:]}"
            )
        try:
            if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(
        f"airflow api-server not serving {url} after {SERVER_START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}"
    )


@pytest.fixture(scope="package")
def airflow_server(
    request: pytest.FixtureRequest, server_url: str, tmp_path_factory: pytest.TempPathFactory, artifacts: Path
) -> Iterator[AirflowServer]:
    metadata_db = create_database("epifeeds_test_af")
    home = tmp_path_factory.mktemp("airflow-home")
    (home / "dags").mkdir()
    password = secrets.token_urlsafe(12)
    passwords_file = home / "simple_auth_manager_passwords.json"
    passwords_file.write_text(json.dumps({USER: password}), encoding="utf-8")
    airflow_env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "EPIFEEDS_"))} | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://"
        + dsn_for(metadata_db).split("://", 1)[1],
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_DIR),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__BASE_URL": server_url,
        "DO_NOT_TRACK": "1",
    }
    log = artifacts / "api-server.log"
    migrate_log = artifacts / "airflow-db-migrate.log"
    process = None
    try:
        with migrate_log.open("w", encoding="utf-8") as output:
            migrate = subprocess.Popen(
                [AIRFLOW, "db", "migrate"], env=airflow_env, stdout=output, stderr=subprocess.STDOUT
            )
        try:
            warehouse: FilledWarehouse = request.getfixturevalue("warehouse")  # filled while Airflow migrates
        finally:
            migrated = migrate.wait(timeout=600)
        assert migrated == 0, f"airflow db migrate failed:\n{migrate_log.read_text()[-4000:]}"
        settings = warehouse.settings
        env = airflow_env | {
            "EPIFEEDS_PG_HOST": settings.pg_host,
            "EPIFEEDS_PG_PORT": settings.pg_port,
            "EPIFEEDS_PG_USER": settings.pg_user,
            "EPIFEEDS_PG_PASSWORD": settings.pg_password,
            "EPIFEEDS_WAREHOUSE_DB": settings.warehouse_db,
        }
        port = server_url.rsplit(":", 1)[1]
        with log.open("w", encoding="utf-8") as output:
            process = subprocess.Popen(
                [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", port, "--workers", "1"],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its workers form one process group, ended together below
            )
        _wait_until_serving(server_url, process, log)
        yield AirflowServer(server_url, USER, password)
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        drop_database(metadata_db)
