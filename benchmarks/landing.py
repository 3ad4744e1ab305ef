"""Landing testing-site files against `psql \\copy` of the same rows into the same table, side by side.

    .venv/bin/python benchmarks/landing.py            # 7 simulated city days
    .venv/bin/python benchmarks/landing.py --quick    # 3 days

The simulator writes each district's daily file as CSV (GBK/BOM, drifting headers) or XLSX. The CSV
files and the XLSX files are landed separately, each through the product's ingest path
(`ingest_testing_site_reports`: archive, ledger, parse, versions, rejects, COPY) into a throw-away
warehouse. The baseline then copies exactly the rows that landed, as CSV, with `psql \\copy` into an
empty table of the same columns and primary key (`like ... including all`): the copy limit of this
machine for these rows. A second baseline copies them into such a table that also has the landing
table's foreign key to landing.batches (Postgres checks it row by row, which `like` leaves out).

Then `benchmarks/ingest_memory.py` (unless --no-memory): the peak RSS of landing one 50 MB CSV in a
child process, beside the same child landing one ordinary daily file.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import PROJECT_ROOT, ratio, scratch_databases, timed, write_result  # noqa: E402

START = date(2022, 3, 1)
SEED = 7


def _drop_with_only(source: Path, target: Path, suffix: str) -> int:
    """A copy of the file drop holding only the testing-site files of one format; returns how many."""
    count = 0
    for path in (source / "testing_sites").rglob("*"):
        if path.is_file() and path.suffix == suffix:
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 days")
    parser.add_argument("--no-memory", action="store_true", help="skip the 50 MB peak-memory measurement")
    args = parser.parse_args(argv)
    days = 3 if args.quick else args.days
    sys.path.insert(0, str(PROJECT_ROOT / "plugins"))

    import psycopg

    from benchmarks.common import admin_dsn
    from epifeeds.feeds.registries import ingest_registries
    from epifeeds.feeds.testing_sites import ingest_testing_site_reports
    from epifeeds_sim.generate import ALL_FEEDS, generate

    report_dates = [START + timedelta(days=n) for n in range(days)]
    as_of = datetime.combine(report_dates[-1] + timedelta(days=5), datetime.min.time(), tzinfo=UTC)
    with (
        tempfile.TemporaryDirectory(prefix="bench-landing-") as scratch,
        scratch_databases("bench_land") as [db],
    ):
        home = Path(scratch)
        dsn = admin_dsn().rsplit("/", 1)[0] + "/" + db
        generate(
            home / "sim",
            days=days,
            seed=SEED,
            faults="none",
            scale="city",
            feeds=(ALL_FEEDS[0], ALL_FEEDS[1]),
        )
        ingest_registries(
            dsn, str(home / "archive"), str(home / "sim" / "registries"), report_dates[-1], as_of
        )
        figures = {}
        for label, suffix in (("csv", ".csv"), ("xlsx", ".xlsx")):
            drop = home / f"drop_{label}"
            files = _drop_with_only(home / "sim" / "file_drop", drop, suffix)
            with psycopg.connect(dsn) as conn:
                before = conn.execute("select count(*) from landing.testing_site_reports").fetchone()[0]
            seconds, _ = timed(
                lambda drop=drop: ingest_testing_site_reports(
                    dsn, str(home / "archive"), str(drop), report_dates, as_of
                )
            )
            with psycopg.connect(dsn) as conn:
                landed = (
                    conn.execute("select count(*) from landing.testing_site_reports").fetchone()[0] - before
                )
            figures[label] = {"files": files, "rows": landed, "seconds": round(seconds, 2),
                              "rows_per_second": round(landed / seconds)}  # fmt: skip

        # The baseline: the same rows, as CSV, into an empty table of the same definition.
        export = home / "rows.csv"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "create table landing.copy_baseline (like landing.testing_site_reports including all)"
            )
            with (
                export.open("wb") as out,
                conn.cursor().copy("copy landing.testing_site_reports to stdout with (format csv)") as copy,
            ):
                for chunk in copy:
                    out.write(chunk)
            rows = conn.execute("select count(*) from landing.testing_site_reports").fetchone()[0]
            conn.execute(
                "create table landing.copy_baseline_fk (like landing.testing_site_reports including all,"
                " foreign key (_batch_id) references landing.batches (batch_id))"
            )
        copy_seconds, copy_fk_seconds = (
            timed(
                lambda table=table: subprocess.run(
                    ["psql", dsn, "-v", "ON_ERROR_STOP=1", "-q", "-c",
                     f"\\copy landing.{table} from '{export}' with (format csv)"],
                    check=True, capture_output=True,
                )
            )[0]
            for table in ("copy_baseline", "copy_baseline_fk")
        )  # fmt: skip
    copy_rate, copy_fk_rate = rows / copy_seconds, rows / copy_fk_seconds
    for label in figures:
        figures[label]["share_of_copy"] = ratio(figures[label]["rows_per_second"], copy_rate)
        figures[label]["share_of_copy_with_foreign_key"] = ratio(
            figures[label]["rows_per_second"], copy_fk_rate
        )
    result = {
        "seed": SEED,
        "days": days,
        "quick": args.quick,
        "rows": rows,
        "psql_copy": {"rows": rows, "seconds": round(copy_seconds, 2), "rows_per_second": round(copy_rate)},
        "psql_copy_with_foreign_key": {
            "rows": rows,
            "seconds": round(copy_fk_seconds, 2),
            "rows_per_second": round(copy_fk_rate),
        },
        **figures,
        "xlsx_vs_csv_time_per_row": ratio(
            figures["csv"]["rows_per_second"], figures["xlsx"]["rows_per_second"]
        ),
    }
    if not args.no_memory:
        from benchmarks.ingest_memory import measure

        result["memory_50_mb_csv"] = measure(50)
    for label in ("csv", "xlsx"):
        print(f"landing {label}: {figures[label]}")
    print(f"landing psql \\copy: {result['psql_copy']}")
    print(f"landing psql \\copy, with the foreign key: {result['psql_copy_with_foreign_key']}")
    if "memory_50_mb_csv" in result:
        print(f"landing 50 MB CSV peak memory: {result['memory_50_mb_csv']}")
    print(f"landing: written {write_result('landing' + ('_quick' if args.quick else ''), result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
