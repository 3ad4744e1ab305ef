"""Every platform check on the district feed for some report dates: what an ingest run (and a
bulletin import) runs after landing, in one place."""

from __future__ import annotations

from datetime import date, datetime

import psycopg

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.quality.completeness import feed_expected_on
from epifeeds.quality.district_history import check_district_history
from epifeeds.quality.district_rules import check_district_rules
from epifeeds.quality.file_feed_rules import check_file_feed_rules, dates_affected
from epifeeds.quality.landing_rules import check_delivery_volume, check_rejects
from epifeeds.quality.plausibility import check_plausibility
from epifeeds.quality.results import CheckResult


def check_district_feed(
    conn: psycopg.Connection, report_dates: list[date], run_id: str, as_of: datetime
) -> list[CheckResult]:
    """C3 (volume), V1/I1 (rejects), V2 and R1 (per day), I2, I5 and H1 (history), and R2-R4 against the
    file feeds; results stored, findings kept in step."""
    feed = DISTRICT_REPORTS.feed
    expected = [day for day in report_dates if feed_expected_on(feed, day)]
    results = check_delivery_volume(conn, feed, expected, run_id, as_of)
    results += check_rejects(conn, feed, report_dates, run_id, as_of)
    results += check_district_rules(conn, report_dates, run_id, as_of=as_of)
    results += check_district_history(conn, report_dates, run_id, as_of)
    results += check_plausibility(conn, feed, report_dates, run_id, as_of)  # P3 (trend)
    # The reconciliations with the file feeds (R2-R4) read the district report too: a late or revised one
    # is reconciled here rather than waiting for the next file run.
    results += check_file_feed_rules(conn, dates_affected(feed, report_dates), run_id, as_of)
    return results
