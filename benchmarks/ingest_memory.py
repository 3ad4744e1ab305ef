"""Peak memory of an ingest: one 50 MB testing-site CSV (streamed), and the largest XLSX and registry JSON the
default limits accept (parsed whole), each beside the same ingest landing one day's file.

    .venv/bin/python benchmarks/ingest_memory.py            # 50 MB CSV, largest XLSX and JSON
    .venv/bin/python benchmarks/ingest_memory.py --mb 20
    .venv/bin/python benchmarks/ingest_memory.py --quick    # 10 MB CSV; the same XLSX and JSON

Each figure is the peak resident set (`resource.getrusage(RUSAGE_SELF).ru_maxrss`) of a fresh child
process that sets up a throw-away warehouse (roster, registries of a simulated city), then runs the
product's ingest on one file: the baseline child on one district's real daily file (~60 KB), the CSV
child on that file's rows repeated to the size asked for. The repeated rows name the same sites, so after
the first copy every row is a duplicate, rejected with its reason: the file is landed whole (rows and
rejects), as a hostile or broken upload would be. The limits on file size and rows are raised for the
CSV child (EPIFEEDS_MAX_FILE_MB, EPIFEEDS_MAX_ROWS), as an operator would for such a file.

XLSX and JSON are parsed whole, so the file limits (feeds/limits.py) are what bounds their memory; they
are measured at those limits, with the defaults (no EPIFEEDS_MAX_* in the child's environment):
- the XLSX child lands (`ingest_testing_site_reports`) an XLSX district file's rows repeated to the
  largest sheet the limits accept: `max_rows` rows (the header included) or as many rows as fit in
  `max_xlsx_cells`, whichever binds first, and within `max_file_bytes`;
- the JSON child lands (`ingest_registries`) the simulated testing-site registry's entries repeated, each
  copy under new site ids, to just under `max_file_bytes`; every entry is new and lands as a version.
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
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import PROJECT_ROOT, ratio, scratch_databases, write_result  # noqa: E402

if TYPE_CHECKING:
    from epifeeds.feeds.limits import Limits

DAY = date(2022, 3, 1)
DISTRICT = "140105"  # sends CSV in the simulation at seed 7
XLSX_DISTRICT = "140107"  # sends XLSX
SEED = 7
KINDS = ("csv", "xlsx", "json")
RAISED_LIMITS = {"EPIFEEDS_MAX_FILE_MB": "256", "EPIFEEDS_MAX_ROWS": "10000000"}
JSON_MARGIN_BYTES = 64 * 1024  # the registry written this far under max_file_bytes


def _child(kind: str, sim: Path, path: Path) -> dict:
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
        archive = str(home / "archive")
        if kind == "json":  # the registry file is what is measured: the simulated one beside it
            registries = home / "registries"
            shutil.copytree(sim / "registries", registries)
            shutil.copyfile(path, registries / "testing_sites.json")
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.perf_counter()
            records = ingest_registries(dsn, archive, str(registries), DAY, datetime.now(UTC))
            seconds = time.perf_counter() - started
            [delivery] = [r for r in records if r["feed"] == "testing_sites"]
        else:
            ingest_registries(dsn, archive, str(sim / "registries"), DAY, datetime.now(UTC))
            district = XLSX_DISTRICT if kind == "xlsx" else DISTRICT
            drop = home / "drop" / "testing_sites" / district
            drop.mkdir(parents=True)
            shutil.copyfile(path, drop / f"{DAY}.{kind}")
            as_of = datetime.now(UTC)  # after the copy arrived
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.perf_counter()
            outcome = ingest_testing_site_reports(dsn, archive, str(home / "drop"), [DAY], as_of)
            seconds = time.perf_counter() - started
            [delivery] = outcome["deliveries"]
    return {
        "bytes": path.stat().st_size,
        "status": delivery["status"],
        "rows_read": delivery["rows_read"],
        "rows_landed": delivery["rows_landed"],
        "rows_rejected": delivery["rows_rejected"],
        "seconds": round(seconds, 2),
        "peak_rss_mb_before_ingest": round(before / 1024, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _run_child(kind: str, sim: Path, path: Path, *, raised_limits: bool = True) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPIFEEDS_MAX_")}
    env |= RAISED_LIMITS if raised_limits else {}
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(sim), str(path)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"ingest memory: the {kind} child failed (exit {done.returncode}):\n{done.stderr}")
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


def _largest_xlsx(source: Path, target: Path, limits: Limits) -> dict:
    """The workbook's header, then its data rows again and again, to the largest sheet the limits accept."""
    from itertools import cycle, islice

    from openpyxl import Workbook, load_workbook

    sheet = load_workbook(source, read_only=True).worksheets[0]
    header, *rows = [list(cells) for cells in sheet.iter_rows(values_only=True)]
    columns = len(header)
    total_rows = min(limits.max_rows, limits.max_xlsx_cells // columns)
    book = Workbook(write_only=True)
    out = book.create_sheet(sheet.title)
    out.append(header)
    for cells in islice(cycle(rows), total_rows - 1):
        out.append(cells)
    book.save(target)
    size = target.stat().st_size
    if size > limits.max_file_bytes:
        raise SystemExit(f"ingest memory: the XLSX of {total_rows} rows weighs {size} bytes, above the limit")
    return {"rows": total_rows, "columns": columns, "cells": total_rows * columns}


def _largest_registry(source: Path, target: Path, limits: Limits) -> dict:
    """The registry's entries again and again, each copy under new site ids, to just under the size limit."""
    document = json.loads(source.read_text(encoding="utf-8"))
    items = document["items"]

    def encoded(entries: list[dict]) -> bytes:
        return (json.dumps({**document, "items": entries}, ensure_ascii=False, indent=2) + "\n").encode()

    per_item = len(encoded(items)) / len(items)
    budget = limits.max_file_bytes - JSON_MARGIN_BYTES
    count = int(budget / per_item)
    while True:
        entries = [
            {**item, "site_id": f"{item['site_id']}-{copy:03d}"}
            for copy in range(count // len(items) + 1)
            for item in items
        ][:count]
        payload = encoded(entries)
        if len(payload) <= budget:
            break
        count -= max(1, (len(payload) - budget) // int(per_item) + 1)
    target.write_bytes(payload)
    return {"entries": count, "entries_in_simulated_registry": len(items)}


def _prepare(scratch: Path, megabytes: float, kinds: tuple[str, ...]) -> dict:
    """In a child process: the simulated city and the files to land, written below `scratch`. Building them
    in the measuring process would raise the peak every child then starts from: Linux carries a process's
    high-water mark into the children it spawns (ru_maxrss survives fork and exec)."""
    sys.path.insert(0, str(PROJECT_ROOT / "plugins"))
    from epifeeds.feeds.limits import Limits
    from epifeeds_sim.generate import ALL_FEEDS, generate

    limits = Limits()  # the defaults, whatever this process's environment says
    sim = scratch / "sim"
    generate(sim, days=1, seed=SEED, faults="none", scale="city", feeds=(ALL_FEEDS[0], ALL_FEEDS[1]))
    sites = sim / "file_drop" / "testing_sites"
    shapes: dict = {
        "default_limits": {
            "max_file_mb": limits.max_file_bytes / 2**20,
            "max_rows": limits.max_rows,
            "max_xlsx_cells": limits.max_xlsx_cells,
        }
    }
    if "csv" in kinds:
        _repeated(sites / DISTRICT / f"{DAY}.csv", scratch / "large.csv", megabytes)
    if "xlsx" in kinds:
        shapes["xlsx"] = _largest_xlsx(
            sites / XLSX_DISTRICT / f"{DAY}.xlsx", scratch / "largest.xlsx", limits
        )
    if "json" in kinds:
        registry = sim / "registries" / "testing_sites.json"
        shapes["json"] = _largest_registry(registry, scratch / "testing_sites.json", limits)
    return shapes


def measure(megabytes: float = 50, kinds: tuple[str, ...] = KINDS) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-memory-sim-") as directory:
        scratch = Path(directory)
        done = subprocess.run(
            [sys.executable, __file__, "--prepare", str(scratch), str(megabytes), ",".join(kinds)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(
                f"ingest memory: preparing the files failed (exit {done.returncode}):\n{done.stderr}"
            )
        shapes = json.loads(done.stdout.strip().splitlines()[-1])
        sim = scratch / "sim"
        baseline = _run_child("csv", sim, sim / "file_drop" / "testing_sites" / DISTRICT / f"{DAY}.csv")
        result: dict = {"seed": SEED}
        if "csv" in kinds:
            measured = _run_child("csv", sim, scratch / "large.csv")
            result |= {
                "file_mb": round(measured["bytes"] / 2**20, 1),
                "baseline_one_day_file": baseline,
                "large_file": measured,
                "peak_rss_ratio_to_baseline": ratio(measured["peak_rss_mb"], baseline["peak_rss_mb"]),
                "peak_rss_mb_above_baseline": round(measured["peak_rss_mb"] - baseline["peak_rss_mb"], 1),
            }
        else:
            result["baseline_one_day_file"] = baseline
        result["default_limits"] = shapes["default_limits"]
        for kind, path, key in (
            ("xlsx", scratch / "largest.xlsx", "largest_xlsx"),
            ("json", scratch / "testing_sites.json", "largest_registry_json"),
        ):
            if kind not in kinds:
                continue
            figures = _run_child(kind, sim, path, raised_limits=False)
            result[key] = {"file_mb": round(figures["bytes"] / 2**20, 1), **shapes[kind], **figures}
            result[f"{kind}_peak_rss_ratio_to_baseline"] = ratio(
                figures["peak_rss_mb"], baseline["peak_rss_mb"]
            )
            if "large_file" in result:
                result[f"{kind}_peak_rss_ratio_to_csv"] = ratio(
                    figures["peak_rss_mb"], result["large_file"]["peak_rss_mb"]
                )
        # what every child's ru_maxrss starts from (see _prepare): this process's own peak
        result["launcher_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, help="size of the CSV (default 50, 10 with --quick)")
    parser.add_argument(
        "--quick", action="store_true", help="a 10 MB CSV; the XLSX and JSON at the limits still"
    )
    parser.add_argument(
        "--only", choices=KINDS, action="append", help="measure only this format (repeatable)"
    )
    parser.add_argument("--child", nargs=3, metavar=("KIND", "SIM", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--prepare", nargs=3, metavar=("SCRATCH", "MB", "KINDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child[0], Path(args.child[1]), Path(args.child[2]))))
        return 0
    if args.prepare:
        scratch, megabytes, kinds = args.prepare
        print(json.dumps(_prepare(Path(scratch), float(megabytes), tuple(kinds.split(",")))))
        return 0
    megabytes = args.mb if args.mb is not None else 10 if args.quick else 50
    started = time.perf_counter()
    result = measure(megabytes, tuple(args.only or KINDS))
    result["quick"] = args.quick
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(f"ingest memory: {json.dumps(result)}")
    name = "ingest_memory" + ("_quick" if args.quick else "")
    print(f"ingest memory: written {write_result(name, result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
