"""`epifeeds demo`: generate (or replay) a simulation, serve it, run every report date through Airflow.

Registered into the `epifeeds` command by this package's entry point; the product never imports it.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

from epifeeds import orchestration
from epifeeds.cli import (
    WAREHOUSE_SCHEMAS,
    console,
    date_range,
    prepare,
    print_summary,
    reset_warehouse,
    run_with_progress,
)
from epifeeds.settings import load_settings


def cmd_demo(args: argparse.Namespace) -> int:
    from epifeeds.alerts.receiver import webhook_receiver
    from epifeeds_sim.generate import generate
    from epifeeds_sim.server import serve_in_background

    settings = load_settings()
    prepare(settings, quiet_airflow=not args.verbose)
    if args.feeds_dir:
        sim_dir = Path(args.feeds_dir)
    else:
        sim_dir = settings.home / "var" / "demo" / "sim"
        shutil.rmtree(sim_dir, ignore_errors=True)
        generate(sim_dir, days=args.days, seed=args.seed, faults=args.faults, scale=args.scale)
    truth = json.loads((sim_dir / "ground_truth.json").read_text(encoding="utf-8"))
    first = date.fromisoformat(truth["start"])
    report_dates = date_range(first, first + timedelta(days=int(truth["days"]) - 1))
    planted = [fault for fault in truth["faults"] if fault.get("rule")]
    console.print(
        f"demo: {len(report_dates)} simulated days from {first} (seed {truth['seed']}, fault profile "
        f"{truth['fault_profile']}): {len(planted)} planted faults — "
        + "; ".join(
            f"{f['rule']} {f['kind']} {f.get('reporter_name', f['reporter'])} {f['report_date']}"
            for f in planted
        )
    )
    if not args.keep_warehouse:
        console.print(
            f"demo: starting from an empty warehouse (schemas {', '.join(WAREHOUSE_SCHEMAS)} reset)"
        )
        reset_warehouse(settings)

    with ExitStack() as stack:
        api_url = stack.enter_context(serve_in_background(sim_dir, settings.district_api_token))
        webhook_url, received = stack.enter_context(webhook_receiver())
        connections = orchestration.airflow_environment(settings, district_api_url=api_url)
        orchestration.apply_environment(
            {
                "AIRFLOW_CONN_EPIFEEDS_DISTRICT_API": connections["AIRFLOW_CONN_EPIFEEDS_DISTRICT_API"],
                "EPIFEEDS_ALERT_WEBHOOK_URL": webhook_url,
                "EPIFEEDS_FILE_DROP_URL": str(sim_dir / "file_drop"),
                "EPIFEEDS_REGISTRY_URL": str(sim_dir / "registries"),
            },
            override=True,
        )
        console.print(f"demo: simulator serving at {api_url}, alerts delivered to {webhook_url}")
        log_path = None if args.verbose else settings.home / "var" / "logs" / "epifeeds-demo.log"
        runs = run_with_progress(report_dates, log_path)
        delivered = list(received.messages)
    print_summary(settings, runs, delivered)
    kinds = Counter(str(m.get("kind")) for m in delivered)
    console.print(
        f"Notifications: {len(delivered)} sent ("
        + ", ".join(f"{kind} {kinds[kind]}" for kind in ("open", "resolved", "reminder", "escalated"))
        + "); errors are told when they open and when they resolve (docs/alerts.md)"
    )
    from epifeeds_sim.score import (
        alerts_in_warehouse,
        findings_in_warehouse,
        render_table,
        score,
        score_alerts,
    )

    result = score(truth, findings_in_warehouse(settings.warehouse_dsn))
    result["alerts"] = score_alerts(truth, alerts_in_warehouse(settings.warehouse_dsn))
    console.print(
        "[bold]Findings and alerts against the simulation's ground truth[/] (`epifeeds sim score`):"
    )
    console.print(render_table(result), highlight=False)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo", help="run the whole platform over simulated feeds and print what happened"
    )
    demo.add_argument("--days", type=int, default=5)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--faults", choices=("none", "default", "all"), default="default")
    demo.add_argument(
        "--scale", choices=("city", "small"), default="city", help="small: a tenth of the sites"
    )
    demo.add_argument("--feeds-dir", help="replay an existing simulation (made by `epifeeds sim generate`)")
    demo.add_argument(
        "--keep-warehouse", action="store_true", help="do not reset the warehouse schemas first"
    )
    demo.add_argument("--verbose", action="store_true", help="show Airflow's task logs")
    demo.set_defaults(func=cmd_demo)
