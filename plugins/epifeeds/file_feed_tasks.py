"""What the file-drop and registry DAGs' tasks do, as plain functions of the data interval.

A run at local time T on day D+1 (its data interval's end) handles report date D and the
EPIFEEDS_FILE_DROP_LOOKBACK_DAYS days before it (default 3), taking only files that had arrived by T.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from epifeeds.feeds.contracts import CONTRACTS
from epifeeds.settings import load_settings
from epifeeds.tasks import report_date_of_run, warehouse_dsn


def report_dates_for_run(run_time: datetime, lookback_days: int | None = None) -> list[date]:
    """The run's report date and the lookback days before it, oldest first."""
    last = report_date_of_run(run_time)
    days = load_settings().file_drop_lookback_days if lookback_days is None else lookback_days
    return [last - timedelta(days=offset) for offset in range(days, -1, -1)]


def ingest_registries_for_run(run_time: datetime) -> list[dict]:
    from epifeeds.feeds.registries import ingest_registries

    return ingest_registries(
        warehouse_dsn(),
        load_settings().archive_url,
        load_settings().registry_url,
        report_date_of_run(run_time),
        run_time,
    )


def ingest_testing_sites_for_run(run_time: datetime) -> dict:
    from epifeeds.feeds.testing_sites import ingest_testing_site_reports

    return ingest_testing_site_reports(
        warehouse_dsn(),
        load_settings().archive_url,
        load_settings().file_drop_url,
        report_dates_for_run(run_time),
        run_time,
    )


def ingest_isolation_hotels_for_run(run_time: datetime) -> dict:
    from epifeeds.feeds.hotels import ingest_hotel_reports

    return ingest_hotel_reports(
        warehouse_dsn(),
        load_settings().archive_url,
        load_settings().file_drop_url,
        report_dates_for_run(run_time),
        run_time,
    )


def changed_slices(deliveries: list[dict]) -> list[tuple[str, date]]:
    """(feed, date) of every slice that got new versions: a report date, or a registry's as-of date."""
    slices = set()
    for delivery in deliveries:
        if delivery["rows_new_versions"]:
            for day in delivery.get("slice_dates") or [delivery["report_date"]]:
                slices.add((delivery["feed"], date.fromisoformat(day)))
    return sorted(slices)


def rule_dates_for(deliveries: list[dict], run_time: datetime | None = None) -> dict[str, list[date]]:
    """Report dates to run the platform's file-feed rules on, per feed group (testing_site_reports: V2,
    I4, R2, R4; hotel_reports: V2, I3, R3): every date whose rules read a changed slice, plus the run's
    own report dates when `run_time` is given (a district report that came after the files is then
    reconciled by the next run)."""
    from epifeeds.quality.file_feed_rules import FEED_GROUPS, HOTELS, SITES, dates_affected

    group_of = {SITES: SITES, HOTELS: HOTELS, "hotel_check_ins": HOTELS}
    changed: dict[str, set[date]] = {}
    for feed, day in changed_slices(deliveries):
        if feed in group_of:
            changed.setdefault(group_of[feed], set()).update(dates_affected(feed, [day]))
    window = set(report_dates_for_run(run_time)) if run_time is not None else set()
    return {group: sorted(changed[group] | window) for group in FEED_GROUPS if group in changed}


def validate_changed_slices(
    deliveries: list[dict], run_id: str, run_time: datetime | None = None
) -> list[dict]:
    """The contract's GX suite on every changed slice; results go to dq.check_runs / dq.check_results.
    Then what landing saw of the deliveries (V1, I1, C3), and the platform's file-feed rules (`quality/file_feed_rules.py`: V2, I3, I4, R2, R3, R4) on the
    report dates they affect, with findings in dq.findings (stamped `run_time`, default now)."""
    import psycopg

    from epifeeds.quality.file_feed_rules import check_file_feed_rules
    from epifeeds.quality.gx_runner import validate_landing_slice

    dsn = warehouse_dsn()
    summaries = [
        validate_landing_slice(dsn, CONTRACTS[feed], day, run_id) for feed, day in changed_slices(deliveries)
    ]
    rule_dates = rule_dates_for(deliveries, run_time)
    with psycopg.connect(dsn) as conn:
        summaries += check_file_deliveries(conn, deliveries, run_id, run_time)
        for group, dates in rule_dates.items():
            results = check_file_feed_rules(conn, dates, run_id, run_time, feeds=[group])
            failed = sorted(
                {(r.rule, r.reporter or "", str(r.report_date)) for r in results if r.status == "fail"}
            )
            summaries.append(
                {
                    "suite": "file_feed_rules",
                    "feed": group,
                    "report_dates": [d.isoformat() for d in dates],
                    "checks": len(results),
                    "failed": len(failed),
                    "failures": [" ".join(f) for f in failed],
                }
            )
    return summaries


# The file feeds whose deliveries are reports (registries are snapshots; check-ins come inside hotel reports).
REPORT_FEEDS = ("testing_site_reports", "hotel_reports")


def check_file_deliveries(conn, deliveries: list[dict], run_id: str, run_time: datetime | None) -> list[dict]:
    """What landing saw of each report delivery: rejected rows (V1, I1, C3 for a file cut short) and
    empty, unreadable or thin deliveries (C3), over the report dates this run pulled."""
    from epifeeds.quality.completeness import feed_expected_on
    from epifeeds.quality.landing_rules import check_delivery_volume, check_rejects
    from epifeeds.quality.schema_drift import check_headers

    as_of = run_time or datetime.now(UTC)
    pulled = sorted({date.fromisoformat(d["report_date"]) for d in deliveries if d.get("report_date")})
    if run_time is not None:
        pulled = sorted(set(pulled) | set(report_dates_for_run(run_time)))
    summaries = []
    for feed in sorted({d["feed"] for d in deliveries} & set(REPORT_FEEDS)):
        results = check_headers(conn, [d for d in deliveries if d["feed"] == feed], run_id, as_of)
        results += check_rejects(conn, feed, pulled, run_id, as_of)
        results += check_delivery_volume(
            conn, feed, [d for d in pulled if feed_expected_on(feed, d)], run_id, as_of
        )
        failed = sorted({f"{r.rule} {r.reporter} {r.report_date}" for r in results if r.status == "fail"})
        summaries.append({"suite": "deliveries", "feed": feed, "checks": len(results), "failures": failed})
    return summaries
