"""A city day end to end through Airflow, time per stage; then dbt in Airflow against a plain `dbt build`.

    .venv/bin/python benchmarks/city_day.py            # 3 simulated city days, the last one timed
    .venv/bin/python benchmarks/city_day.py --quick    # 2 days; dbt one_build, cosmos_one_build; history 30, 90

Own warehouse and Airflow databases and Airflow home (dropped afterwards); the simulator serves the
district API over HTTP and the file drop from disk, alerts go to a local webhook, exactly as
`epifeeds demo` runs. Every DAG of a report date runs with `dag.test()` (epifeeds.orchestration), in
a child process whose task callables are wrapped by stage timers (exclusive time):

    ingest    the land tasks (pull, archive, parse, COPY)
    gx        GX checkpoints (landing slices, marts) and Data Docs
    rules     the platform's own rules (district and file-feed rules, completeness, freshness)
    alerts    grouping findings, notices, delivery
    dbt       the dbt invocation(s) (DbtRunnerBuildOperator.execute, or Cosmos's run_command) and
              publishing run_results
    airflow   the rest of each DAG run's wall time: parsing the DAG folder, dag runs, task instances

Then, on the same warehouse, the dbt step alone, side by side: a plain `dbt build` on the CLI (the
baseline, run before and after), and build_warehouse variants through Airflow: `one_build` (what
build_warehouse runs: one in-process `dbt build` task), `cosmos_one_build` (the same build through
Cosmos's DbtBuildLocalOperator, the earlier task), `per_layer` (one task per layer) and `per_model`
(Cosmos's one task per model).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import PROJECT_ROOT, median, ratio, scratch_databases, timed, write_result  # noqa: E402

VARIANTS_DIR = Path(__file__).resolve().parent / "dbt_variants"
START = date(2022, 3, 1)
SEED = 7

# Which stage a wrapped callable's exclusive time counts for.
STAGE_OF = {
    "epifeeds.tasks:ingest_registries_for_run": "ingest",
    "epifeeds.tasks:ingest_testing_sites_for_run": "ingest",
    "epifeeds.tasks:ingest_isolation_hotels_for_run": "ingest",
    "epifeeds.tasks:ingest_district_reports_for_run": "ingest",
    "epifeeds.quality.gx_runner:validate_landing_slice": "gx",
    "epifeeds.quality.gx_runner:validate_landing_slices": "gx",
    "epifeeds.quality.gx_runner:validate_marts": "gx",
    "epifeeds.tasks:validate_changed_slices": "rules",
    "epifeeds.tasks:validate_district_reports": "rules",
    "epifeeds.tasks:watch_feeds": "rules",
    "epifeeds.alerts.notify:process_alerts": "alerts",
    "epifeeds.dbt_operator:DbtRunnerBuildOperator.execute": "dbt",
    "cosmos.operators.local:AbstractDbtLocalBase.run_command": "dbt",
}

CHILD = r"""
import json, sys, time
from datetime import date
sys.path.insert(0, sys.argv[3])
from benchmarks.city_day import install_stage_timers, STAGES
install_stage_timers()
from epifeeds.orchestration import chain_for, run_dag

days = [date.fromisoformat(d) for d in json.loads(sys.argv[1])]
mode = sys.argv[2]
out = []
for day in days:
    plan = chain_for(day) if mode == "chain" else [(dag_id, None) for dag_id in json.loads(mode)]
    for dag_id, logical_date in plan:
        STAGES.clear()
        started = time.perf_counter()
        if mode == "chain":
            run = run_dag(dag_id, logical_date)
        else:  # a benchmark variant, from the dags folder this child was given
            import os
            from airflow.dag_processing.dagbag import DagBag
            run = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags[dag_id].test()
        wall = time.perf_counter() - started
        out.append({"report_date": day.isoformat(), "dag_id": dag_id, "state": str(run.state),
                    "wall": wall, "stages": dict(STAGES)})
print("RESULT " + json.dumps(out))
"""

STAGES: dict[str, float] = {}
_stack: list[list[float]] = []


def install_stage_timers() -> None:
    """Wrap each callable of STAGE_OF so that its exclusive time adds to its stage (in this process)."""
    import functools
    import importlib

    for target, stage in STAGE_OF.items():
        module_name, attribute = target.split(":")
        owner = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name)

        def wrapper(*args, _original=original, _stage=stage, **kwargs):
            _stack.append([time.perf_counter(), 0.0])  # [started, time spent in nested stages]
            try:
                return _original(*args, **kwargs)
            finally:
                started, nested = _stack.pop()
                elapsed = time.perf_counter() - started
                STAGES[_stage] = STAGES.get(_stage, 0.0) + elapsed - nested
                if _stack:
                    _stack[-1][1] += elapsed

        setattr(owner, name, functools.wraps(original)(wrapper))


def _environment(home: Path, warehouse: str, metadata: str, dags_folder: Path) -> dict[str, str]:
    from epifeeds.orchestration import airflow_environment
    from epifeeds.settings import load_settings

    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "EPIFEEDS_"))}
    os.environ.update(
        {"EPIFEEDS_WAREHOUSE_DB": warehouse, "EPIFEEDS_AIRFLOW_DB": metadata, "EPIFEEDS_HOME": str(home)}
    )
    env = (
        base
        | airflow_environment(load_settings())
        | {
            "EPIFEEDS_WAREHOUSE_DB": warehouse,
            "EPIFEEDS_AIRFLOW_DB": metadata,
            "EPIFEEDS_HOME": str(home),
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "EPIFEEDS_ARCHIVE_URL": str(home / "archive"),
        }
    )
    return env


def _run_child(env: dict[str, str], days: list[date], mode: str, log: Path) -> list[dict]:
    with log.open("a", encoding="utf-8") as log_file:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps([d.isoformat() for d in days]), mode, str(PROJECT_ROOT)],
            env=env,
            cwd=env["EPIFEEDS_HOME"],
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            check=False,
        )
    with log.open("a", encoding="utf-8") as log_file:
        log_file.write(done.stdout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"benchmark child failed (exit {done.returncode}); see {log}\n{done.stdout[-2000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def _stage_table(runs: list[dict]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for run in runs:
        inside = 0.0
        for stage, seconds in run["stages"].items():
            totals[stage] = totals.get(stage, 0.0) + seconds
            inside += seconds
        totals["airflow"] = totals.get("airflow", 0.0) + run["wall"] - inside
    return {stage: round(seconds, 2) for stage, seconds in sorted(totals.items(), key=lambda kv: -kv[1])}


def _plain_dbt_build(env: dict[str, str], scratch: Path) -> float:
    """`dbt build` on the CLI as a data engineer runs it in dbt_project/: from the partial-parse state
    there (what `epifeeds setup` leaves, and what the Airflow task starts from too), not a full parse."""
    from epifeeds.warehouse import DBT_TARGET_DIR, PARTIAL_PARSE_FILE, run_dbt

    target = Path(tempfile.mkdtemp(prefix="plain-", dir=scratch))
    if (DBT_TARGET_DIR / PARTIAL_PARSE_FILE).exists():
        shutil.copy2(DBT_TARGET_DIR / PARTIAL_PARSE_FILE, target / PARTIAL_PARSE_FILE)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        seconds, _ = timed(lambda: run_dbt(["build"], target_path=target, log_path=target / "logs"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return seconds


def _replicate_history(dsn: str, history_days: int) -> dict[str, int]:
    """Copy the first landed day's rows of every daily landing table back to `history_days` days in all."""
    import psycopg

    counts = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = _daily_landing_tables(conn)
        for table, columns in tables.items():
            first, last = conn.execute(
                f"select min(report_date), max(report_date) from landing.{table}"
            ).fetchone()
            if first is None:
                continue
            extra = history_days - ((last - first).days + 1)
            # each copied day as it would have landed, g days earlier: a year of history is not one
            # day's load (the data tests' window, macro recent_report_dates, reads `_loaded_at`)
            shifted = {"report_date": "report_date - g", "_loaded_at": "_loaded_at - g * interval '1 day'"}
            select = ", ".join(shifted.get(c, c) for c in columns)
            conn.execute(
                f"insert into landing.{table} ({', '.join(columns)}) select {select} from landing.{table}"
                f" cross join generate_series(1, {max(extra, 0)}) as g where report_date = %s",
                (first,),
            )
            counts[table] = conn.execute(f"select count(*) from landing.{table}").fetchone()[0]
    return counts


def _land_one_more_day(dsn: str) -> None:
    """The newest day's rows again as the next day, landed now: what an ingest of one more day adds."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        for table, columns in _daily_landing_tables(conn).items():
            select = ", ".join(
                "report_date + 1" if c == "report_date" else ("now()" if c == "_loaded_at" else c)
                for c in columns
            )
            conn.execute(
                f"insert into landing.{table} ({', '.join(columns)}) select {select} from landing.{table}"
                f" where report_date = (select max(report_date) from landing.{table})"
            )


def _daily_landing_tables(conn) -> dict[str, list[str]]:
    rows = conn.execute(
        """
        select c.table_name, array_agg(c.column_name::text order by c.ordinal_position)
        from information_schema.columns as c
        join information_schema.tables as t using (table_schema, table_name)
        where c.table_schema = 'landing' and t.table_type = 'BASE TABLE'  -- not the __current views
            and c.table_name not in ('batches', 'rejects', 'copy_baseline')
            and c.column_default is null and c.is_generated = 'NEVER'
        group by c.table_name
        having bool_or(c.column_name = 'report_date')
        """
    ).fetchall()
    return {table: columns for table, columns in rows}


def _one_more_day(env: dict[str, str], warehouse: str, history_days: int, scratch: Path) -> dict:
    """Clone the warehouse, give it `history_days` of history, build; then time one more day's build + GX."""
    import psycopg

    from benchmarks.common import admin_dsn
    from epifeeds.quality.gx_runner import validate_marts

    clone = f"{warehouse}_h{history_days}"
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'create database "{clone}" template "{warehouse}"')
    try:
        dsn = admin_dsn().rsplit("/", 1)[0] + "/" + clone
        rows = _replicate_history(dsn, history_days)
        clone_env = env | {"EPIFEEDS_WAREHOUSE_DB": clone}
        _plain_dbt_build(clone_env, scratch)  # the history, built once (not timed)
        _land_one_more_day(dsn)
        build = _plain_dbt_build(clone_env, scratch)
        checks, _ = timed(lambda: validate_marts(dsn, f"bench-history-{history_days}"))
    finally:
        with psycopg.connect(admin_dsn(), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{clone}" with (force)')
    return {"landing_rows": rows, "dbt_build": round(build, 2), "gx_marts": round(checks, 2),
            "total": round(build + checks, 2)}  # fmt: skip


def _dbt_variants(env: dict[str, str], home: Path, day: date, variants: list[str], log: Path) -> dict:
    """The dbt step alone through Airflow, each variant once, between two plain `dbt build`s (baseline)."""
    dbt: dict = {}
    plain = [_plain_dbt_build(env, home)]
    variants_folder = home / "variant_dags"
    variants_folder.mkdir()
    for variant in variants:
        shutil.copy(VARIANTS_DIR / f"build_warehouse__{variant}.py", variants_folder)
    variant_env = env | {"AIRFLOW__CORE__DAGS_FOLDER": str(variants_folder)}
    for variant in variants:
        [run] = _run_child(variant_env, [day], json.dumps([f"build_warehouse__{variant}"]), log)
        if "success" not in run["state"]:
            raise SystemExit(f"city_day: variant {variant} failed; see {log}")
        dbt[variant] = {"wall": round(run["wall"], 2), "stages": _stage_table([run])}
    plain.append(_plain_dbt_build(env, home))
    baseline = median(plain)
    for variant in variants:
        dbt[variant]["ratio_vs_plain_dbt_build"] = ratio(dbt[variant]["wall"], baseline)
    dbt["plain_dbt_build"] = {"runs": [round(s, 2) for s in plain], "median": round(baseline, 2)}
    return dbt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3, help="simulated days; the last one is the timed day")
    parser.add_argument(
        "--quick", action="store_true", help="2 days, dbt variants one_build and cosmos_one_build"
    )
    parser.add_argument("--scale", choices=("city", "small"), default="city")
    parser.add_argument(
        "--variants", default=None, help="comma list of one_build,cosmos_one_build,per_layer,per_model"
    )
    parser.add_argument("--no-variants", action="store_true")
    parser.add_argument(
        "--history-days",
        default=None,
        help="one more day after each history (default 30,365; quick 30,90; 0 skips)",
    )
    args = parser.parse_args(argv)
    days = 2 if args.quick else args.days
    quick_variants, all_variants = (
        "one_build,cosmos_one_build",
        "one_build,cosmos_one_build,per_layer,per_model",
    )
    variants = (args.variants or (quick_variants if args.quick else all_variants)).split(",")
    sys.path.insert(0, str(PROJECT_ROOT / "plugins"))

    from epifeeds.alerts.receiver import webhook_receiver
    from epifeeds.bi_access import ensure_bi_reader
    from epifeeds.settings import DAGS_DIR, load_settings
    from epifeeds.warehouse import build_manifest
    from epifeeds_sim.generate import generate
    from epifeeds_sim.server import serve_in_background

    report_dates = [START + timedelta(days=n) for n in range(days)]
    with ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-city-day-")))
        warehouse, metadata = stack.enter_context(scratch_databases("bench_wh", "bench_af"))
        log = PROJECT_ROOT / "var" / "logs" / "bench-city-day.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("", encoding="utf-8")
        env = _environment(home, warehouse, metadata, DAGS_DIR)
        settings = load_settings()
        ensure_bi_reader(settings.admin_dsn, settings.warehouse_dsn)
        build_manifest(settings)  # what `epifeeds setup` does: the DAGs render from the current project
        setup_seconds, _ = timed(
            lambda: subprocess.run(
                [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
                env=env, capture_output=True, check=True,
            )
        )  # fmt: skip
        sim_dir = home / "sim"
        sim_seconds, truth = timed(
            lambda: generate(sim_dir, days=days, seed=SEED, faults="default", scale=args.scale)
        )
        api_url = stack.enter_context(serve_in_background(sim_dir, settings.district_api_token))
        webhook_url, received = stack.enter_context(webhook_receiver())
        from epifeeds.orchestration import airflow_environment

        env |= {
            "AIRFLOW_CONN_EPIFEEDS_DISTRICT_API": airflow_environment(settings, api_url)[
                "AIRFLOW_CONN_EPIFEEDS_DISTRICT_API"
            ],
            "EPIFEEDS_DISTRICT_API_URL": api_url,
            "EPIFEEDS_ALERT_WEBHOOK_URL": webhook_url,
            "EPIFEEDS_FILE_DROP_URL": str(sim_dir / "file_drop"),
            "EPIFEEDS_REGISTRY_URL": str(sim_dir / "registries"),
        }
        print(f"city_day: {days} {args.scale} days, seed {SEED}; airflow db migrate {setup_seconds:.0f} s,"
              f" simulation {sim_seconds:.0f} s", flush=True)  # fmt: skip
        chain = _run_child(env, report_dates, "chain", log)
        failed = [r for r in chain if "success" not in r["state"]]
        if failed:
            raise SystemExit(f"city_day: DAG runs failed: {failed}; see {log}")
        per_day = {}
        for day in report_dates:
            runs = [r for r in chain if r["report_date"] == day.isoformat()]
            per_day[day.isoformat()] = {
                "wall": round(sum(r["wall"] for r in runs), 2),
                "stages": _stage_table(runs),
                "dag_runs": {r["dag_id"]: round(r["wall"], 2) for r in runs},
            }
            print(f"  {day}: {per_day[day.isoformat()]['wall']:.1f} s  {per_day[day.isoformat()]['stages']}",
                  flush=True)  # fmt: skip
        timed_day = per_day[report_dates[-1].isoformat()]
        dbt: dict = {}
        history: dict = {}

        def record() -> Path:  # after each phase, so a run cut short keeps what it measured
            result = {
                "seed": SEED,
                "scale": args.scale,
                "days": days,
                "quick": args.quick,
                "feeds": truth.feeds,
                "timed_report_date": report_dates[-1].isoformat(),
                "city_day_wall": timed_day["wall"],
                "city_day_stages": timed_day["stages"],
                "city_day_dag_runs": timed_day["dag_runs"],
                "per_day": per_day,
                "alerts_delivered": len(received.messages),
                "dbt": dbt,
                "one_more_day_after_history": history,
            }
            return write_result("city_day" + ("_quick" if args.quick else ""), result)

        record()

        if not args.no_variants:
            dbt.update(_dbt_variants(env, home, report_dates[-1], variants, log))
            for name, figures in dbt.items():
                print(f"  dbt {name}: {figures}", flush=True)
            record()

        history_spans = args.history_days or ("30,90" if args.quick else "30,365")
        if history_spans != "0":
            for history_days in [int(h) for h in history_spans.split(",")]:
                history[str(history_days)] = _one_more_day(env, warehouse, history_days, home)
                print(f"  one more day after {history_days} days: {history[str(history_days)]}", flush=True)
            first, *_, last = list(history) if len(history) > 1 else [*history, *history]
            history["ratio"] = ratio(history[last]["total"], history[first]["total"])
        written = record()

    print(f"city_day: timed day {report_dates[-1]}: {timed_day['wall']:.1f} s; written {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
