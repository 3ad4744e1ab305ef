"""The platform on the clock without Docker: Airflow's scheduler, dag-processor, triggerer and api-server
as local processes against the same Postgres and settings as `epifeeds demo` (`epifeeds up` / `down`).

Everything a start leaves behind lives in one state folder (`var/up/` under EPIFEEDS_HOME):

    var/up/secrets.json                  JWT secret and API secret key shared by every component, and the
                                         UI password (generated once, mode 600; never a default)
    var/up/simple_auth_manager_passwords.json   the UI login SimpleAuthManager reads
    var/up/pids/<name>.json              one per started process: pid (= its process group), argv, start time
    var/up/logs/<name>.log               each process's output
    var/up/alerts.jsonl                  alerts received on loopback when EPIFEEDS_ALERT_WEBHOOK_URL is unset

Each process is started in its own session, so stopping it (SIGTERM to its process group, SIGKILL after a
grace period) also ends the executor's workers and their task processes. A pid file is trusted only while
the process it names still has the recorded start time, so a reused pid is never signalled.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from epifeeds import orchestration
from epifeeds.settings import Settings

AIRFLOW_COMPONENTS = ("api-server", "dag-processor", "scheduler", "triggerer")
UI_USER = "admin"
STOPPED_LAST = ("airflow-api-server",)


class PlatformError(orchestration.PlatformSetupError):
    """Starting or stopping the local platform cannot go on; the message says what to look at."""


@dataclass(frozen=True)
class StateDir:
    """The folder holding one local platform's secrets, pid files and logs."""

    root: Path

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def passwords_file(self) -> Path:
        return self.root / "simple_auth_manager_passwords.json"

    @property
    def alerts_file(self) -> Path:
        return self.root / "alerts.jsonl"


def default_state_dir(settings: Settings) -> StateDir:
    return StateDir(settings.home / "var" / "up")


def load_or_create_secrets(state: StateDir) -> dict[str, str]:
    """The shared secrets and the UI password: generated on first use, then read back (file mode 600)."""
    state.root.mkdir(parents=True, exist_ok=True)
    stored = json.loads(state.secrets_file.read_text(encoding="utf-8")) if state.secrets_file.exists() else {}
    wanted = {"jwt_secret": 48, "api_secret_key": 32, "ui_password": 12}
    missing = {name: secrets.token_urlsafe(size) for name, size in wanted.items() if not stored.get(name)}
    if missing:
        stored |= missing
        _write_private(state.secrets_file, stored, indent=2)
    _write_private(state.passwords_file, {UI_USER: stored["ui_password"]})
    return stored


def _write_private(path: Path, data: dict[str, str], **dump_options: Any) -> None:
    """JSON into a file only its owner can read (created with mode 600)."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
        json.dump(data, out, **dump_options)


def platform_environment(
    settings: Settings,
    state: StateDir,
    *,
    api_port: int,
    parallelism: int = 2,
    dags_folder: Path | None = None,
    alert_webhook_url: str | None = None,
    base: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment every component runs with: the demo's settings (values set in `base`, by default this
    process's environment, win over derived ones), plus what components of one scheduler must share."""
    shared = load_or_create_secrets(state)
    api_url = f"http://127.0.0.1:{api_port}"
    env = orchestration.airflow_environment(settings) | dict(os.environ if base is None else base)
    env |= {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": shared["api_secret_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": shared["jwt_secret"],
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{UI_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(state.passwords_file),
        # Two cores are enough when files are not re-parsed every 30 s.
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "120",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
    }
    if dags_folder is not None:
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    env["EPIFEEDS_ALERT_WEBHOOK_URL"] = (
        alert_webhook_url if alert_webhook_url is not None else settings.alert_webhook_url
    )
    return env


# ------------------------------------------------------------------------------------------ processes


def _start_time(pid: int) -> str | None:
    """The kernel's start time of a live process (clock ticks since boot); None when it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


@dataclass
class StartedProcess:
    name: str
    pid: int
    argv: list[str]
    started: str
    log: str

    def is_running(self) -> bool:
        return _start_time(self.pid) == self.started


def start_process(state: StateDir, name: str, argv: list[str], env: dict[str, str]) -> StartedProcess:
    """Start `argv` in its own session with output to logs/<name>.log, and record it in pids/<name>.json."""
    existing = recorded_process(state, name)
    if existing and existing.is_running():
        raise PlatformError(f"{name} is already running (pid {existing.pid}); run `epifeeds down` first")
    state.pids.mkdir(parents=True, exist_ok=True)
    state.logs.mkdir(parents=True, exist_ok=True)
    log_path = state.logs / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    started = StartedProcess(name, process.pid, argv, _start_time(process.pid) or "", str(log_path))
    (state.pids / f"{name}.json").write_text(json.dumps(started.__dict__), encoding="utf-8")
    return started


def recorded_process(state: StateDir, name: str) -> StartedProcess | None:
    path = state.pids / f"{name}.json"
    if not path.exists():
        return None
    return StartedProcess(**json.loads(path.read_text(encoding="utf-8")))


def recorded_processes(state: StateDir) -> list[StartedProcess]:
    if not state.pids.is_dir():
        return []
    found = [recorded_process(state, path.stem) for path in sorted(state.pids.glob("*.json"))]
    return [process for process in found if process is not None]


def _signal_group(pid: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def stop_recorded(state: StateDir, grace_seconds: float = 20.0) -> list[str]:
    """Stop every process the state folder records (their whole process groups); returns what was stopped.

    The api-server goes last (running tasks report their end through it), with a shorter grace: it keeps
    no state. Idempotent: processes already gone only lose their pid file."""
    processes = recorded_processes(state)
    alive = [p for p in processes if p.is_running()]
    last = [p for p in alive if p.name in STOPPED_LAST]
    stopped = _stop_groups([p for p in alive if p not in last], grace_seconds)
    stopped += _stop_groups(last, min(grace_seconds, 10.0))
    for process in processes:
        (state.pids / f"{process.name}.json").unlink(missing_ok=True)
    return stopped


def _stop_groups(alive: list[StartedProcess], grace_seconds: float) -> list[str]:
    """SIGTERM each process group, SIGKILL what is left after the grace period."""
    for process in alive:
        _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while any(p.is_running() for p in alive) and time.monotonic() < deadline:
        _reap(alive)
        time.sleep(0.2)
    stopped = []
    for process in alive:
        killed = process.is_running()
        stopped.append(f"{process.name} (pid {process.pid}{', killed' if killed else ''})")
        # Also what is left of a group whose leader exited (a worker that ignored SIGTERM).
        _signal_group(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(p.is_running() for p in alive) and time.monotonic() < deadline:
        _reap(alive)
        time.sleep(0.1)
    _reap(alive)
    return stopped


def _reap(processes: Iterable[StartedProcess]) -> None:
    """Collect exited children of this process (when it started them), so they stop being zombies."""
    for process in processes:
        with suppress(ChildProcessError):
            os.waitpid(process.pid, os.WNOHANG)


def start_airflow(
    state: StateDir, env: dict[str, str], components: Iterable[str] = AIRFLOW_COMPONENTS
) -> list[StartedProcess]:
    """Start the Airflow components (api-server first: the others' tasks talk to it)."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    argv = {
        "api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", env["AIRFLOW__API__PORT"]],
        "dag-processor": [airflow, "dag-processor"],
        "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
    }
    return [start_process(state, f"airflow-{name}", argv[name], env) for name in components]


# ------------------------------------------------------------------------------- the api-server's API


@dataclass
class AirflowApi:
    """The api-server's REST API (v2), logged in as the UI user."""

    base_url: str
    password: str
    user: str = UI_USER
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=30)

    def wait_until_up(self, processes: list[StartedProcess], timeout_seconds: float = 180) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            for process in processes:
                if not process.is_running():
                    raise PlatformError(f"{process.name} exited at start; see {process.log}")
            try:
                if self.client.get("/api/v2/monitor/health").status_code == 200:
                    self.login()
                    return
            except httpx.TransportError:
                pass
            time.sleep(1)
        raise PlatformError(
            f"the Airflow api-server did not answer on {self.base_url} within {timeout_seconds:.0f} s"
        )

    def close(self) -> None:
        self.client.close()

    def login(self) -> None:
        answer = self.client.post("/auth/token", json={"username": self.user, "password": self.password})
        if answer.status_code != 201:
            raise PlatformError(
                f"login to {self.base_url} as {self.user} failed: {answer.status_code} {answer.text}"
            )
        self.client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        answer = self.client.request(method, path, **kwargs)
        if answer.status_code == 401:  # the token expired: log in again
            self.login()
            answer = self.client.request(method, path, **kwargs)
        return answer

    def listed(self, path: str, what: str, **params: Any) -> list[dict[str, Any]]:
        """GET a list endpoint of the API: its `what` (e.g. "dags"), raising on an error status."""
        answer = self.request("GET", path, params=params)
        answer.raise_for_status()
        return answer.json()[what]

    def dag_ids(self, tag: str | None = None) -> set[str]:
        params: dict[str, Any] = {"limit": 1000} | ({"tags": tag} if tag else {})
        return {dag["dag_id"] for dag in self.listed("/api/v2/dags", "dags", **params)}

    def wait_for_dags(self, dag_ids: Iterable[str], timeout_seconds: float = 300) -> None:
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout_seconds
        while not wanted <= (seen := self.dag_ids()):
            if time.monotonic() > deadline:
                errors = self.request("GET", "/api/v2/importErrors").json().get("import_errors", [])
                raise PlatformError(
                    f"DAGs {sorted(wanted - seen)} were not parsed within {timeout_seconds:.0f} s; "
                    f"import errors: {[(e['filename'], e['stack_trace'][-300:]) for e in errors]}"
                )
            time.sleep(2)

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def trigger(self, dag_id: str, logical_date: datetime, run_id: str | None = None) -> str | None:
        """Create a run at `logical_date`; None when that run exists already (a repeated start)."""
        body: dict[str, Any] = {"logical_date": logical_date.astimezone(UTC).isoformat()}
        if run_id:
            body["dag_run_id"] = run_id
        answer = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        if answer.status_code == 409:
            return None
        answer.raise_for_status()
        return answer.json()["dag_run_id"]

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.listed(f"/api/v2/dags/{dag_id}/dagRuns", "dag_runs", limit=100)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.listed(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", "task_instances")


# ------------------------------------------------------------------------- alerts received on loopback


def serve_alert_inbox(port: int, out: Path) -> None:
    """Blocking: accept alert webhooks on 127.0.0.1:port and append each JSON body to `out` (JSONL)."""
    out.parent.mkdir(parents=True, exist_ok=True)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with out.open("a", encoding="utf-8") as inbox:
                inbox.write(json.dumps(json.loads(body), ensure_ascii=False) + "\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def received_alerts(state: StateDir) -> list[dict[str, Any]]:
    if not state.alerts_file.exists():
        return []
    return [json.loads(line) for line in state.alerts_file.read_text(encoding="utf-8").splitlines() if line]


def main(argv: list[str] | None = None) -> int:
    """`python -m epifeeds.local_platform alert-inbox --port P --out FILE` (what `epifeeds up` starts)."""
    parser = argparse.ArgumentParser(prog="python -m epifeeds.local_platform")
    commands = parser.add_subparsers(dest="command", required=True)
    inbox = commands.add_parser("alert-inbox", help="receive alert webhooks on loopback into a JSONL file")
    inbox.add_argument("--port", type=int, required=True)
    inbox.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    serve_alert_inbox(args.port, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
