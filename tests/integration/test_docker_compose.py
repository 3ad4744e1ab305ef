"""The docker-compose stack is valid and wired the way users rely on.

Runs the real `docker-compose` (Debian package `docker-compose`) to validate and render the file; no
Docker engine is needed. It fails, not skips, when the binary is missing: CI installs it (.ci/run).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
ALL_SERVICES = {"postgres", "simulator", "metabase", *AIRFLOW_SERVICES}


@pytest.fixture(scope="module")
def compose_bin() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail(
            "the `docker-compose` binary is missing: install the Debian package with "
            "`apt-get install -y docker-compose` (.ci/run does this in CI)",
            pytrace=False,
        )
    return path


def _run_compose(compose_bin: str, env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A clean environment and an empty env file, so a developer's .env or exported variables
    # cannot change what is checked: the defaults in docker-compose.yml are what a newcomer gets.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
    command = [
        compose_bin,
        "--file",
        str(COMPOSE_FILE),
        "--project-directory",
        str(ROOT),
        "--env-file",
        str(env_file),
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.fixture(scope="module")
def empty_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose") / "empty.env"
    path.write_text("")
    return path


REQUIRED_SECRETS = {  # test values: compose has no default for any of them
    "POSTGRES_PASSWORD": "test-postgres-secret",
    "AIRFLOW_ADMIN_PASSWORD": "test-admin-secret",
    "EPIFEEDS_DISTRICT_API_TOKEN": "test-api-token",
    "METABASE_DB_PASSWORD": "test-metabase-secret",
    "BI_READER_PASSWORD": "test-bi-secret",
}


@pytest.fixture(scope="module")
def secrets_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose") / "secrets.env"
    path.write_text("".join(f"{name}={value}\n" for name, value in REQUIRED_SECRETS.items()))
    return path


@pytest.fixture(scope="module")
def config(compose_bin: str, secrets_env_file: Path) -> dict:
    result = _run_compose(compose_bin, secrets_env_file, "config")
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


def _published_ports(service: dict) -> set[tuple[int, int]]:
    """(published, target) pairs, whichever port syntax the compose version renders."""
    return {(published, target) for _, published, target in _bindings(service)}


def _bindings(service: dict) -> set[tuple[str, int, int]]:
    """(host address, published, target) of every published port ('' when on every interface)."""
    found = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            found.add((port.get("host_ip", ""), int(port["published"]), int(port["target"])))
        else:
            *address, published, target = str(port).split(":")
            found.add((":".join(address), int(published), int(target.split("/")[0])))
    return found


def _command_text(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def test_compose_file_is_valid(compose_bin: str, secrets_env_file: Path) -> None:
    result = _run_compose(compose_bin, secrets_env_file, "config", "-q")
    assert result.returncode == 0, f"docker-compose config -q failed:\n{result.stderr}"


def test_compose_refuses_to_start_without_real_secrets(compose_bin: str, empty_env_file: Path) -> None:
    result = _run_compose(compose_bin, empty_env_file, "config", "-q")
    assert result.returncode != 0, "docker-compose accepted a stack with no secrets set"
    assert any(name in result.stderr for name in REQUIRED_SECRETS), result.stderr
    assert "docker/env.example" in result.stderr


def test_no_secret_has_a_default_in_the_compose_file() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for name in REQUIRED_SECRETS:
        assert f"${{{name}:-" not in text, f"{name} has a default value in docker-compose.yml"
        assert f"${{{name}:?" in text, f"{name} is not required by docker-compose.yml"


def test_all_services_exist(config: dict) -> None:
    missing = ALL_SERVICES - set(config["services"])
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


def test_airflow_services_run_the_platform_image_and_the_simulator_its_own(config: dict) -> None:
    services = config["services"]
    images = set()
    for name in (*AIRFLOW_SERVICES, "simulator"):
        build = services[name].get("build")
        assert build, f"{name} is not built from the repository's Dockerfile"
        assert Path(build["context"]).resolve() == ROOT, f"{name} builds from {build['context']}"
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
        expected_target = "simulator" if name == "simulator" else "platform"
        assert build.get("target") == expected_target, f"{name} builds target {build.get('target')}"
        if name != "simulator":
            images.add(services[name]["image"])
    assert len(images) == 1, f"the Airflow services must share one image, got {images}"
    assert services["simulator"]["image"] not in images, "the simulator must not ship in the platform image"


def test_the_platform_image_holds_no_simulator() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    platform_stage = dockerfile.split("AS simulator")[0]
    assert "COPY simulator" not in platform_stage, "the production stage copies the simulator"
    assert "COPY simulator/" in dockerfile.split("AS simulator")[1]


def test_airflow_services_share_one_configuration(config: dict) -> None:
    services = config["services"]
    reference = services["airflow-apiserver"]["environment"]
    for name in AIRFLOW_SERVICES:
        assert services[name]["environment"] == reference, f"{name} has a different Airflow environment"
    assert reference["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert reference["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    # Secrets shared by every component: the same command in every service's environment.
    for key in ("AIRFLOW__CORE__FERNET_KEY_CMD", "AIRFLOW__API_AUTH__JWT_SECRET_CMD"):
        assert reference[key].startswith("/opt/epifeeds/docker/airflow-secret.sh ")


def test_airflow_databases_and_connections_point_at_the_postgres_service(config: dict) -> None:
    env = config["services"]["airflow-scheduler"]["environment"]

    metadata = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert (metadata.hostname, metadata.port, metadata.path) == ("postgres", 5432, "/airflow")

    warehouse = urlsplit(env["AIRFLOW_CONN_EPIFEEDS_WAREHOUSE"])
    assert warehouse.scheme in {"postgres", "postgresql"}
    assert (warehouse.hostname, warehouse.port, warehouse.path) == ("postgres", 5432, "/warehouse")

    district_api = urlsplit(env["AIRFLOW_CONN_EPIFEEDS_DISTRICT_API"])
    assert district_api.scheme == "http"
    assert (district_api.hostname, district_api.port) == ("simulator", 8765)
    assert district_api.password == REQUIRED_SECRETS["EPIFEEDS_DISTRICT_API_TOKEN"], (
        "the API token travels as the connection's password"
    )

    assert env["EPIFEEDS_PG_HOST"] == "postgres"
    assert env["EPIFEEDS_WAREHOUSE_DB"] == "warehouse"


def test_published_ports(config: dict) -> None:
    services = config["services"]
    assert (8080, 8080) in _published_ports(services["airflow-apiserver"])
    assert "api-server" in _command_text(services["airflow-apiserver"])
    assert (3000, 3000) in _published_ports(services["metabase"])


def test_every_port_listens_on_loopback_unless_told_otherwise(config: dict) -> None:
    for name, service in config["services"].items():
        for address, published, _ in _bindings(service):
            assert address == "127.0.0.1", f"{name} publishes {published} on {address or 'every interface'}"


def test_simulator_generates_then_serves_on_8765(config: dict) -> None:
    command = _command_text(config["services"]["simulator"])
    assert "epifeeds sim generate" in command
    assert "epifeeds sim serve" in command
    assert "--port 8765" in command
    assert "--host 0.0.0.0" in command


def test_startup_order_waits_for_healthy_postgres_and_finished_init(config: dict) -> None:
    services = config["services"]
    assert "healthcheck" in services["postgres"]
    for name in AIRFLOW_SERVICES[1:]:
        depends_on = services[name]["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        assert depends_on["airflow-init"]["condition"] == "service_completed_successfully", name
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    metabase = services["metabase"]
    assert metabase["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert metabase["environment"]["MB_DB_TYPE"] == "postgres"
    assert metabase["environment"]["MB_DB_HOST"] == "postgres"


def test_postgres_init_script_creates_the_databases_and_bi_role(config: dict) -> None:
    volumes = config["services"]["postgres"]["volumes"]
    targets = {v["target"] if isinstance(v, dict) else v.split(":")[1] for v in volumes}
    assert "/docker-entrypoint-initdb.d" in targets
    scripts = sorted((ROOT / "docker" / "postgres-init").glob("*.sh"))
    assert scripts, "no init script under docker/postgres-init/"
    text = "\n".join(script.read_text() for script in scripts)
    for statement in (
        "CREATE DATABASE warehouse",
        "CREATE DATABASE airflow",
        "CREATE DATABASE metabase",
        "CREATE ROLE bi_reader",
    ):
        assert statement in text


def test_dockerfile_installs_the_exact_lock_and_runs_unprivileged() -> None:
    text = DOCKERFILE.read_text()
    assert "FROM ${PYTHON_IMAGE}" in text and "python:3.11-slim-bookworm" in text
    assert "pip install -r requirements.lock" in text
    assert "pip install --no-deps -e ." in text
    assert "dbt parse" in text
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}, "the image must run as a non-root user"


def test_docker_helper_scripts_are_executable() -> None:
    for script in ("airflow-init.sh", "airflow-secret.sh", "postgres-init/10-epifeeds.sh"):
        path = ROOT / "docker" / script
        assert path.stat().st_mode & stat.S_IXUSR, f"{path} is not executable"


def test_airflow_secret_prefers_the_environment_then_the_generated_file(tmp_path: Path) -> None:
    script = ROOT / "docker" / "airflow-secret.sh"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AIRFLOW_HOME": str(tmp_path)}

    missing = subprocess.run([script, "jwt_secret"], env=env, capture_output=True, text=True, check=False)
    assert missing.returncode != 0 and "airflow-init" in missing.stderr

    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "jwt_secret").write_text("from-file")
    from_file = subprocess.run([script, "jwt_secret"], env=env, capture_output=True, text=True, check=True)
    assert from_file.stdout == "from-file"

    env["AIRFLOW_JWT_SECRET"] = "from-env"
    from_env = subprocess.run([script, "jwt_secret"], env=env, capture_output=True, text=True, check=True)
    assert from_env.stdout == "from-env"
