"""The local platform under a real scheduler, for the scheduler tests (tests/integration/test_scheduler*.py):
its api-server, dag-processor and scheduler (LocalExecutor) started as processes by `epifeeds.local_platform`,
with their own metadata and warehouse databases (created, migrated, dropped), ports and state folder, the
simulator's district API and a loopback alert webhook. Every process (workers and tasks too) is checked
stopped at the end.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from epifeeds import local_platform as lp
from epifeeds.alerts.receiver import webhook_receiver
from epifeeds.settings import load_settings
from epifeeds_sim.server import serve_in_background
from tests.conftest import create_database, drop_database, dsn_for

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
TOKEN = "scheduler-test-token"


@dataclasses.dataclass
class Platform:
    api: lp.AirflowApi
    env: dict[str, str]
    warehouse_dsn: str
    metadata_dsn: str
    alerts: Any  # ReceivedMessages of the loopback webhook
    state: lp.StateDir


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def scheduler_platform(
    tmp: Path,
    *,
    dags: Path,
    sim: Path,
    dag_ids: Iterable[str],
    parallelism: int = 3,
    extra_env: dict[str, str] | None = None,
    before_start: Callable[[str], None] | None = None,
) -> Iterator[Platform]:
    """The platform running `dags` (a folder) against the simulation in `sim`, every DAG of `dag_ids`
    parsed and unpaused. `extra_env` (e.g. EPIFEEDS_* settings) goes to every component; `before_start`
    gets the warehouse DSN before the processes start (to prepare the warehouse)."""
    metadata_db = create_database("epifeeds_test_sched_af")
    warehouse_db = create_database("epifeeds_test_sched_wh")
    state = lp.StateDir(tmp / "state")
    try:
        with serve_in_background(sim, TOKEN) as api_url, webhook_receiver() as (webhook, received):
            settings = dataclasses.replace(
                load_settings(),
                home=tmp,
                airflow_dsn=dsn_for(metadata_db),
                warehouse_dsn=dsn_for(warehouse_db),
                district_api_url=api_url,
                district_api_token=TOKEN,
            )
            if before_start is not None:
                before_start(settings.warehouse_dsn)
            base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "EPIFEEDS_"))} | {
                "AIRFLOW_HOME": str(tmp / "airflow-home"),
                "EPIFEEDS_HOME": str(tmp),
                "EPIFEEDS_ARCHIVE_URL": str(tmp / "archive"),
                "EPIFEEDS_ALERT_RETRY_BACKOFF_SECONDS": "0.1",
                **(extra_env or {}),
            }
            env = lp.platform_environment(
                settings,
                state,
                api_port=_free_port(),
                parallelism=parallelism,
                dags_folder=dags,
                alert_webhook_url=webhook,
                base=base,
            )
            migrated = subprocess.run(
                [AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
            )
            assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
            with _running(state, env) as api:
                api.wait_for_dags(dag_ids, timeout_seconds=180)
                for dag_id in dag_ids:
                    api.unpause(dag_id)
                yield Platform(api, env, settings.warehouse_dsn, dsn_for(metadata_db), received, state)
    finally:
        drop_database(metadata_db)
        drop_database(warehouse_db)


@contextmanager
def _running(state: lp.StateDir, env: dict[str, str]) -> Iterator[lp.AirflowApi]:
    """api-server, dag-processor and scheduler up (logged in to the API); afterwards every one of them, and
    everything they started, stopped."""
    processes = lp.start_airflow(state, env, components=("api-server", "dag-processor", "scheduler"))
    api = None
    try:
        api = lp.AirflowApi(env["AIRFLOW__API__BASE_URL"], lp.load_or_create_secrets(state)["ui_password"])
        api.wait_until_up(processes)
        yield api
    finally:
        if api is not None:
            api.close()
        stopped = lp.stop_recorded(state)
        print("stopped:", stopped)
        assert len(stopped) == len(processes)
        assert members_of_groups({p.pid for p in processes}) == []  # workers and tasks too
        assert lp.recorded_processes(state) == [] and lp.stop_recorded(state) == []


def members_of_groups(group_ids: set[int]) -> list[str]:
    """Live processes (not zombies) in any of these process groups, as 'pid command'."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in group_ids and fields[0] not in ("Z", "X"):
            found.append(f"{stat.parent.name} {(stat.parent / 'cmdline').read_bytes()[:120]!r}")
    return found


def wait_for(what: str, probe: Callable[[], Any], timeout_seconds: float = 150) -> Any:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout_seconds:.0f} s waiting for {what}")


def finished_run(api: lp.AirflowApi, dag_id: str, run_id: str) -> dict | None:
    run = next(r for r in api.dag_runs(dag_id) if r["dag_run_id"] == run_id)
    return run if run["state"] in ("success", "failed") else None
