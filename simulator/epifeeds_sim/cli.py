"""`epifeeds sim generate|serve|score`: the simulator's commands, registered into the main CLI's parser.

    epifeeds sim generate --days 14 --seed 7 --faults default --out var/sim [--scale city|small|province]
    epifeeds sim serve --dir var/sim --port 8765 --token demo-token

The main CLI calls `register(subparsers)` and then `args.func(args)`. `python -m epifeeds_sim ...` runs
the same commands without the rest of the platform.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from epifeeds_sim.generate import ALL_FEEDS, FAULT_PROFILES, SCALES


def _run_generate(args: argparse.Namespace) -> int:
    from epifeeds_sim.generate import generate, summarise

    truth = generate(
        args.out,
        days=args.days,
        seed=args.seed,
        start=args.start,
        faults=args.faults,
        scale=args.scale,
        feeds=args.feeds,
    )
    print(summarise(args.out, truth))
    return 0


def _run_serve(args: argparse.Namespace) -> int:
    from epifeeds_sim.server import serve_forever

    if not (args.dir / "district_reports").is_dir():
        raise SystemExit(
            f"{args.dir} holds no simulation (no district_reports/): run "
            f"'epifeeds sim generate --out {args.dir}' first"
        )
    print(
        f"Serving the simulated district API from {args.dir} on http://{args.host}:{args.port} (Ctrl-C stops)"
    )
    serve_forever(
        args.dir,
        args.token,
        host=args.host,
        port=args.port,
        failure_rate=args.failure_rate,
        fail_first_n=args.fail_first_n,
        failure_status=args.failure_status,
        stall_seconds=args.stall_seconds,
    )
    return 0


def _run_score(args: argparse.Namespace) -> int:
    from epifeeds.settings import load_settings
    from epifeeds_sim.score import run_score

    return run_score(args.truth, load_settings().warehouse_dsn, args.format)


def _feed_list(text: str) -> tuple[str, ...]:
    feeds = tuple(dict.fromkeys(["district_reports", *(f.strip() for f in text.split(",") if f.strip())]))
    unknown = [f for f in feeds if f not in ALL_FEEDS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown feed(s) {', '.join(unknown)}; choose from {', '.join(ALL_FEEDS)}"
        )
    return feeds


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `sim` command (with `generate` and `serve`) to a parser's subparsers."""
    sim = subparsers.add_parser("sim", help="simulate the agencies' feeds (generate files, serve the API)")
    commands = sim.add_subparsers(dest="sim_command", required=True, metavar="{generate,serve,live,score}")

    gen = commands.add_parser("generate", help="write a deterministic simulation with its ground truth")
    gen.add_argument("--days", type=int, required=True, help="number of report days")
    gen.add_argument("--seed", type=int, required=True, help="same seed, byte-identical files")
    gen.add_argument("--faults", choices=FAULT_PROFILES, default="default", help="faults to plant")
    gen.add_argument("--out", type=Path, required=True, help="directory to write into")
    gen.add_argument("--start", type=date.fromisoformat, default=date(2022, 3, 1), help="first report date")
    gen.add_argument(
        "--scale",
        choices=SCALES,
        default="city",
        help="city: Taiyuan, ~5,000 sites, ~100 hotels; small: a tenth of the sites; "
        "province: Shanxi's 11 cities, 117 districts, ~50,000 sites, ~1,000 hotels",
    )
    gen.add_argument(
        "--feeds",
        type=_feed_list,
        default=ALL_FEEDS,
        help=f"comma-separated, default all: {','.join(ALL_FEEDS)} (district_reports is always written)",
    )
    gen.set_defaults(func=_run_generate)

    serve = commands.add_parser("serve", help="serve a simulation's district API over HTTP (blocking)")
    serve.add_argument("--dir", type=Path, required=True, help="a directory written by 'sim generate'")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--token", required=True, help="the bearer token clients must send")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--failure-rate", type=float, default=0.0, help="share of API requests that fail")
    serve.add_argument("--fail-first-n", type=int, default=0, help="fail the first N API requests")
    serve.add_argument("--failure-status", type=int, choices=(429, 500, 502, 503), default=500)
    serve.add_argument(
        "--stall-seconds",
        type=float,
        default=0.0,
        help="failing requests stall this long instead (a timeout)",
    )
    serve.set_defaults(func=_run_serve)

    from epifeeds_sim.live import register_live

    register_live(commands)

    score = commands.add_parser("score", help="the platform's findings against a simulation's ground truth")
    score.add_argument("--truth", type=Path, required=True, help="DIR/ground_truth.json of the simulation")
    score.add_argument("--format", choices=("table", "json"), default="table")
    score.set_defaults(func=_run_score)
    return sim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m epifeeds_sim")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sim", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)
