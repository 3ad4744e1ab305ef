"""What the DAGs' tasks do, as plain functions of the data interval: the one module the DAG files call.

A run at local time T on day D+1 (its data interval's end) handles report date D and the lookback days
before it (EPIFEEDS_INGEST_LOOKBACK_DAYS for the district API, EPIFEEDS_FILE_DROP_LOOKBACK_DAYS for the
file drop), taking only deliveries that had arrived by T. Each ingest lands through the feed's module
(`feeds/`), then the validate tasks run GX and the platform's rules on what changed, and the watchdog
judges completeness and freshness on the clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

import psycopg

from epifeeds.feeds.contracts import CONTRACTS
from epifeeds.schedules import report_date_of_run, report_dates_through
from epifeeds.settings import DISTRICT_API_CONN_ID, WAREHOUSE_CONN_ID, load_settings, pg_dsn

# The file feeds whose deliveries are reports (registries are snapshots; check-ins come inside hotel reports).
REPORT_FEEDS = ("testing_site_reports", "hotel_reports")
# The file feeds sliced by a date of the run's window, whose slices a failed try may leave unvalidated.
WINDOWED_FEEDS = ("testing_site_reports", "hotel_reports", "hotel_check_ins")


def _connection(conn_id: str):
    from airflow.sdk import Connection

    return Connection.get(conn_id)


def warehouse_dsn() -> str:
    """The warehouse DSN from the Airflow connection `epifeeds_warehouse`."""
    conn = _connection(WAREHOUSE_CONN_ID)
    return pg_dsn(conn.host, conn.port or 5432, conn.login or "", conn.password or "", conn.schema)


def district_api() -> tuple[str, str]:
    """(base URL, token) of the district-report API: an http connection whose password is the token."""
    conn = _connection(DISTRICT_API_CONN_ID)
    scheme = "https" if conn.conn_type == "https" else "http"
    return f"{scheme}://{conn.host}{':' + str(conn.port) if conn.port else ''}", conn.password or ""


def report_dates_for_run(run_time: datetime, lookback_days: int | None = None) -> list[date]:
    """The run's report date and the lookback days before it (default: the file drop's), oldest first."""
    days = load_settings().file_drop_lookback_days if lookback_days is None else lookback_days
    return report_dates_through(report_date_of_run(run_time), days)


def _failures(results) -> list[str]:
    """'rule reporter date' of every failed check, once each, sorted."""
    failed = {(r.rule, r.reporter or "", str(r.report_date)) for r in results if r.status == "fail"}
    return [" ".join(f) for f in sorted(failed)]


# --- ingest: one task per feed family, each landing through the feed's module -------------------------


def ingest_district_reports_for_run(run_time: datetime) -> list[dict]:
    from epifeeds.feeds.district_reports import ingest_district_reports

    settings = load_settings()
    api_url, token = district_api()
    dates = report_dates_for_run(run_time, settings.ingest_lookback_days)
    outcomes = ingest_district_reports(warehouse_dsn(), settings.archive_url, api_url, token, dates, run_time)
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


def ingest_registries_for_run(run_time: datetime) -> list[dict]:
    from epifeeds.feeds.registries import ingest_registries

    settings = load_settings()
    return ingest_registries(
        warehouse_dsn(), settings.archive_url, settings.registry_url, report_date_of_run(run_time), run_time
    )


def _ingest_file_drop(ingest, run_time: datetime) -> dict:
    settings = load_settings()
    dates = report_dates_for_run(run_time)
    return ingest(warehouse_dsn(), settings.archive_url, settings.file_drop_url, dates, run_time)


def ingest_testing_sites_for_run(run_time: datetime) -> dict:
    from epifeeds.feeds.testing_sites import ingest_testing_site_reports

    return _ingest_file_drop(ingest_testing_site_reports, run_time)


def ingest_isolation_hotels_for_run(run_time: datetime) -> dict:
    from epifeeds.feeds.hotels import ingest_hotel_reports

    return _ingest_file_drop(ingest_hotel_reports, run_time)


def ingest_bulletins_for_run(run_id: str) -> list[dict]:
    """The drop folder's published bulletins: imported, judged and alerted (`epifeeds.bulletin_import`)."""
    from epifeeds.bulletin_import import ingest_bulletin_drop

    settings = load_settings()
    return ingest_bulletin_drop(warehouse_dsn(), settings.archive_url, settings.file_drop_url, run_id)


# --- validate: GX on the changed slices, then the platform's rules on the dates they affect -----------


def validate_district_reports(deliveries: list[dict], run_id: str, run_time: datetime) -> dict:
    """GX on every report date that got new rows; the platform's district rules on every pulled date."""
    from epifeeds.feeds.contracts import DISTRICT_REPORTS
    from epifeeds.quality.district_checks import check_district_feed
    from epifeeds.quality.gx_runner import validate_landing_slices

    dsn = warehouse_dsn()
    changed = {date.fromisoformat(d["report_date"]) for d in deliveries if d["rows_new_versions"]}
    window = report_dates_for_run(run_time, load_settings().ingest_lookback_days)
    with psycopg.connect(dsn) as conn:  # and what a failed try landed but never validated (issue #13)
        changed |= {day for _, day in unvalidated_slices(conn, [DISTRICT_REPORTS.feed], window)}
    gx = validate_landing_slices(dsn, [(DISTRICT_REPORTS, day) for day in sorted(changed)], run_id)
    pulled = sorted({date.fromisoformat(d["report_date"]) for d in deliveries} | set(window))
    with psycopg.connect(dsn) as conn:
        results = check_district_feed(conn, pulled, run_id, run_time)
    return {"gx": gx, "platform_checks": len(results), "failed": _failures(results)}


def changed_slices(deliveries: list[dict]) -> list[tuple[str, date]]:
    """(feed, date) of every slice that got new versions: a report date, or a registry's as-of date."""
    slices = set()
    for delivery in deliveries:
        if delivery["rows_new_versions"]:
            for day in delivery.get("slice_dates") or [delivery["report_date"]]:
                slices.add((delivery["feed"], date.fromisoformat(day)))
    return sorted(slices)


def rule_dates_for(
    deliveries: list[dict], run_time: datetime | None = None, unjudged: Iterable[tuple[str, date]] = ()
) -> dict[str, list[date]]:
    """Report dates to run the platform's file-feed rules on, per feed group (testing_site_reports: V2,
    I4, R2, R4; hotel_reports: V2, I3, R3): every date whose rules read a changed or `unjudged` slice,
    plus the run's own report dates when `run_time` is given (a district report that came after the
    files is then reconciled by the next run)."""
    from epifeeds.quality.file_feed_rules import FEED_GROUPS, GROUP_OF, dates_affected

    changed: dict[str, set[date]] = {}
    for feed, day in sorted(set(changed_slices(deliveries)) | set(unjudged)):
        if feed in GROUP_OF:
            changed.setdefault(GROUP_OF[feed], set()).update(dates_affected(feed, [day]))
    window = set(report_dates_for_run(run_time)) if run_time is not None else set()
    return {group: sorted(changed[group] | window) for group in FEED_GROUPS if group in changed}


def unvalidated_slices(conn, feeds: Iterable[str], days: list[date]) -> list[tuple[str, date]]:
    """(feed, date) of every slice among `days` whose newest landed row is newer than the feed's last GX
    run on that date: what a failed try landed and no try validated. A cleared run's ingest finds it all
    repeats, and an ingest that failed at the end passed no XCom, so the deliveries cannot tell."""
    from epifeeds.quality.suites import suite_name

    last_gx_run = "r.suite = %s and r.report_date = l.day"
    return sorted(
        (feed, day)
        for feed in feeds
        for day in _landed_since(conn, feed, days, last_gx_run, (suite_name(CONTRACTS[feed]),))
    )


def unjudged_slices(conn, feeds: Iterable[str], days: list[date]) -> list[tuple[str, date]]:
    """(feed, date) of every slice among `days` whose newest landed row is newer than the last run of its
    group's file-feed rules that judged that date: what a try that failed before its rules landed."""
    from epifeeds.quality.file_feed_rules import GROUP_OF, SUITE

    last_rules_run = (
        "r.suite = %s and r.feed = %s and r.statistics -> 'report_dates' ? to_char(l.day, 'YYYY-MM-DD')"
    )
    return sorted(
        (feed, day)
        for feed in feeds
        for day in _landed_since(conn, feed, days, last_rules_run, (SUITE, GROUP_OF[feed]))
    )


def _landed_since(conn, feed: str, days: list[date], last_run: str, params: tuple) -> list[date]:
    """The dates among `days` whose newest row of `feed` landed after the latest dq.check_runs row that
    `last_run` (SQL on `r`, the run, and `l.day`) selects."""
    contract = CONTRACTS[feed]
    column = contract.date_column
    query = (
        f"select l.day from (select {column} as day, max(_loaded_at) as loaded_at"
        f" from {contract.landing_table} where {column} = any(%s) group by {column}) l"
        " where l.loaded_at > coalesce((select max(r.started_at) from dq.check_runs r"
        f" where {last_run}), '-infinity')"
    )
    with conn.transaction():
        return [day for (day,) in conn.execute(query, (days, *params)).fetchall()]


def validate_changed_slices(
    deliveries: list[dict],
    run_id: str,
    run_time: datetime | None = None,
    feeds: Iterable[str] | None = None,
) -> list[dict]:
    """The contract's GX suite on every changed slice, and, given `run_time`, on every slice of the run's
    window that landed after its last GX run (`unvalidated_slices` of `feeds`, default every report feed);
    results go to dq.check_runs / dq.check_results.
    Then what landing saw of the deliveries (V1, I1, C3), and the platform's file-feed rules
    (`quality/file_feed_rules.py`: V2, I3, I4, R2, R3, R4) on the report dates they affect, with findings
    in dq.findings (stamped `run_time`, default now)."""
    from epifeeds.quality.file_feed_rules import check_file_feed_rules
    from epifeeds.quality.gx_runner import validate_landing_slices

    dsn = warehouse_dsn()
    slices, unjudged, feeds = changed_slices(deliveries), [], tuple(feeds or WINDOWED_FEEDS)
    if run_time is not None:  # what a failed try landed but never validated or judged (issue #13)
        window = report_dates_for_run(run_time)
        with psycopg.connect(dsn) as conn:
            slices = sorted(set(slices) | set(unvalidated_slices(conn, feeds, window)))
            unjudged = unjudged_slices(conn, feeds, window)
    summaries = validate_landing_slices(dsn, [(CONTRACTS[feed], day) for feed, day in slices], run_id)
    rule_dates = rule_dates_for(deliveries, run_time, unjudged)
    with psycopg.connect(dsn) as conn:
        summaries += check_file_deliveries(
            conn, deliveries, run_id, run_time, feeds=feeds if run_time is not None else ()
        )
        for group, dates in rule_dates.items():
            results = check_file_feed_rules(conn, dates, run_id, run_time, feeds=[group])
            failures = _failures(results)
            summaries.append(
                {
                    "suite": "file_feed_rules",
                    "feed": group,
                    "report_dates": [d.isoformat() for d in dates],
                    "checks": len(results),
                    "failed": len(failures),
                    "failures": failures,
                }
            )
    return summaries


def check_file_deliveries(
    conn, deliveries: list[dict], run_id: str, run_time: datetime | None, feeds: Iterable[str] = ()
) -> list[dict]:
    """What landing saw of each report delivery: its header (S1), rejected rows (V1, I1, C3 for a file
    cut short) and empty or thin deliveries (C3; a quarantined one has its C3 from the ingest), over the
    report dates this run pulled, for the report feeds delivered and those of `feeds` (a cleared run
    whose deliveries are all repeats judges again what its first try landed)."""
    from epifeeds.quality.completeness import feed_expected_on
    from epifeeds.quality.landing_rules import check_delivery_volume, check_rejects
    from epifeeds.quality.schema_drift import check_headers

    as_of = run_time or datetime.now(UTC)
    pulled = sorted({date.fromisoformat(d["report_date"]) for d in deliveries if d.get("report_date")})
    if run_time is not None:
        pulled = sorted(set(pulled) | set(report_dates_for_run(run_time)))
    summaries = []
    for feed in sorted(({d["feed"] for d in deliveries} | set(feeds)) & set(REPORT_FEEDS)):
        results = check_headers(conn, feed, pulled, run_id, as_of)
        results += check_rejects(conn, feed, pulled, run_id, as_of)
        results += check_delivery_volume(
            conn, feed, [d for d in pulled if feed_expected_on(feed, d)], run_id, as_of
        )
        failed = sorted({f"{r.rule} {r.reporter} {r.report_date}" for r in results if r.status == "fail"})
        summaries.append({"suite": "deliveries", "feed": feed, "checks": len(results), "failures": failed})
    return summaries


# --- watch: what no Asset event can tell, checked on the clock -----------------------------------------


def _counts(results) -> dict[str, int]:
    return {
        "checked": len(results),
        "missing": sum(r.status == "fail" and r.severity == "error" for r in results),
        "late": sum(r.status == "fail" and r.severity == "warn" for r in results),
    }


def watch_feeds(run_time: datetime, run_id: str) -> dict:
    """C1 completeness of every feed and C2 freshness at this run's time, then incidents grouped by root
    cause and notices delivered."""
    from epifeeds.alerts.notify import process_alerts
    from epifeeds.landing.schema import ensure_landing_schema
    from epifeeds.quality.completeness import DISTRICTS, check_completeness
    from epifeeds.quality.freshness import check_feed_freshness

    with psycopg.connect(warehouse_dsn()) as conn:
        ensure_landing_schema(conn)
        by_feed = check_completeness(conn, run_time, run_id)  # districts, sites per district, hotels
        results = by_feed.pop(DISTRICTS)
        file_results = [result for feed_results in by_feed.values() for result in feed_results]
        stale = [r.feed for r in check_feed_freshness(conn, run_time, run_id) if r.status == "fail"]
        alerts = process_alerts(conn, run_time, run_id=run_id)
    return {
        **_counts(results),
        "file_feeds": _counts(file_results),
        "stale_feeds": stale,
        "incidents": alerts["incidents"],
        "notices": alerts["notices"],
        "undelivered": alerts["undelivered"],
    }
