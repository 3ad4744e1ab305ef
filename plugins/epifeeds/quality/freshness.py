"""Rule C2: the last successful delivery of each feed is within its SLA at the watchdog's run time.

The SLAs are declared here once; dbt's source freshness (dbt_project/models/staging/*/_*__sources.yml)
is tested against them, so `dbt source freshness` and the watchdog agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from epifeeds.quality.completeness import feed_expected_on
from epifeeds.quality.findings import Checked, judged, record_run
from epifeeds.quality.results import CheckResult
from epifeeds.settings import REPORT_TIMEZONE


@dataclass(frozen=True)
class FreshnessSla:
    warn_after: timedelta
    error_after: timedelta


# Daily feeds: a day's delivery may come up to a day late before anyone worries, two before it is an error.
DAILY = FreshnessSla(warn_after=timedelta(hours=26), error_after=timedelta(hours=50))
FRESHNESS: dict[str, FreshnessSla] = {
    "district_reports": DAILY,
    "testing_site_reports": DAILY,
    "hotel_reports": DAILY,
    "hotel_check_ins": DAILY,
}
# The registries are left to `dbt source freshness` (8 and 15 days): an unchanged registry is not
# re-delivered (same bytes, same batch), so the time since its last batch says nothing about staleness.


# Feeds without calendar rows of their own follow the report feed they come with.
REPORT_FEED_OF = {
    "hotel_check_ins": "hotel_reports",
    "testing_sites": "testing_site_reports",
    "isolation_hotels": "hotel_reports",
}


def check_feed_freshness(conn: psycopg.Connection, as_of: datetime, run_id: str) -> list[CheckResult]:
    """C2 per feed expected today: one result, and a finding while the feed is stale."""
    today = as_of.astimezone(ZoneInfo(REPORT_TIMEZONE)).date()
    checked: Checked = []
    for feed, sla in FRESHNESS.items():
        if not feed_expected_on(REPORT_FEED_OF.get(feed, feed), today - timedelta(days=1)):
            continue
        last = conn.execute(
            "select max(received_at) from landing.batches"
            " where feed = %s and status = 'landed' and rows_landed > 0 and received_at <= %s",
            (feed, as_of),
        ).fetchone()[0]
        age = as_of - last if last else None
        if age is None or age > sla.error_after:
            severity = "error"
        elif age > sla.warn_after:
            severity = "warn"
        else:
            severity = "info"
        observed = {
            "last_delivery_at": last.isoformat() if last else None,
            # `age and ...` stored the timedelta itself when the delivery came at the very run time
            "age_hours": round(age.total_seconds() / 3600, 1) if age is not None else None,
        }
        expected = {
            "warn_after_hours": sla.warn_after.total_seconds() / 3600,
            "error_after_hours": sla.error_after.total_seconds() / 3600,
        }
        stale = severity != "info"
        summary = (
            f"{feed}: no successful delivery since {last:%Y-%m-%d %H:%M %Z} ({observed['age_hours']} h)"
            if last
            else f"{feed}: no successful delivery yet"
        )
        checked.append(
            judged(
                "feed_is_fresh", "C2", feed, "*", today,
                failed=stale, severity=severity if stale else "warn", kind="stale", summary=summary,
                details=observed | expected, observed=observed, expected=expected,
            )
        )  # fmt: skip
    return record_run(conn, "freshness", "*", run_id, checked, as_of, report_date=today)
