"""The operator build_warehouse runs: one `dbt build`, dbt in the task's process, every node published.

``DbtRunnerBuildOperator`` calls dbt's own ``dbtRunner`` on ``dbt_project/`` as it is, the way a data
engineer runs ``dbt build`` by hand, with the same ``profiles.yml`` (its ``EPIFEEDS_PG_*`` variables
set from the ``epifeeds_warehouse`` connection) and the partial-parse state ``epifeeds setup`` leaves in
``dbt_project/target``. Measured beside a plain ``dbt build`` (docs/performance.md), the Cosmos
``DbtBuildLocalOperator`` it replaces spent its extra time on what this one does not do: cloning the
project into a temporary directory, writing a profile with ``--profile``/``--target`` flags (a
different parse state from ``dbt parse``'s, so the partial parse was often thrown away and all 421
nodes re-parsed), and Cosmos's import at DAG parse time (~1-2 s per parse of the DAG file).

Nothing heavy is imported here: dbt and psycopg load when the task runs, so parsing the DAG file stays
cheap. ``DbtBuildOperator`` (the Cosmos subclass, for the benchmark's side-by-side variant) is built on
first access only.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from epifeeds.settings import DBT_PROJECT_DIR, WAREHOUSE_CONN_ID, load_settings, pg_dsn

PARTIAL_PARSE_FILE = "partial_parse.msgpack"
RUN_RESULTS_FILE = "run_results.json"


class DbtBuildFailed(RuntimeError):
    """dbt build ended with errors or failing tests; the task log lists every node, problems first."""


class DbtRunnerBuildOperator(BaseOperator):
    """``dbt build`` of the whole project (or of ``select``) in-process, then ``epifeeds.dbt_results``:
    each node's status, seconds, rows and a failing test's rows to the task log, the XCom ``dbt_nodes``
    and dq.check_results, whether the build passed or not. Fails the task if dbt did."""

    template_fields = ("select",)
    ui_color = "#ff694a"

    def __init__(self, *, select: str | None = None, conn_id: str = WAREHOUSE_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.select = select
        self.conn_id = conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from epifeeds.dbt_results import publish_run_results

        work = load_settings().home / "var" / "dbt" / f"{self.dag_id}.{self.task_id}"
        target = work / "target"
        env, dsn = _warehouse_environment(self.conn_id)
        with _locked(work):
            _seed_partial_parse(target)
            (target / RUN_RESULTS_FILE).unlink(missing_ok=True)  # never publish an earlier build's results
            succeeded, error = run_dbt_build(target, work / "logs", env, self.select)
            if not (target / RUN_RESULTS_FILE).exists():
                raise DbtBuildFailed(f"dbt ran no node (no {RUN_RESULTS_FILE} in {target}): {error}")
            summary = publish_run_results(target, dsn)
        context["ti"].xcom_push(key="dbt_nodes", value=summary)
        if not succeeded:
            problems = {k: v for k, v in summary["counts"].items() if k not in ("success", "pass", "skipped")}
            raise DbtBuildFailed(
                f"dbt build failed ({problems}; invocation {summary['invocation_id']}): the log's first lines "
                "name the failing nodes and their rows. Fix the data or the contract, then clear this task."
            )
        return summary["counts"]


def run_dbt_build(target: Path, logs: Path, env: dict[str, str], select: str | None) -> tuple[bool, str]:
    """``dbt build`` through ``dbtRunner`` with ``env`` in ``os.environ`` (dbt's ``env_var()`` reads it),
    restored afterwards. Returns (success, dbt's exception if any)."""
    from dbt.cli.main import dbtRunner

    args = ["build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    args += ["--target-path", str(target), "--log-path", str(logs), "--no-use-colors"]
    if select:
        args += ["--select", *select.split()]
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        result = dbtRunner().invoke(args)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return bool(result.success), "" if result.exception is None else str(result.exception)


def _warehouse_environment(conn_id: str) -> tuple[dict[str, str], str]:
    """The variables ``dbt_project/profiles.yml`` reads, from the Airflow connection; and its DSN."""
    from airflow.sdk import Connection

    from epifeeds.warehouse import dbt_env_for

    conn = Connection.get(conn_id)
    dsn = pg_dsn(
        conn.host or "127.0.0.1", conn.port or 5432, conn.login or "", conn.password or "", conn.schema
    )
    return dbt_env_for(dsn), dsn


def _seed_partial_parse(target: Path) -> None:
    """Start from the newest partial-parse state: this task's own, or the one ``epifeeds setup`` wrote
    (``dbt parse``, same profile and flags, so dbt accepts it) when the project changed since."""
    shipped, own = DBT_PROJECT_DIR / "target" / PARTIAL_PARSE_FILE, target / PARTIAL_PARSE_FILE
    target.mkdir(parents=True, exist_ok=True)
    if shipped.exists() and (not own.exists() or shipped.stat().st_mtime > own.stat().st_mtime):
        shutil.copy2(shipped, own)


@contextmanager
def _locked(work: Path) -> Iterator[None]:
    """One build at a time per task directory (a retry never writes over a build still running)."""
    work.mkdir(parents=True, exist_ok=True)
    with open(work / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def __getattr__(name: str) -> Any:
    if name == "DbtBuildOperator":
        return _cosmos_build_operator()
    raise AttributeError(name)


def _cosmos_build_operator() -> type:
    """The Cosmos ``DbtBuildLocalOperator`` minus its OpenLineage pass (~5 s and ~400 warning lines per
    build, for a lineage backend the platform does not run): the earlier build_warehouse task, kept for
    ``epifeeds.warehouse.dbt_build_task`` and the benchmark's ``cosmos_one_build`` variant."""
    from cosmos.operators.local import DbtBuildLocalOperator

    class DbtBuildOperator(DbtBuildLocalOperator):
        def calculate_openlineage_events_completes(self, *args: Any, **kwargs: Any) -> bool:
            return False

    globals()["DbtBuildOperator"] = DbtBuildOperator  # built once per process
    return DbtBuildOperator
