"""What the file-drop and registry DAGs' tasks do, as plain functions of the data interval.

A run at local time T on day D+1 (its data interval's end) handles report date D and the
EPIFEEDS_FILE_DROP_LOOKBACK_DAYS days before it (default 3), taking only files that had arrived by T.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

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


def validate_changed_slices(deliveries: list[dict], run_id: str) -> list[dict]:
    """The contract's GX suite on every changed slice; results go to dq.check_runs / dq.check_results."""
    from epifeeds.quality.gx_runner import validate_landing_slice

    dsn = warehouse_dsn()
    return [
        validate_landing_slice(dsn, CONTRACTS[feed], day, run_id) for feed, day in changed_slices(deliveries)
    ]
