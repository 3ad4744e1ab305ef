"""`epifeeds sim live`: the agencies on the machine's clock, for the platform running under a scheduler.

The simulation's "today" is the machine's day in Asia/Shanghai. Its current report date is the day
whose reports the latest 10:30 ingest tick collected (yesterday after 10:30 local, else the day
before); the simulation covers the three days before it, it, and the next day, whose reports arrive
through the coming day. The default fault profile plants its missing report (晋源区) on the day
before the current report date, so the first watchdog run after a start raises it.

- the district API is served with the real clock: a report becomes visible at its submission time;
- the file drop (`<dir>/live/file_drop`, registries in `<dir>/live/registries`) receives each
  testing-site and hotel file when its arrival time comes (checked every `--sync-seconds`), with
  `arrivals.json` listing only what has arrived.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from epifeeds.schedules import INGEST_DISTRICT_REPORTS_CRON, cron_local_time
from epifeeds.settings import REPORT_TIMEZONE
from epifeeds_sim.generate import ARRIVALS_FILE, FILE_DROP_DIR, generate
from epifeeds_sim.randomness import parse_iso_utc
from epifeeds_sim.registries import REGISTRY_DIR

DAYS_BEFORE_CURRENT = 3
GENERATED = "generated"
LIVE = "live"


def current_report_date(now: datetime) -> date:
    """The report date the latest daily ingest tick (10:30 Asia/Shanghai) at or before `now` handles."""
    local = now.astimezone(ZoneInfo(REPORT_TIMEZONE))
    collected_today = local.time() >= cron_local_time(INGEST_DISTRICT_REPORTS_CRON)
    return local.date() - timedelta(days=1 if collected_today else 2)


def generate_live(sim_dir: Path, now: datetime, *, seed: int, faults: str, scale: str) -> date:
    """Write the simulation around `now` into <sim_dir>/generated; returns its first report date."""
    start = current_report_date(now) - timedelta(days=DAYS_BEFORE_CURRENT)
    generate(
        sim_dir / GENERATED, days=DAYS_BEFORE_CURRENT + 2, seed=seed, start=start, faults=faults, scale=scale
    )
    live = sim_dir / LIVE
    shutil.rmtree(live, ignore_errors=True)
    (live / FILE_DROP_DIR).mkdir(parents=True)
    registries = sim_dir / GENERATED / REGISTRY_DIR
    if registries.is_dir():  # published once, at the start
        shutil.copytree(registries, live / REGISTRY_DIR)
    return start


def deliver_arrived_files(sim_dir: Path, now: datetime) -> int:
    """Copy every generated file whose arrival time has come into the live drop; returns how many are there."""
    manifest = sim_dir / GENERATED / ARRIVALS_FILE
    if not manifest.exists():
        return 0
    planned: dict[str, str] = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    arrived = {path: at for path, at in planned.items() if parse_iso_utc(at) <= now}
    live = sim_dir / LIVE
    for relative in arrived:
        target = live / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(sim_dir / GENERATED / relative, target)  # keeps the arrival time as mtime
    listing = live / ARRIVALS_FILE
    partial = listing.with_suffix(".tmp")
    partial.write_text(json.dumps({"files": dict(sorted(arrived.items()))}, indent=2), encoding="utf-8")
    partial.replace(listing)  # a reader never sees half a manifest
    return len(arrived)


def _keep_delivering(sim_dir: Path, every_seconds: float, stop: threading.Event) -> None:
    while not stop.wait(every_seconds):
        deliver_arrived_files(sim_dir, datetime.now(UTC))


def run_live(args: argparse.Namespace) -> int:
    from epifeeds_sim.server import serve_forever

    now = datetime.now(UTC)
    start = generate_live(args.dir, now, seed=args.seed, faults=args.faults, scale=args.scale)
    delivered = deliver_arrived_files(args.dir, now)
    print(
        f"Live simulation in {args.dir}: report dates {start}..{start + timedelta(days=DAYS_BEFORE_CURRENT + 1)} "
        f"(current {current_report_date(now)}), {delivered} files in the drop {args.dir / LIVE / FILE_DROP_DIR}; "
        f"district API on http://{args.host}:{args.port}",
        flush=True,
    )
    stop = threading.Event()
    threading.Thread(target=_keep_delivering, args=(args.dir, args.sync_seconds, stop), daemon=True).start()
    try:
        serve_forever(args.dir / GENERATED, args.token, host=args.host, port=args.port)
    finally:
        stop.set()
    return 0


def start_in_background(args: argparse.Namespace) -> int:
    """Start `sim live` as a recorded process of the local platform (stopped by `epifeeds down`)."""
    import httpx

    from epifeeds.local_platform import StateDir, recorded_process, start_process

    state = StateDir(args.state_dir.resolve())
    existing = recorded_process(state, "simulator")
    if existing and existing.is_running():
        print(f"simulator: already running (pid {existing.pid}, log {existing.log})")
        return 0
    argv = [
        sys.executable,
        "-m",
        "epifeeds_sim",
        "live",
        "--dir",
        str(args.dir.resolve()),
        "--port",
        str(args.port),
    ]
    argv += ["--token", args.token, "--host", args.host, "--seed", str(args.seed), "--faults", args.faults]
    argv += ["--scale", args.scale, "--sync-seconds", str(args.sync_seconds)]
    process = start_process(state, "simulator", argv, dict(os.environ))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not process.is_running():
            raise SystemExit(f"the live simulator exited at start; see {process.log}")
        try:
            if httpx.get(f"http://{args.host}:{args.port}/healthz", timeout=2).status_code == 200:
                print(
                    f"simulator: live district API on http://{args.host}:{args.port}, file drop "
                    f"{args.dir / LIVE / FILE_DROP_DIR} (log {process.log})"
                )
                return 0
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the live simulator did not answer on port {args.port}; see {process.log}")


def register_live(commands: argparse._SubParsersAction) -> None:
    live = commands.add_parser("live", help="the agencies on the machine's clock (API + file drop, blocking)")
    live.add_argument(
        "--dir", type=Path, required=True, help="where to write the simulation and the live drop"
    )
    live.add_argument("--port", type=int, default=8765)
    live.add_argument("--token", required=True, help="the bearer token clients must send")
    live.add_argument("--host", default="127.0.0.1")
    live.add_argument("--seed", type=int, default=7)
    live.add_argument("--faults", choices=("none", "default", "all"), default="default")
    live.add_argument("--scale", choices=("city", "small"), default="small")
    live.add_argument(
        "--sync-seconds", type=float, default=30.0, help="how often arrived files are delivered"
    )
    live.add_argument(
        "--background",
        action="store_true",
        help="start as a process of the local platform (pid and log under --state-dir; `epifeeds down` stops it)",
    )
    live.add_argument(
        "--state-dir", type=Path, default=Path("var/up"), help="the local platform's state folder"
    )
    live.set_defaults(func=lambda args: start_in_background(args) if args.background else run_live(args))
