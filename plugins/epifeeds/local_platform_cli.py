"""`epifeeds up` / `epifeeds down`: the platform on the clock as local processes (see epifeeds.local_platform)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from epifeeds import local_platform as lp
from epifeeds.orchestration import DAILY_INGESTS, run_time_for
from epifeeds.schedules import FEED_WATCHDOG_CRON, cron_local_time
from epifeeds.settings import REPORT_TIMEZONE, Settings, load_settings

PLATFORM_DAGS = (*(dag_id for dag_id, _ in DAILY_INGESTS), "build_warehouse", "feed_watchdog")


def latest_tick(cron: str, now: datetime) -> datetime:
    """The latest daily tick of `cron` (Asia/Shanghai) at or before `now`: what an operator's catch-up runs."""
    local_day = now.astimezone(ZoneInfo(REPORT_TIMEZONE)).date()
    for report_date in (local_day - timedelta(days=1), local_day - timedelta(days=2)):
        tick = run_time_for(report_date, cron_local_time(cron))
        if tick <= now:
            return tick
    raise AssertionError("unreachable: yesterday's tick is always in the past")


def catch_up(api: lp.AirflowApi, now: datetime) -> list[tuple[str, date, str | None]]:
    """Trigger each ingest DAG's latest daily run (skipped when it exists); (dag_id, report date, run_id)."""
    triggered = []
    for dag_id, cron in DAILY_INGESTS:
        tick = latest_tick(cron, now)
        report_date = tick.astimezone(ZoneInfo(REPORT_TIMEZONE)).date() - timedelta(days=1)
        run_id = f"catchup__{tick.strftime('%Y-%m-%dT%H:%M:%SZ')}"
        triggered.append((dag_id, report_date, api.trigger(dag_id, tick, run_id)))
    return triggered


def cmd_up(args: argparse.Namespace) -> int:
    from epifeeds.cli import console, prepare

    settings = load_settings()
    state = lp.default_state_dir(settings)
    webhook = settings.alert_webhook_url or f"http://127.0.0.1:{args.alerts_port}/alerts"
    if args.print_env:  # for `airflow ...` commands against the running platform (e.g. backfill create)
        env = lp.platform_environment(
            settings, state, api_port=args.api_port, parallelism=args.parallelism, alert_webhook_url=webhook
        )
        for name, value in sorted(env.items()):
            if name.startswith(("AIRFLOW", "EPIFEEDS_")):
                print(f"export {name}={shlex.quote(value)}")
        return 0
    running = [
        p.name for p in lp.recorded_processes(state) if p.is_running() and p.name.startswith("airflow-")
    ]
    if running:
        raise lp.PlatformError(f"already up ({', '.join(running)}); `epifeeds down` stops it")
    chosen_log_level = os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL")
    prepare(settings, quiet_airflow=True)
    if chosen_log_level is None:  # quiet set-up, but the components and task logs at Airflow's INFO
        os.environ.pop("AIRFLOW__LOGGING__LOGGING_LEVEL", None)
    try:
        return _start_platform(args, settings, state, webhook)
    except BaseException:
        stopped = lp.stop_recorded(state)
        console.print(f"up: did not come up; stopped {', '.join(stopped) or 'nothing'}", soft_wrap=True)
        raise


def _start_platform(args: argparse.Namespace, settings: Settings, state: lp.StateDir, webhook: str) -> int:
    from epifeeds.cli import console

    if not settings.alert_webhook_url:
        argv = [sys.executable, "-m", "epifeeds.local_platform", "alert-inbox"]
        lp.start_process(
            state,
            "alert-inbox",
            [*argv, "--port", str(args.alerts_port), "--out", str(state.alerts_file)],
            dict(os.environ),
        )
    env = lp.platform_environment(
        settings, state, api_port=args.api_port, parallelism=args.parallelism, alert_webhook_url=webhook
    )
    processes = lp.start_airflow(state, env)
    password = lp.load_or_create_secrets(state)["ui_password"]
    api = lp.AirflowApi(env["AIRFLOW__API__BASE_URL"], password)
    console.print(
        f"up: starting {', '.join(p.name for p in processes)} (logs in {state.logs})", soft_wrap=True
    )
    api.wait_until_up(processes)
    api.wait_for_dags(PLATFORM_DAGS)
    unpaused = sorted(api.dag_ids(tag="epifeeds") | set(PLATFORM_DAGS))
    for dag_id in unpaused:
        api.unpause(dag_id)
    if not args.no_catch_up:
        for dag_id, report_date, run_id in catch_up(api, datetime.now(UTC)):
            what = f"triggered {run_id}" if run_id else "its run exists already"
            console.print(f"up: catch-up {dag_id} for report date {report_date}: {what}", soft_wrap=True)
    next_watch = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    console.print(
        f"up: the Airflow UI is at {api.base_url} — log in as [bold]{lp.UI_USER}[/] with password "
        f"[bold]{password}[/] (kept in {state.secrets_file}).\n"
        f"up: DAGs unpaused: {', '.join(unpaused)}; build_warehouse follows the landing Assets, "
        f"feed_watchdog runs hourly (next {next_watch:%H:%M} UTC, {FEED_WATCHDOG_CRON!r} Asia/Shanghai).\n"
        f"up: alerts go to {webhook}"
        + (f" (received into {state.alerts_file})" if not settings.alert_webhook_url else "")
        + "\nup: `epifeeds down` (or `make down`) stops everything this started.",
        soft_wrap=True,
    )
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from epifeeds.cli import console

    state = lp.default_state_dir(load_settings())
    stopped = lp.stop_recorded(state, grace_seconds=args.grace_seconds)
    console.print(
        "down: stopped " + ", ".join(stopped) if stopped else "down: nothing was running", soft_wrap=True
    )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    up = commands.add_parser(
        "up", help="start Airflow (scheduler, dag-processor, triggerer, api-server) locally"
    )
    up.add_argument("--api-port", type=int, default=8080, help="the Airflow UI and API port on 127.0.0.1")
    up.add_argument(
        "--alerts-port",
        type=int,
        default=8766,
        help="loopback alert receiver (when EPIFEEDS_ALERT_WEBHOOK_URL is unset)",
    )
    up.add_argument("--parallelism", type=int, default=2, help="task slots of the LocalExecutor")
    up.add_argument("--no-catch-up", action="store_true", help="do not trigger today's ingest runs")
    up.add_argument(
        "--print-env",
        action="store_true",
        help="print the platform's environment as shell exports, start nothing",
    )
    up.set_defaults(func=cmd_up)
    down = commands.add_parser(
        "down", help="stop exactly what `epifeeds up` (and `sim live --background`) started"
    )
    down.add_argument("--grace-seconds", type=float, default=20.0, help="SIGTERM, then SIGKILL after this")
    down.set_defaults(func=cmd_down)
