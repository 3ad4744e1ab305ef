"""Time `epifeeds sim generate` at city and at province scale, side by side, and print the ratio.

    .venv/bin/python benchmarks/sim_generate.py                      # 14 days, seed 7, every fault, all feeds
    .venv/bin/python benchmarks/sim_generate.py --days 7 --faults none --keep var/bench

Each scale is generated into its own directory (a temporary one unless --keep) and timed end to end:
simulation, fault planting and writing every file. Nothing is asserted; the numbers go in the sim README.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from epifeeds_sim.generate import ALL_FEEDS, FAULT_PROFILES, generate


def _measure(out_dir: Path, scale: str, args: argparse.Namespace) -> dict[str, float | int | str]:
    started = time.perf_counter()
    truth = generate(
        out_dir, days=args.days, seed=args.seed, faults=args.faults, scale=scale, feeds=ALL_FEEDS
    )
    seconds = time.perf_counter() - started
    files = [p for p in out_dir.rglob("*") if p.is_file()]
    sites, hotels = truth.feeds["testing_sites"], truth.feeds["hotel_reports"]
    return {
        "scale": scale,
        "seconds": seconds,
        "sites": sites["sites"],
        "site_rows": sites["rows"],
        "hotels": hotels["hotels"],
        "hotel_reports": hotels["reports"],
        "files": len(files),
        "megabytes": sum(p.stat().st_size for p in files) / 1e6,
        "faults": len(truth.faults),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--faults", choices=FAULT_PROFILES, default="all")
    parser.add_argument("--keep", type=Path, help="write into DIR/city and DIR/province and keep them")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sim-bench-") as scratch:
        root = args.keep or Path(scratch)
        results = [_measure(root / scale, scale, args) for scale in ("city", "province")]

    print(f"epifeeds sim generate: {args.days} days, seed {args.seed}, faults {args.faults}, all feeds")
    header = f"{'scale':<9}{'seconds':>9}{'sites':>8}{'site rows':>11}{'hotels':>8}{'hotel rpts':>11}"
    print(header + f"{'files':>8}{'MB':>8}{'faults':>8}")
    for r in results:
        print(
            f"{r['scale']:<9}{r['seconds']:>9.1f}{r['sites']:>8,}{r['site_rows']:>11,}{r['hotels']:>8,}"
            f"{r['hotel_reports']:>11,}{r['files']:>8,}{r['megabytes']:>8.0f}{r['faults']:>8}"
        )
    city, province = results
    print(
        f"province / city: {province['seconds'] / city['seconds']:.1f}x the time for "
        f"{province['site_rows'] / city['site_rows']:.1f}x the site rows and "
        f"{province['hotel_reports'] / city['hotel_reports']:.1f}x the hotel reports"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
