"""What the DAGs' tasks do, as plain functions of the data interval (DAG files only wire these)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import psycopg

from epifeeds.settings import (
    DISTRICT_API_CONN_ID,
    REPORT_TIMEZONE,
    WAREHOUSE_CONN_ID,
    load_settings,
)


def _connection(conn_id: str):
    from airflow.sdk import Connection

    return Connection.get(conn_id)


def warehouse_dsn() -> str:
    """The warehouse DSN from the Airflow connection `epifeeds_warehouse` (credentials URL-encoded)."""
    conn = _connection(WAREHOUSE_CONN_ID)
    auth = quote(conn.login or "", safe="") + (":" + quote(conn.password, safe="") if conn.password else "")
    return f"postgresql://{auth}@{conn.host}:{conn.port or 5432}/{conn.schema}"


def district_api() -> tuple[str, str]:
    """(base URL, token) of the district-report API: an http connection whose password is the token."""
    conn = _connection(DISTRICT_API_CONN_ID)
    scheme = "https" if conn.conn_type == "https" else "http"
    return f"{scheme}://{conn.host}{':' + str(conn.port) if conn.port else ''}", conn.password or ""


def report_date_of_run(run_time: datetime) -> date:
    """A run on local day D+1 reports on day D (reports describe the previous day)."""
    return run_time.astimezone(ZoneInfo(REPORT_TIMEZONE)).date() - timedelta(days=1)


def ingest_district_reports_for_run(run_time: datetime) -> list[dict]:
    from epifeeds.feeds.district_reports import ingest_district_reports, report_dates_to_pull

    api_url, token = district_api()
    dates = report_dates_to_pull(report_date_of_run(run_time), load_settings().ingest_lookback_days)
    outcomes = ingest_district_reports(
        warehouse_dsn(), load_settings().archive_url, api_url, token, dates, run_time
    )
    return [
        {
            "report_date": day.isoformat(),
            "batch_id": o.batch_id,
            "status": o.status,
            "is_repeat": o.is_repeat,
            "rows_read": o.rows_read,
            "rows_landed": o.rows_landed,
            "rows_rejected": o.rows_rejected,
            "rows_new_versions": o.rows_new_versions,
        }
        for day, o in zip(dates, outcomes, strict=True)
    ]


def validate_district_reports(deliveries: list[dict], run_id: str, run_time: datetime) -> dict:
    """GX on every report date that got new rows; the platform's district rules on every pulled date."""
    from epifeeds.feeds.contracts import DISTRICT_REPORTS
    from epifeeds.quality.district_checks import check_district_feed
    from epifeeds.quality.gx_runner import validate_landing_slice

    dsn = warehouse_dsn()
    changed = sorted({d["report_date"] for d in deliveries if d["rows_new_versions"]})
    gx = [validate_landing_slice(dsn, DISTRICT_REPORTS, date.fromisoformat(day), run_id) for day in changed]
    pulled = sorted({date.fromisoformat(d["report_date"]) for d in deliveries})
    with psycopg.connect(dsn) as conn:
        results = check_district_feed(conn, pulled, run_id, run_time)
    failed = sorted({(r.rule, r.reporter or "", str(r.report_date)) for r in results if r.status == "fail"})
    return {"gx": gx, "platform_checks": len(results), "failed": [" ".join(f) for f in failed]}


def watch_district_feed(run_time: datetime, run_id: str) -> dict:
    """C1 completeness and C2 freshness at this run's time, then incidents grouped by root cause and notices delivered."""
    from epifeeds.alerts.notify import process_alerts
    from epifeeds.feeds.names import load_district_roster
    from epifeeds.landing.schema import ensure_landing_schema
    from epifeeds.quality.completeness import check_district_completeness
    from epifeeds.quality.file_feed_completeness import check_file_feed_completeness
    from epifeeds.quality.freshness import check_feed_freshness

    with psycopg.connect(warehouse_dsn()) as conn:
        ensure_landing_schema(conn)
        results = check_district_completeness(conn, load_district_roster(), run_time, run_id)
        file_results = check_file_feed_completeness(conn, run_time, run_id)  # sites per district, hotels
        stale = [r.feed for r in check_feed_freshness(conn, run_time, run_id) if r.status == "fail"]
        alerts = process_alerts(conn, run_time, run_id=run_id)
    return {
        "checked": len(results),
        "missing": sum(r.status == "fail" and r.severity == "error" for r in results),
        "late": sum(r.status == "fail" and r.severity == "warn" for r in results),
        "file_feeds": {
            "checked": len(file_results),
            "missing": sum(r.status == "fail" and r.severity == "error" for r in file_results),
            "late": sum(r.status == "fail" and r.severity == "warn" for r in file_results),
        },
        "stale_feeds": stale,
        "incidents": alerts["incidents"],
        "notices": alerts["notices"],
        "undelivered": alerts["undelivered"],
    }
