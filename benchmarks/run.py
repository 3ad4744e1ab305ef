"""`make bench`: run every benchmark, record each as JSON in benchmarks/results/, rewrite the table
in docs/performance.md, and print it.

    .venv/bin/python benchmarks/run.py            # the full run (24 minutes on 2 cores at load 2-5)
    .venv/bin/python benchmarks/run.py --quick    # shorter simulations, fewer variants (~4 minutes)
    .venv/bin/python benchmarks/run.py --only city_day --quick
    .venv/bin/python benchmarks/run.py --table    # only rewrite the table from the recorded results

Benchmarks are not tests: no figure is asserted. Each target is printed beside its measured ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import BENCH_DIR, PROJECT_ROOT, RESULTS_DIR  # noqa: E402

BENCHMARKS = ("dag_parse", "landing", "city_day")
DOC = PROJECT_ROOT / "docs" / "performance.md"
START, END = "<!-- bench:table:start -->", "<!-- bench:table:end -->"


def _load(name: str, quick: bool) -> dict | None:
    for candidate in (f"{name}_quick", name) if quick else (name, f"{name}_quick"):
        path = RESULTS_DIR / f"{candidate}.json"
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
    return None


def _row(target: str, measured: str, value: float | None, limit: float, *, at_most: bool = True) -> str:
    if value is None:
        return f"| {target} | not measured | | |"
    met = value <= limit if at_most else value >= limit
    return f"| {target} | {measured} | {value:g} | {'met' if met else '**not met**'} |"


def render_table(quick: bool) -> str:
    parse, landing, city = _load("dag_parse", quick), _load("landing", quick), _load("city_day", quick)
    rows = ["| target | measured (same run, same machine) | ratio | |", "| --- | --- | --- | --- |"]
    if city and city.get("dbt"):
        dbt = city["dbt"]
        plain = dbt["plain_dbt_build"]["median"]
        for variant, label in (("one_build", "build_warehouse (one in-process `dbt build` task)"),
                               ("cosmos_one_build", "one Cosmos `dbt build` task (before)"),
                               ("per_layer", "one task per layer"),
                               ("per_model", "one Cosmos task per model (before that)")):  # fmt: skip
            if variant in dbt:
                rows.append(
                    _row(
                        f"dbt in Airflow ≤ 1.3× plain `dbt build`: {label}",
                        f"{dbt[variant]['wall']:.1f} s vs {plain:.1f} s",
                        dbt[variant]["ratio_vs_plain_dbt_build"],
                        1.3,
                    )
                )
    else:
        rows.append(_row("dbt in Airflow ≤ 1.3× plain `dbt build`", "", None, 1.3))
    if landing:
        copy = landing["psql_copy"]["rows_per_second"]
        rows.append(_row("landing CSV ≥ 60% of `psql \\copy`", f"{landing['csv']['rows_per_second']:,} vs {copy:,} rows/s",
                         landing["csv"]["share_of_copy"], 0.6, at_most=False))  # fmt: skip
        rows.append(_row("landing XLSX within 3× of CSV (time per row)",
                         f"{landing['xlsx']['rows_per_second']:,} vs {landing['csv']['rows_per_second']:,} rows/s",
                         landing["xlsx_vs_csv_time_per_row"], 3))  # fmt: skip
    else:
        rows.append(_row("landing CSV ≥ 60% of `psql \\copy`", "", None, 0.6))
    history = (city or {}).get("one_more_day_after_history") or {}
    if "ratio" in history:
        spans = [k for k in history if k != "ratio"]
        rows.append(_row(f"one more day after {spans[-1]} days ≤ 1.2× after {spans[0]} (dbt build + GX marts)",
                         f"{history[spans[-1]]['total']:.1f} s vs {history[spans[0]]['total']:.1f} s",
                         history["ratio"], 1.2))  # fmt: skip
    else:
        rows.append(_row("one more day after 365 days ≤ 1.2× after 30", "", None, 1.2))
    if city:
        stages = ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in city["city_day_stages"].items())
        rows.append(_row(f"a city day end to end < 40 s (ratio to 40 s; {city['scale']} scale, day {city['days']})",
                         f"{city['city_day_wall']:.1f} s: {stages}", round(city["city_day_wall"] / 40, 2), 1))  # fmt: skip
    if parse:
        rows.append(_row("DAG parsing < 0.5 s per file (ratio to 0.5 s)",
                         f"slowest {parse['slowest_file']} {parse['slowest_seconds']:.2f} s; one-task DAG "
                         f"{parse['minimal_dag_seconds']:.2f} s", round(parse["slowest_seconds"] / 0.5, 2), 1))  # fmt: skip
    machine = (city or landing or parse or {}).get("machine", {})
    recorded = ", ".join(sorted({r["recorded_at"] for r in (city, landing, parse) if r}))
    rows.append("")
    rows.append(
        f"Recorded {recorded} on {machine.get('cores')} cores, {machine.get('memory_gb')} GB, load "
        f"{machine.get('load_average_1m')} at the end; {'--quick' if quick else 'full'} run; "
        f"raw figures in `benchmarks/results/`."
    )
    return "\n".join(rows)


def rewrite_doc(table: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{DOC} has no {START} ... {END} block to rewrite")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{table}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=BENCHMARKS, action="append")
    parser.add_argument("--table", action="store_true", help="only rewrite the table from recorded results")
    args = parser.parse_args(argv)
    if not args.table:
        for name in args.only or BENCHMARKS:
            command = [sys.executable, str(BENCH_DIR / f"{name}.py"), *(["--quick"] if args.quick else [])]
            if name == "dag_parse" and args.quick:
                command = command[:-1] + ["--repeat", "1"]
            print(f"bench: {' '.join(Path(c).name if c.startswith('/') else c for c in command)}", flush=True)
            done = subprocess.run(command, cwd=PROJECT_ROOT, check=False)
            if done.returncode != 0:
                print(f"bench: {name} failed (exit {done.returncode})", file=sys.stderr)
                return done.returncode
    table = render_table(args.quick)
    rewrite_doc(table)
    print(table)
    print(f"bench: table rewritten in {DOC.relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
