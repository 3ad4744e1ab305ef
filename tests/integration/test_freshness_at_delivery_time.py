"""C2 at the very moment a delivery lands: the feed is fresh (age 0 h), and the run is recorded.

The age was written `age and round(...)`, which kept a zero timedelta as the value: storing the result
then failed (a timedelta is no JSON), so a watchdog run at a delivery's own timestamp crashed."""

from datetime import UTC, date, datetime

import psycopg
import pytest

from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.quality.freshness import check_feed_freshness

pytestmark = pytest.mark.integration

AT = datetime(2022, 3, 2, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai, the district ingest's time


def test_a_feed_delivered_at_the_run_time_is_fresh(warehouse_dsn):
    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        conn.execute(
            "insert into landing.batches (feed, reporter, report_date, source_uri, sha256, received_at, status,"
            " rows_read, rows_landed, rows_rejected) values ('district_reports', '*', %s, 'http://sim.test', 'x',"
            " %s, 'landed', 11, 11, 0)",
            (date(2022, 3, 1), AT),
        )
        results = check_feed_freshness(conn, AT, "fresh-at-delivery")
        district = next(r for r in results if r.feed == "district_reports")
        stored = conn.execute(
            "select observed from dq.check_results where rule = 'C2' and feed = 'district_reports'"
        ).fetchone()[0]
    assert (district.status, district.severity) == ("pass", "info")
    assert stored["age_hours"] == 0
