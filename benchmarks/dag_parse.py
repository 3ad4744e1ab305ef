"""How long Airflow takes to parse each DAG file, beside a one-task DAG parsed the same way.

    .venv/bin/python benchmarks/dag_parse.py [--repeat 3]

Each file is parsed in a fresh Python process (Airflow already imported, the file's own imports
cold), as a dag-processor does for a changed file; the figure is the median of --repeat processes.
The baseline is a minimal DAG (one @task, no project imports) measured the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import PROJECT_ROOT, median, ratio, write_result  # noqa: E402

TARGET_SECONDS = 0.5
MINIMAL_DAG = """
from datetime import datetime
from airflow.sdk import dag, task

@dag(schedule=None, start_date=datetime(2022, 3, 1), catchup=False)
def minimal():
    @task
    def hello() -> None:
        pass
    hello()

minimal()
"""
PARSE_ONE = """
import json, sys, time
import airflow.sdk
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
seconds = time.perf_counter() - started
print("PARSE " + json.dumps({"seconds": seconds, "dags": sorted(bag.dag_ids), "errors": list(bag.import_errors)}))
"""


def parse_seconds(path: Path, repeat: int, env: dict[str, str]) -> dict:
    runs = []
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, "-c", PARSE_ONE, str(path)], env=env, capture_output=True, text=True, check=False
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("PARSE ")]
        if not lines:
            raise SystemExit(f"parsing {path} failed:\n{done.stderr[-3000:]}")
        [line] = lines
        runs.append(json.loads(line.removeprefix("PARSE ")))
    return {
        "seconds": round(median([r["seconds"] for r in runs]), 3),
        "dags": runs[0]["dags"],
        "import_errors": runs[0]["errors"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as scratch:
        env = os.environ | {
            "AIRFLOW_HOME": scratch,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "DO_NOT_TRACK": "1",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        }
        minimal = Path(scratch) / "minimal_dag.py"
        minimal.write_text(MINIMAL_DAG, encoding="utf-8")
        baseline = parse_seconds(minimal, args.repeat, env)["seconds"]
        files = {
            path.name: parse_seconds(path, args.repeat, env)
            for path in sorted((PROJECT_ROOT / "dags").glob("*.py"))
        }
    for figures in files.values():
        figures["ratio_vs_minimal_dag"] = ratio(figures["seconds"], baseline)
    slowest = max(files, key=lambda name: files[name]["seconds"])
    result = {
        "repeat": args.repeat,
        "target_seconds": TARGET_SECONDS,
        "minimal_dag_seconds": baseline,
        "files": files,
        "slowest_file": slowest,
        "slowest_seconds": files[slowest]["seconds"],
    }
    print(f"dag_parse: minimal DAG {baseline:.3f} s")
    for name, figures in files.items():
        print(
            f"  {name:<32} {figures['seconds']:.3f} s  x{figures['ratio_vs_minimal_dag']}  {figures['import_errors'] or ''}"
        )
    print(f"dag_parse: written {write_result('dag_parse', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
