from datetime import UTC, date, datetime

import pytest

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.names import load_district_roster
from epifeeds.quality.reporting_calendar import deadline_of, load_reporting_calendar, report_dates_due

pytestmark = pytest.mark.unit

TAIYUAN, BEIJING = "140100", "110000"


def test_a_report_is_due_only_after_deadline_plus_grace():
    district = load_reporting_calendar()[("district_reports", TAIYUAN, "district")]
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
    district = load_reporting_calendar()[("district_reports", TAIYUAN, "district")]
    assert report_dates_due(datetime(2022, 3, 1, 12, tzinfo=UTC), district, lookback_days=3) == []


def test_every_reporter_on_the_roster_follows_its_own_citys_calendar():
    calendar, roster = load_reporting_calendar(), load_district_roster()

    jurisdictions = {
        d.district_id: deadline_of(
            calendar, DISTRICT_REPORTS.feed, roster, d.district_id, d.district_level
        ).jurisdiction_id
        for d in roster.districts
    }

    assert jurisdictions["140105"] == TAIYUAN and jurisdictions[TAIYUAN] == TAIYUAN  # 小店区, 太原市
    assert jurisdictions["110105"] == BEIJING and jurisdictions[BEIJING] == BEIJING  # 朝阳区, 北京市
    assert set(jurisdictions.values()) == {TAIYUAN, BEIJING}


def test_beijing_is_not_expected_during_the_taiyuan_demo_days():
    calendar = load_reporting_calendar()
    # The demo's days are 2022-03-01..: Beijing's published series starts on 2022-04-09.
    as_of = datetime(2022, 3, 5, 6, tzinfo=UTC)
    for level in ("district", "city"):
        assert report_dates_due(as_of, calendar[("district_reports", BEIJING, level)], lookback_days=3) == []
    assert report_dates_due(as_of, calendar[("district_reports", TAIYUAN, "district")], lookback_days=3)


def test_a_finite_published_series_is_expected_only_up_to_its_last_bulletin():
    beijing = load_reporting_calendar()[("district_reports", BEIJING, "district")]
    # 2022-05-14 12:00 Asia/Shanghai: 05-10..05-13 are past their deadline, but the series ends on 05-11.
    as_of = datetime(2022, 5, 14, 4, tzinfo=UTC)
    assert report_dates_due(as_of, beijing, lookback_days=3) == [date(2022, 5, 10), date(2022, 5, 11)]
    assert report_dates_due(datetime(2022, 6, 1, tzinfo=UTC), beijing, lookback_days=3) == []
    # The first bulletin (2022-04-09) is due at 10:00 on 04-10 and alerts an hour later.
    assert report_dates_due(datetime(2022, 4, 10, 3, 0, tzinfo=UTC), beijing, lookback_days=3) == [
        date(2022, 4, 9)
    ]
