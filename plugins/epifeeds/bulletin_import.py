"""Import, then judge, then alert: what `epifeeds import-bulletin` and the ingest_bulletins DAG both run.

Landing a bulletin is `epifeeds.feeds.bulletin` (parsing never judges); the checks are the district
rules that apply to a bulletin (C3, V2, R1, H1) and the bulletin's own (N1, I2/I5 on every published
pair, C1 for the series, grouped rejects: `epifeeds.quality.bulletin_checks`); the findings then go
through the same root-cause grouping and delivery as every DAG's (`epifeeds.alerts.notify`).
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from epifeeds.feeds.bulletin import BulletinImport, import_bulletin
from epifeeds.feeds.bulletin_measures import BULLETIN_MEASURES
from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.parsing import UnreadablePayload
from epifeeds.landing.ingest_run import DeliveriesFailed

INGEST_BULLETINS_DAG_ID = "ingest_bulletins"
IMPORT_COMMAND_DAG_ID = "import-bulletin"
DROP_FOLDER = "bulletins"  # under EPIFEEDS_FILE_DROP_URL


def receipt_time(conn: psycopg.Connection, imported: BulletinImport) -> datetime:
    """When the imported deliveries were received: the checks are stamped with that time, not the clock."""
    return conn.execute(
        "select max(received_at) from landing.batches where batch_id = any(%s)", (imported.batch_ids,)
    ).fetchone()[0]


def check_import(
    conn: psycopg.Connection, imported: BulletinImport, run_id: str, as_of: datetime | None = None
) -> list:
    """Every check that judges an imported bulletin; results stored and findings kept in step."""
    from epifeeds.quality.bulletin_checks import check_bulletin
    from epifeeds.quality.district_history import check_district_history
    from epifeeds.quality.district_rules import check_district_rules
    from epifeeds.quality.landing_rules import check_delivery_volume

    as_of = as_of or receipt_time(conn, imported)
    dates = imported.bulletin.report_dates
    results = check_delivery_volume(conn, DISTRICT_REPORTS.feed, dates, run_id, as_of)
    results += check_district_rules(conn, dates, run_id, as_of=as_of)
    results += check_district_history(conn, dates, run_id, as_of)
    results += check_bulletin(conn, imported, run_id, as_of)
    return results


def import_check_and_alert(
    warehouse_dsn: str,
    archive_url: str,
    path: str | Path,
    run_id: str,
    *,
    city: str | None = None,
    received_at: datetime | None = None,
    dag_id: str = IMPORT_COMMAND_DAG_ID,
    source_uri: str | None = None,
) -> dict[str, Any]:
    """Land the file, judge it, group findings into alerts and deliver the notices; a summary."""
    from epifeeds.alerts.notify import process_alerts

    imported = import_bulletin(
        warehouse_dsn,
        archive_url,
        path,
        city=city,
        received_at=received_at,
        source_uri=source_uri,
        run_id=run_id,
    )
    with psycopg.connect(warehouse_dsn) as conn:
        as_of = receipt_time(conn, imported)
        results = check_import(conn, imported, run_id, as_of)
        alerts = process_alerts(conn, as_of, run_id=run_id, dag_id=dag_id)
        rejected = conn.execute(
            "select report_date::text, reason, count(*) from landing.rejects where batch_id = any(%s)"
            " and feed = %s group by 1, 2 order by 1, 2",
            ([o.batch_id for o in imported.outcomes], DISTRICT_REPORTS.feed),
        ).fetchall()
    failing = Counter(r.rule for r in results if r.status == "fail")
    return {
        "imported": imported,
        "checks": len(results),
        "failing_by_rule": dict(sorted(failing.items())),
        "rejected": rejected,
        "alerts": alerts,
    }


def print_report(summary: dict[str, Any], file: str) -> None:
    imported: BulletinImport = summary["imported"]
    bulletin, layout = imported.bulletin, imported.bulletin.layout
    dates = bulletin.report_dates
    print(
        f"{file}: {len(imported.outcomes)} report dates {dates[0]}..{dates[-1]},"
        f" city {layout.city.district_name} ({layout.city.district_id}), {len(layout.district_ids)} districts,"
        f" {layout.encoding}"
    )
    if imported.onboarded:
        print(
            f"onboarded {layout.city.district_name} from the national roster (calendar {dates[0]}..{dates[-1]});"
            " `epifeeds roster list` shows it"
        )
    print(
        f"{'report date':<12} {'batch':>6} {'status':<11} {'read':>5} {'landed':>6} {'new':>4} {'rejected':>8}"
    )
    for day, o in zip(dates, imported.outcomes, strict=True):
        status = f"{o.status}{' (again)' if o.is_repeat else ''}"
        print(
            f"{day!s:<12} {o.batch_id:>6} {status:<11} {o.rows_read:>5} {o.rows_landed:>6}"
            f" {o.rows_new_versions:>4} {o.rows_rejected:>8}"
        )
    read, landed, rejected = (
        sum(getattr(o, f) for o in imported.outcomes) for f in ("rows_read", "rows_landed", "rows_rejected")
    )
    new = sum(o.rows_new_versions for o in imported.outcomes)
    print(
        f"rows: {read} read = {landed} landed ({new} new versions) in {DISTRICT_REPORTS.landing_table}"
        f" + {rejected} rejected to landing.rejects; deliveries ledgered in landing.batches"
    )
    figures = sum(o.rows_landed for o in imported.measure_outcomes)
    measures = sorted({c.measure for c in layout.measure_columns})
    print(
        f"measures: {len(measures)} published measures, {figures} figures in {BULLETIN_MEASURES.landing_table}"
    )
    for line in rejected_summary(summary["rejected"]):
        print(f"  rejected {line}")
    for name, why in layout.unmatched_reporters.items():
        print(f"unmatched column group {name}: {why}")
    if layout.unmatched_columns:
        print(f"unmatched columns (no measure; kept in the archive): {layout.unmatched_summary()}")
    if layout.ignored_columns:
        print(
            f"ignored columns (no place in the {DISTRICT_REPORTS.feed} contract; carried as measures in"
            f" {BULLETIN_MEASURES.landing_table} where recognised): {layout.ignored_summary()}"
        )
    alerts = summary["alerts"]
    print(
        f"checks: {summary['checks']} run, failures by rule: {summary['failing_by_rule'] or 'none'};"
        f" alerts: {alerts['incidents']} open incidents, {len(alerts['notices'])} notices sent;"
        f" see `epifeeds findings --from {dates[0]} --to {dates[-1]}`"
    )


def rejected_summary(rejected: list[tuple[str, str, int]]) -> list[str]:
    """The rejected district-report rows by root cause: a repeated date once, an unknown reporter once
    with its dates, any other reason per date."""
    from epifeeds.feeds.parsing import DUPLICATE_ROW_REASON

    duplicates: dict[str, int] = {}
    unknown: dict[str, list[tuple[str, int]]] = {}
    lines = []
    for day, reason, count in rejected:
        if reason.startswith(DUPLICATE_ROW_REASON):
            duplicates[day] = duplicates.get(day, 0) + count
        elif reason.startswith("unknown district"):
            unknown.setdefault(reason, []).append((day, count))
        else:
            lines.append(f"{day} ×{count}: {reason}")
    lines += [
        f"{day} ×{n}: the date is in the file twice; the first row landed" for day, n in duplicates.items()
    ]
    for reason, days in unknown.items():
        rows = sum(n for _, n in days)
        lines.append(f"{days[0][0]}..{days[-1][0]} ×{rows} ({len(days)} dates): {reason}")
    return lines


def cmd_import_bulletin(args: argparse.Namespace) -> int:
    """`epifeeds import-bulletin FILE [--city NAME]`: land the file, judge it, alert, say where rows went."""
    from epifeeds.settings import load_settings

    settings = load_settings()
    try:
        summary = import_check_and_alert(
            settings.warehouse_dsn,
            settings.archive_url,
            args.file,
            f"import-bulletin:{Path(args.file).name}",
            city=args.city,
            received_at=args.received_at,
        )
    except (UnreadablePayload, FileNotFoundError) as problem:
        print(f"epifeeds import-bulletin: {args.file}: {problem}")
        return 2
    except DeliveriesFailed as problem:  # quarantined with a C3 finding; importing again retries them
        print(f"epifeeds import-bulletin: {args.file}: {problem}")
        return 1
    print_report(summary, str(args.file))
    return 0


def ingest_bulletin_drop(warehouse_dsn: str, archive_url: str, drop_url: str, run_id: str) -> list[dict]:
    """Every bulletin file in the drop folder (`<drop>/bulletins/*.csv`): imported, judged and alerted.
    A file already imported changes nothing; an unreadable one is reported and the others go on; a file
    with a delivery that could not be loaded fails the run once the other files are done."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(f"{drop_url.rstrip('/')}/{DROP_FOLDER}")
    done, failed = [], []
    for remote in sorted(fs.glob(f"{root}/*.csv")):
        try:
            done.append(_import_dropped(fs, remote, warehouse_dsn, archive_url, run_id))
        except DeliveriesFailed as problem:
            failed.append(f"{remote.rsplit('/', 1)[-1]}: {problem}")
    if failed:
        raise DeliveriesFailed("\n".join(failed))
    return done


def _import_dropped(fs: Any, remote: str, warehouse_dsn: str, archive_url: str, run_id: str) -> dict:
    import tempfile

    name = remote.rsplit("/", 1)[-1]
    with tempfile.TemporaryDirectory() as scratch:
        local = Path(scratch) / name
        local.write_bytes(fs.cat_file(remote))
        try:
            summary = import_check_and_alert(
                warehouse_dsn,
                archive_url,
                local,
                run_id,
                dag_id=INGEST_BULLETINS_DAG_ID,
                source_uri=fs.unstrip_protocol(remote),
            )
        except UnreadablePayload as problem:
            return {"file": name, "status": "unreadable", "reason": str(problem)}
    imported: BulletinImport = summary["imported"]
    return {
        "file": name,
        "status": "imported",
        "city": imported.bulletin.layout.city.district_id,
        "report_dates": len(imported.outcomes),
        "new_versions": sum(o.rows_new_versions for o in imported.outcomes),
        "failing_by_rule": summary["failing_by_rule"],
        "incidents": summary["alerts"]["incidents"],
    }


def _received_at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; write e.g. 2022-05-12T10:00+08:00")
    return moment


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `import-bulletin` command to a parser's subparsers."""
    parser = subparsers.add_parser(
        "import-bulletin",
        help="land a published city bulletin (wide CSV: city columns + {区}_{measure}), check it, alert",
        description=(
            "Archive the file once and land, per report date, the district reports (the city row with its"
            " local 本土 figures, one row per district) and every published measure (landing.bulletin_measures);"
            " then run the bulletin's checks and deliver alerts. A city not yet on the roster is onboarded"
            " from the national roster. Re-importing the same file changes nothing."
        ),
    )
    parser.add_argument("file", type=Path, help="the bulletin CSV (UTF-8, UTF-8 with BOM, or GBK)")
    parser.add_argument(
        "--city",
        help="the city the bulletin is for, e.g. 北京市 or 510100 (default: inferred from the district columns)",
    )
    parser.add_argument(
        "--received-at",
        type=_received_at,
        help="when the bulletin was received, ISO 8601 with zone (default: report date + 1 day 10:00 Asia/Shanghai)",
    )
    parser.set_defaults(func=cmd_import_bulletin)
    return parser
