"""The district daily report feed: pull each report date from the API and land it, one day at a time.

A day whose pull fails (the API down past its retries, a page missing, an answer that is not the feed's)
does not stop the other days: they land, and the run fails at the end naming the days that did not.
"""

from __future__ import annotations

from datetime import date, datetime

import psycopg

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.http_client import FeedUnavailable, fetch_district_report_pages, records_from_pages
from epifeeds.feeds.names import load_district_roster
from epifeeds.feeds.parsing import ParseResult, parse_district_records
from epifeeds.landing.ingest_run import IngestRun
from epifeeds.landing.loader import Delivery, LandingOutcome
from epifeeds.landing.schema import ensure_landing_schema


def ingest_district_reports(
    warehouse_dsn: str,
    archive_url: str,
    api_url: str,
    token: str,
    report_dates: list[date],
    as_of: datetime,
    **fetch_options: float,
) -> list[LandingOutcome]:
    """Pull, archive and land each report date; returns one outcome per delivery (raises DeliveriesFailed
    after the others when a day could not be pulled or loaded). `fetch_options` go to the HTTP client
    (timeout_seconds, deadline_seconds, attempts, backoff_seconds)."""
    roster = load_district_roster()
    outcomes = []
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:  # one transaction per delivery
        ensure_landing_schema(conn)
        run = IngestRun(conn, archive_url, as_of)
        for report_date in report_dates:
            try:
                payload = fetch_district_report_pages(
                    api_url, token, report_date, as_of=as_of, **fetch_options
                )
            except FeedUnavailable as problem:
                run.failed(f"district_reports for {report_date}: {problem}")
                continue

            def parse(raw: bytes, day: date = report_date) -> ParseResult:
                return parse_district_records(
                    DISTRICT_REPORTS,
                    records_from_pages(raw),
                    report_date=day,
                    received_at=as_of,
                    roster=roster,
                )

            delivery = Delivery(
                feed=DISTRICT_REPORTS.feed,
                reporter="*",
                report_date=report_date,
                source_uri=f"{api_url.rstrip('/')}/api/v1/district-reports?report_date={report_date}",
                payload=payload,
                received_at=as_of,
            )
            outcomes.append(run.land(DISTRICT_REPORTS, delivery, parse))
        run.finish()
    return outcomes
