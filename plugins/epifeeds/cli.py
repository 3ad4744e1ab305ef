"""The `epifeeds` command: setup, run (backfill through Airflow), status, findings, import-bulletin, roster.

A developer install adds the simulator's `demo` and `sim` commands (entry points `epifeeds.commands`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from importlib.metadata import entry_points
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from epifeeds import orchestration
from epifeeds.settings import Settings, SettingsError, load_settings

console = Console()
WAREHOUSE_SCHEMAS = ("landing", "dq", "seeds", "staging", "intermediate", "snapshots", "marts")


def prepare(settings: Settings, *, quiet_airflow: bool) -> None:
    """Environment, databases, Airflow metadata and the dbt manifest: everything a run needs (idempotent)."""
    env = orchestration.airflow_environment(settings)
    if quiet_airflow:
        env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    orchestration.apply_environment(env)
    orchestration.check_postgres(settings)
    for name in orchestration.ensure_databases(settings):
        console.print(f"created database [bold]{name}[/]")
    from epifeeds.bi_access import ensure_bi_reader

    ensure_bi_reader(settings.admin_dsn, settings.warehouse_dsn)  # dbt grants the marts to this role
    orchestration.migrate_airflow_db()
    from epifeeds.warehouse import build_manifest

    build_manifest(settings)


def cmd_setup(args: argparse.Namespace) -> int:
    settings = load_settings()
    prepare(settings, quiet_airflow=True)
    console.print(
        f"ready: databases {settings.warehouse_db} and {settings.airflow_db} on {settings.pg_host}:{settings.pg_port},"
        f" Airflow home {settings.airflow_home}, dbt manifest built"
    )
    return 0


def run_report_dates(report_dates: list[date], step: Callable[[str], None] | None = None) -> list[dict]:
    """The whole DAG chain through Airflow for each report date, in order; returns one record per DAG run."""
    from epifeeds.orchestration import chain_for, run_dag

    runs = []
    for report_date in report_dates:
        plan = chain_for(report_date)
        for dag_id, logical_date in plan:
            if step:
                step(f"{report_date} {dag_id}")
            dag_run = run_dag(dag_id, logical_date)
            state = str(getattr(dag_run, "state", "unknown"))
            runs.append({"report_date": report_date.isoformat(), "dag_id": dag_id, "state": state})
            if "success" not in state:
                raise SystemExit(
                    f"{dag_id} failed for report date {report_date} (state {state}); "
                    f"see its task logs under {load_settings().airflow_home / 'logs'} and re-run "
                    f"`epifeeds run --from {report_date} --to {report_dates[-1]}` once fixed"
                )
    return runs


@contextmanager
def _runs_logged_to(log_path: Path | None) -> Iterator[Console]:
    """Airflow and dbt print a lot per task: send it to a log file and keep the terminal for progress."""
    if log_path is None:
        yield console
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = Console(
        file=os.fdopen(os.dup(saved[0]), "w", encoding="utf-8"), force_terminal=console.is_terminal
    )
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)
            terminal.file.close()


def run_with_progress(report_dates: list[date], log_path: Path | None) -> list[dict]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    if log_path:
        console.print(f"Airflow and dbt logs: {log_path}")
    with _runs_logged_to(log_path) as terminal, Progress(*columns, console=terminal) as progress:
        total = len(report_dates) * len(orchestration.chain_for(report_dates[0]))
        bar = progress.add_task("starting", total=total)

        def step(label: str) -> None:
            if progress.tasks[bar].description != "starting":
                progress.advance(bar)
            progress.update(bar, description=label)

        runs = run_report_dates(report_dates, step)
        progress.update(bar, completed=total, description="all runs finished")
    return runs


def date_range(first: date, last: date) -> list[date]:
    if last < first:
        raise SystemExit(f"--to {last} is before --from {first}")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings()
    prepare(settings, quiet_airflow=not args.verbose)
    log_path = None if args.verbose else settings.home / "var" / "logs" / "epifeeds-run.log"
    runs = run_with_progress(date_range(args.date_from, args.date_to), log_path)
    print_summary(settings, runs, delivered=None)
    return 0


def reset_warehouse(settings: Settings) -> None:
    import psycopg

    with psycopg.connect(settings.warehouse_dsn, autocommit=True) as conn:
        for schema in WAREHOUSE_SCHEMAS:
            conn.execute(f"drop schema if exists {schema} cascade")


def print_summary(settings: Settings, runs: list[dict], delivered: list[dict] | None) -> None:
    from epifeeds.status import platform_status

    status = platform_status(settings.warehouse_dsn)
    succeeded = sum("success" in r["state"] for r in runs)
    console.print(f"\n[bold]Airflow runs:[/] {succeeded} of {len(runs)} succeeded")
    table = Table("table", "rows", title="Rows per table")
    for name, count in status["rows"].items():
        table.add_row(name, str(count))
    console.print(table)
    checks = status.get("checks", {})
    console.print(
        f"[bold]Checks:[/] {checks.get('pass', 0)} passed, {checks.get('fail', 0)} failed"
        + (f" (by rule: {status['failed_checks_by_rule']})" if status.get("failed_checks_by_rule") else "")
    )
    for reject in status.get("rejects", []):
        console.print(
            f"  rejected {reject['report_date']} row {reject['row']} ({reject['reporter']}): {reject['reason']}"
        )
    if delivered is not None:
        console.print(f"[bold]Alerts sent:[/] {len(delivered)} messages delivered to the webhook")
        for message in delivered:
            console.print(f"  {message['kind']:>8}: {message['title']}")
    open_alerts = [a for a in status.get("alerts", []) if a["status"] == "open"]
    console.print(f"[bold]Open alerts:[/] {len(open_alerts)}")


def cmd_status(args: argparse.Namespace) -> int:
    from epifeeds.status import platform_status

    status = platform_status(load_settings().warehouse_dsn)
    if args.format == "json":
        print(json.dumps(status, ensure_ascii=False, indent=2, default=str))
    else:
        from epifeeds.status import status_lines

        for line in status_lines(status, details=args.details):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    return 0


def cmd_findings(args: argparse.Namespace) -> int:
    from epifeeds.quality.findings import list_findings

    if args.date and (args.date_from or args.date_to):
        raise SystemExit("give either --date or --from/--to, not both")
    first, last = (args.date, args.date) if args.date else (args.date_from, args.date_to)
    findings = list_findings(load_settings().warehouse_dsn, first, last)
    if args.format == "json":
        print(json.dumps(findings, ensure_ascii=False, indent=2, default=str))
        return 0
    from epifeeds.feeds.names import load_district_roster
    from epifeeds.quality.findings import group_findings
    from epifeeds.status import finding_group_lines

    groups = group_findings(findings)
    names = {d.district_id: d.district_name for d in load_district_roster().districts}
    console.print(
        f"{len(findings)} findings in {len(groups)} groups (status, rule, reporter, dates, count, summary)"
    )
    for line in finding_group_lines(groups, names, details=args.details):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    return 0


def cmd_gx_docs(args: argparse.Namespace) -> int:
    from epifeeds.quality.gx_runner import build_data_docs, data_docs_index

    index = build_data_docs(load_settings().warehouse_dsn) if args.rebuild else data_docs_index()
    print(index)
    if not index.exists():
        print("not built yet: every GX checkpoint run (ingest, build_warehouse) builds it", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="epifeeds", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    setup = commands.add_parser("setup", help="create databases, migrate Airflow, build the dbt manifest")
    setup.set_defaults(func=cmd_setup)

    run = commands.add_parser("run", help="run the DAG chain through Airflow for each report date in a range")
    run.add_argument("--from", dest="date_from", type=date.fromisoformat, required=True)
    run.add_argument("--to", dest="date_to", type=date.fromisoformat, required=True)
    run.add_argument("--verbose", action="store_true", help="show Airflow's task logs")
    run.set_defaults(func=cmd_run)

    status = commands.add_parser("status", help="rows per table, checks, alerts")
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.add_argument("--details", action="store_true", help="every alert and the rejected rows")
    status.set_defaults(func=cmd_status)

    findings = commands.add_parser("findings", help="data-quality findings (open, resolved, silenced)")
    findings.add_argument("--date", type=date.fromisoformat, help="one report date")
    findings.add_argument("--from", dest="date_from", type=date.fromisoformat)
    findings.add_argument("--to", dest="date_to", type=date.fromisoformat)
    findings.add_argument("--format", choices=("table", "json"), default="table")
    findings.add_argument("--details", action="store_true", help="each finding of a group on its own line")
    findings.set_defaults(func=cmd_findings)

    gx_docs = commands.add_parser("gx-docs", help="where the Great Expectations Data Docs are (index.html)")
    gx_docs.add_argument("--rebuild", action="store_true", help="rebuild the site from the stored results")
    gx_docs.set_defaults(func=cmd_gx_docs)

    from epifeeds.bulletin_import import register as register_bulletin
    from epifeeds.feeds.roster import register as register_roster

    register_bulletin(commands)
    register_roster(commands)
    from epifeeds.local_platform_cli import register as register_local_platform

    register_local_platform(commands)
    # Commands of installed add-ons (the simulator's `demo` and `sim`, in a developer's install only).
    for entry_point in entry_points(group="epifeeds.commands"):
        entry_point.load()(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (orchestration.PlatformSetupError, SettingsError) as problem:
        console.print(f"[red]epifeeds: {problem}[/]", soft_wrap=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
