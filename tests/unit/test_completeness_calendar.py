from datetime import UTC, date, datetime

import pytest

from epifeeds.quality.completeness import load_reporting_calendar, report_dates_due

pytestmark = pytest.mark.unit


def test_a_report_is_due_only_after_deadline_plus_grace():
    district = load_reporting_calendar()[("district_reports", "district")]
    # 2022-03-04 09:59 Asia/Shanghai: the 3rd's reports are due at 09:00 and alert after 10:00.
    before = datetime(2022, 3, 4, 1, 59, tzinfo=UTC)
    after = datetime(2022, 3, 4, 2, 0, tzinfo=UTC)
    assert report_dates_due(before, district, lookback_days=3) == [date(2022, 3, 1), date(2022, 3, 2)]
    assert report_dates_due(after, district, lookback_days=3) == [
        date(2022, 3, 1),
        date(2022, 3, 2),
        date(2022, 3, 3),
    ]


def test_nothing_is_due_before_the_feed_starts():
    district = load_reporting_calendar()[("district_reports", "district")]
    assert report_dates_due(datetime(2022, 3, 1, 12, tzinfo=UTC), district, lookback_days=3) == []
