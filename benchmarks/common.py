"""What every benchmark shares: the machine's description, throw-away databases, results as JSON.

Benchmarks are not tests: nothing here asserts a time. Each figure is reported beside a baseline
measured in the same run, as a ratio, so a loaded machine changes both sides alike.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PACKAGES = (
    "apache-airflow",
    "astronomer-cosmos",
    "dbt-core",
    "dbt-postgres",
    "great_expectations",
    "psycopg",
)


def machine() -> dict[str, Any]:
    """Cores, memory, load and the versions that matter, recorded with every result."""
    memory_kb = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    postgres = subprocess.run(
        ["psql", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgres_client": postgres,
        "versions": versions,
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    """benchmarks/results/<name>.json (the latest run; git history keeps the earlier ones)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    document = {"benchmark": name, "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"), **result}
    document["machine"] = machine()
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def admin_dsn() -> str:
    sys.path.insert(0, str(PROJECT_ROOT / "plugins"))
    from epifeeds.settings import load_settings

    return load_settings().admin_dsn


@contextmanager
def scratch_databases(*prefixes: str) -> Iterator[list[str]]:
    """Uniquely named databases, dropped afterwards whatever happens."""
    import psycopg

    names = [f"{prefix}_{uuid.uuid4().hex[:8]}" for prefix in prefixes]
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        for name in names:
            conn.execute(f'create database "{name}"')
    try:
        yield names
    finally:
        with psycopg.connect(admin_dsn(), autocommit=True) as conn:
            for name in names:
                conn.execute(f'drop database if exists "{name}" with (force)')


def ratio(value: float, baseline: float) -> float:
    return round(value / baseline, 2) if baseline else float("nan")
