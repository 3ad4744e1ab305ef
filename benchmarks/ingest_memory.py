"""Peak memory of landing one 50 MB testing-site CSV, beside the same ingest landing one day's file.

    .venv/bin/python benchmarks/ingest_memory.py            # 50 MB
    .venv/bin/python benchmarks/ingest_memory.py --mb 20

Each figure is the peak resident set (`resource.getrusage(RUSAGE_SELF).ru_maxrss`) of a fresh child
process that sets up a throw-away warehouse (roster, registries of a simulated city), then runs the
product's ingest (`ingest_testing_site_reports`) on one file: the baseline child on one district's real
daily file (~60 KB), the measured child on that file's rows repeated to the size asked for. The repeated
rows name the same sites, so after the first copy every row is a duplicate, rejected with its reason:
the file is landed whole (rows and rejects), as a hostile or broken upload would be. The limits on file
size and rows are raised for the children (EPIFEEDS_MAX_FILE_MB, EPIFEEDS_MAX_ROWS), as an operator
would for such a file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import PROJECT_ROOT, ratio, scratch_databases, write_result  # noqa: E402

DAY = date(2022, 3, 1)
DISTRICT = "140105"
SEED = 7


def _child(sim: Path, csv_path: Path) -> dict:
    """In the child process: land one file into a fresh warehouse; the process's peak RSS."""
    sys.path.insert(0, str(PROJECT_ROOT / "plugins"))
    from benchmarks.common import admin_dsn
    from epifeeds.feeds.registries import ingest_registries
    from epifeeds.feeds.testing_sites import ingest_testing_site_reports

    with (
        tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch,
        scratch_databases("bench_mem") as [db],
    ):
        home = Path(scratch)
        dsn = admin_dsn().rsplit("/", 1)[0] + "/" + db
        ingest_registries(dsn, str(home / "archive"), str(sim / "registries"), DAY, datetime.now(UTC))
        drop = home / "drop" / "testing_sites" / DISTRICT
        drop.mkdir(parents=True)
        shutil.copyfile(csv_path, drop / f"{DAY}.csv")
        as_of = datetime.now(UTC)  # after the copy arrived
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        outcome = ingest_testing_site_reports(dsn, str(home / "archive"), str(home / "drop"), [DAY], as_of)
        seconds = time.perf_counter() - started
    [delivery] = outcome["deliveries"]
    return {
        "bytes": csv_path.stat().st_size,
        "status": delivery["status"],
        "rows_read": delivery["rows_read"],
        "rows_landed": delivery["rows_landed"],
        "rows_rejected": delivery["rows_rejected"],
        "seconds": round(seconds, 2),
        "peak_rss_mb_before_ingest": round(before / 1024, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _run_child(sim: Path, csv_path: Path) -> dict:
    env = os.environ | {"EPIFEEDS_MAX_FILE_MB": "256", "EPIFEEDS_MAX_ROWS": "10000000"}
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(sim), str(csv_path)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def _repeated(source: Path, target: Path, megabytes: float) -> None:
    """The file's header, then its data rows again and again until the file weighs `megabytes`."""
    lines = source.read_bytes().splitlines(keepends=True)
    header, rows = lines[0], b"".join(lines[1:])
    copies = max(1, int(megabytes * 2**20 / len(rows)))
    with target.open("wb") as out:
        out.write(header)
        for _ in range(copies):
            out.write(rows)


def measure(megabytes: float = 50) -> dict:
    from epifeeds_sim.generate import ALL_FEEDS, generate

    with tempfile.TemporaryDirectory(prefix="bench-memory-sim-") as scratch:
        sim = Path(scratch) / "sim"
        generate(sim, days=1, seed=SEED, faults="none", scale="city", feeds=(ALL_FEEDS[0], ALL_FEEDS[1]))
        day_file = sim / "file_drop" / "testing_sites" / DISTRICT / f"{DAY}.csv"
        large = Path(scratch) / "large.csv"
        _repeated(day_file, large, megabytes)
        baseline = _run_child(sim, day_file)
        measured = _run_child(sim, large)
    return {
        "seed": SEED,
        "file_mb": round(measured["bytes"] / 2**20, 1),
        "baseline_one_day_file": baseline,
        "large_file": measured,
        "peak_rss_ratio_to_baseline": ratio(measured["peak_rss_mb"], baseline["peak_rss_mb"]),
        "peak_rss_mb_above_baseline": round(measured["peak_rss_mb"] - baseline["peak_rss_mb"], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50)
    parser.add_argument("--child", nargs=2, metavar=("SIM", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(Path(args.child[0]), Path(args.child[1]))))
        return 0
    sys.path.insert(0, str(PROJECT_ROOT / "plugins"))
    result = measure(args.mb)
    print(f"ingest memory: {json.dumps(result)}")
    print(f"ingest memory: written {write_result('ingest_memory', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
