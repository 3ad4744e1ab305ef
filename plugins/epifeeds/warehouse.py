"""The dbt warehouse: how dbt is invoked (CLI and tests) and how Cosmos renders it into Airflow.

The DAG renders from a pre-built ``manifest.json`` (``LoadMode.DBT_MANIFEST``, built by
``epifeeds setup`` with ``dbt parse``, which needs no database), so parsing the DAG file never runs dbt. Run-time dbt gets its connection from the ``epifeeds_warehouse`` Airflow
connection through a Cosmos profile mapping; ``dbt_project/profiles.yml`` is only for dbt by hand and
for tests.

Telemetry: dbt's is off in ``dbt_project.yml`` (``flags.send_anonymous_usage_stats``) and through
``DO_NOT_TRACK``/``DBT_SEND_ANONYMOUS_USAGE_STATS`` below. Cosmos's own telemetry is read from the
environment of the Airflow processes (``AIRFLOW__COSMOS__ENABLE_TELEMETRY=False`` and ``DO_NOT_TRACK=1``)
when Cosmos is first imported, so the caller (the ``epifeeds`` CLI, docker-compose, the test harness)
sets those; setting them here would be too late.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from epifeeds.settings import DBT_PROJECT_DIR, WAREHOUSE_CONN_ID, Settings, load_settings

if TYPE_CHECKING:
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig

    from epifeeds.dbt_operator import DbtBuildOperator

DBT_PROJECT_NAME = "epifeeds"
DBT_PROFILE_NAME = "epifeeds"
DBT_TARGET_NAME = "warehouse"
DBT_TARGET_DIR = DBT_PROJECT_DIR / "target"
MANIFEST_PATH = DBT_TARGET_DIR / "manifest.json"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"

TELEMETRY_OFF = {"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


class DbtCommandError(RuntimeError):
    """A dbt command failed; the message carries the command and dbt's own output."""


def dbt_executable() -> Path:
    """The dbt installed in the same environment as this Python (the project's virtualenv)."""
    return Path(sys.executable).parent / "dbt"


def dbt_env(settings: Settings | None = None) -> dict[str, str]:
    """Environment variables ``dbt_project/profiles.yml`` reads, with dbt's telemetry off, for the
    settings' warehouse (``EPIFEEDS_WAREHOUSE_DSN``, or the one the EPIFEEDS_PG_* parts make), so dbt by
    hand and the platform always read the same database. Merge over ``os.environ`` when running a
    subprocess: ``{**os.environ, **dbt_env(settings)}``.
    """
    return dbt_env_for((settings or load_settings()).warehouse_dsn)


def dbt_env_for(dsn: str) -> dict[str, str]:
    """The one place the dbt environment is built: ``profiles.yml``'s variables for a warehouse DSN (the
    CLI, ``run_dbt``, the Airflow environment and build_warehouse's dbt task all take it from here)."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(dsn)
    return {
        "EPIFEEDS_PG_HOST": str(parts.get("host", "")),
        "EPIFEEDS_PG_PORT": str(parts.get("port", "5432")),
        "EPIFEEDS_PG_USER": str(parts.get("user", "")),
        "EPIFEEDS_PG_PASSWORD": str(parts.get("password", "")),
        "EPIFEEDS_WAREHOUSE_DB": str(parts.get("dbname", "")),
        **TELEMETRY_OFF,
    }


def run_dbt(
    args: list[str],
    settings: Settings | None = None,
    *,
    target_path: Path | None = None,
    log_path: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``dbt <args>`` on the project with the local profile; raise ``DbtCommandError`` on failure.

    ``target_path``/``log_path`` let concurrent runs (tests, the CLI) keep their artifacts apart.
    """
    command = [
        str(dbt_executable()),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_path or DBT_TARGET_DIR),
    ]
    if log_path is not None:
        command += ["--log-path", str(log_path)]
    result = subprocess.run(
        command,
        env={**os.environ, **dbt_env(settings)},
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DbtCommandError(
            f"`{' '.join(command)}` failed with exit code {result.returncode}. Fix the dbt project "
            f"(or the warehouse connection) and re-run. dbt said:\n{result.stdout}{result.stderr}"
        )
    return result


def build_manifest(settings: Settings | None = None) -> Path:
    """Run ``dbt parse`` (no database needed) and return the path of the fresh ``manifest.json``.

    dbt writes into a scratch target directory and the manifest is then moved into
    ``dbt_project/target`` in one step, so a DAG processor never reads a half-written file.
    """
    DBT_TARGET_DIR.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".parse-", dir=DBT_TARGET_DIR))
    try:
        run_dbt(["parse"], settings, target_path=scratch, log_path=scratch / "logs")
        # Cosmos seeds each task's dbt run with the partial-parse state next to the manifest.
        if (scratch / PARTIAL_PARSE_FILE).exists():
            os.replace(scratch / PARTIAL_PARSE_FILE, DBT_TARGET_DIR / PARTIAL_PARSE_FILE)
        os.replace(scratch / "manifest.json", MANIFEST_PATH)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return MANIFEST_PATH


class ManifestMissing(RuntimeError):
    """The DAG renders from a pre-built manifest; parsing the DAG never runs dbt."""


def cosmos_configs(
    manifest: Path = MANIFEST_PATH,
) -> tuple[ProjectConfig, ProfileConfig, RenderConfig, ExecutionConfig]:
    """The Cosmos configuration for the warehouse project: rendered from the manifest, run in-process."""
    from cosmos import ExecutionConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    project_config = ProjectConfig(
        dbt_project_path=DBT_PROJECT_DIR,
        manifest_path=manifest,
        project_name=DBT_PROJECT_NAME,
        install_dbt_deps=False,  # no packages.yml; dbt hub is unreachable anyway
        env_vars=dict(TELEMETRY_OFF),
    )
    profile_config = _profile_config()
    render_config = RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        test_behavior=TestBehavior.BUILD,  # one `dbt build` task per model: the model, then its tests, gating its children
        # A test with two parents (relationships) gets its own task after both; otherwise dbt's eager
        # indirect selection runs it with whichever parent finishes first, before the other exists.
        should_detach_multiple_parents_tests=True,
        # Sources are not rendered: freshness is `dbt source freshness`'s job, and historical replays
        # would fail it.
    )
    execution_config = ExecutionConfig(
        execution_mode=ExecutionMode.LOCAL,
        invocation_mode=InvocationMode.DBT_RUNNER,  # dbtRunner in the worker process: no subprocess per task
        dbt_executable_path=dbt_executable(),
    )
    return project_config, profile_config, render_config, execution_config


def dbt_build_task(
    task_id: str = "dbt_build", *, select: str | None = None, **kwargs: Any
) -> DbtBuildOperator:
    """One Cosmos task running ``dbt build`` of the whole project (or of ``select``), dbt in-process.

    Why one task: every dbt invocation pays a fixed start-up (project load, partial parse, adapter and
    relation cache: ~2.8 s on the CLI), so one task per model spent 5x the build itself
    (docs/performance.md). dbt orders the nodes, runs each model's tests before its children and skips
    what a failing test gates, exactly as the per-model tasks did. Per-node visibility moves to
    ``epifeeds.dbt_results``: after every build, passed or not, each node's status, seconds, rows and a
    failing test's rows go to the task log, the task's XCom ``dbt_nodes`` and dq.check_results.
    Call inside a DAG context; ``kwargs`` go to the operator.
    """
    from cosmos.constants import InvocationMode

    from epifeeds.dbt_operator import DbtBuildOperator
    from epifeeds.dbt_results import publish_from_cosmos

    _require_manifest(MANIFEST_PATH)
    return DbtBuildOperator(
        task_id=task_id,
        project_dir=str(DBT_PROJECT_DIR),
        profile_config=_profile_config(),
        select=select,
        invocation_mode=InvocationMode.DBT_RUNNER,  # no subprocess: dbt's imports are paid once per worker
        dbt_executable_path=str(dbt_executable()),
        env=dict(TELEMETRY_OFF),
        append_env=True,
        emit_datasets=False,  # the landing Assets trigger the build; marts are read by BI, not by DAGs
        callback=publish_from_cosmos,
        **kwargs,
    )


def _require_manifest(manifest: Path) -> None:
    if not manifest.exists():
        raise ManifestMissing(
            f"dbt manifest {manifest} is missing: run `epifeeds setup` (or `make setup`) to build it"
        )


def dbt_task_group(group_id: str = "dbt", *, manifest: Path | None = None, **kwargs: Any) -> DbtTaskGroup:
    """A Cosmos task group with one task per seed, snapshot and model (with its tests).

    Not what build_warehouse runs (see ``dbt_build_task``): kept so `make bench` can measure it side by
    side. Call inside a DAG context. ``kwargs`` go to ``DbtTaskGroup`` (e.g. ``operator_args``).
    """
    from cosmos import DbtTaskGroup

    manifest = manifest or MANIFEST_PATH
    _require_manifest(manifest)
    project_config, profile_config, render_config, execution_config = cosmos_configs(manifest)
    return DbtTaskGroup(
        group_id=group_id,
        project_config=project_config,
        profile_config=profile_config,
        render_config=render_config,
        execution_config=execution_config,
        **kwargs,
    )


def _profile_config() -> ProfileConfig:
    """dbt's profile from the ``epifeeds_warehouse`` Airflow connection (never a committed password)."""
    from cosmos import ProfileConfig

    return ProfileConfig(
        profile_name=DBT_PROFILE_NAME,
        target_name=DBT_TARGET_NAME,
        profile_mapping=_postgres_profile_mapping(),
    )


def _postgres_profile_mapping() -> Any:
    """Cosmos's Postgres user/password mapping of the warehouse connection, tolerating no password.

    The stock mapping raises "Could not find a value for secret field password" for a connection
    without one, which is how a trust- or peer-authenticated local Postgres is configured.
    """
    from cosmos.profiles import PostgresUserPasswordProfileMapping

    class _PasswordOptionalMapping(PostgresUserPasswordProfileMapping):
        def get_dbt_value(self, name: str) -> Any:
            value = super().get_dbt_value(name)
            return "" if name == "password" and value is None else value

    return _PasswordOptionalMapping(conn_id=WAREHOUSE_CONN_ID, profile_args={"schema": "public"})
