"""The file feeds' rules without a database: orderings from the contracts, tolerances, which report dates
a changed slice touches, and C1 deadlines that fit the agencies' upload times and the ingest schedule."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from epifeeds.feeds import names
from epifeeds.feeds.contracts import HOTEL_REPORTS, TESTING_SITE_REPORTS
from epifeeds.quality.file_feed_rules import (
    dates_affected,
    i4_allowed_difference,
    ordering_pairs,
    ordering_violations_sql,
    r2_allowed_difference,
)
from epifeeds.quality.reporting_calendar import load_reporting_calendar
from epifeeds.schedules import (
    INGEST_ISOLATION_HOTELS_CRON,
    INGEST_TESTING_SITES_CRON,
    WATCHDOG_BACKFILL_LOCAL_TIME,
    cron_local_time,
)
from epifeeds.tasks import rule_dates_for
from epifeeds_sim.generate import generate
from epifeeds_sim.randomness import parse_iso_utc

pytestmark = pytest.mark.unit

D = date(2022, 3, 6)


def test_v2_checks_every_pair_the_contracts_orderings_imply():
    assert ordering_pairs(TESTING_SITE_REPORTS) == [
        ("positive_tubes", "tubes_sent_to_lab"),
        ("positive_tubes", "tubes"),
        ("positive_tubes", "samples_collected"),
        ("tubes_sent_to_lab", "tubes"),
        ("tubes_sent_to_lab", "samples_collected"),
        ("tubes", "samples_collected"),
    ]
    assert ordering_pairs(HOTEL_REPORTS) == [("rooms_occupied", "rooms_total")]
    sql = ordering_violations_sql(HOTEL_REPORTS, "today")
    assert sql == (
        "array_remove(array[case when today.rooms_occupied > today.rooms_total"
        " then 'rooms_occupied > rooms_total' end]::text[], null)"
    )


@pytest.mark.parametrize(
    ("expected_tubes", "allowed"), [(0, 2), (1, 2), (20, 2), (21, 3), (79, 8), (100, 10), (5000, 500)]
)
def test_i4_allows_two_tubes_or_ten_percent(expected_tubes, allowed):
    assert i4_allowed_difference(expected_tubes) == allowed


def test_r2_allows_two_percent_of_the_districts_figure():
    assert r2_allowed_difference(10_000) == 200
    assert r2_allowed_difference(9228) < 9228 - 8794  # the simulator's samples_mismatch is well beyond


def test_a_changed_slice_is_checked_on_every_date_whose_rules_read_it():
    assert dates_affected("testing_site_reports", [D]) == [D]
    assert dates_affected("hotel_reports", [D]) == [D - timedelta(days=1), D, D + timedelta(days=1)]
    assert dates_affected("hotel_check_ins", [D, D]) == [D - timedelta(days=1), D, D + timedelta(days=1)]
    deliveries = [
        {"feed": "hotel_reports", "report_date": "2022-03-06", "rows_new_versions": 1},
        {"feed": "hotel_check_ins", "report_date": "2022-03-06", "rows_new_versions": 10},
        {"feed": "testing_site_reports", "report_date": "2022-03-04", "rows_new_versions": 0},
        {"feed": "testing_site_reports", "report_date": "2022-03-05", "rows_new_versions": 3},
        {"feed": "testing_sites", "report_date": "2022-03-06", "rows_new_versions": 5},
    ]
    assert rule_dates_for(deliveries) == {
        "testing_site_reports": [date(2022, 3, 5)],
        "hotel_reports": [date(2022, 3, 5), D, date(2022, 3, 7)],
    }
    run_time = datetime(2022, 3, 7, 2, 30, tzinfo=UTC)  # 10:30 on 03-07: report date 03-06 and 3 before
    assert rule_dates_for(deliveries[2:4], run_time) == {
        "testing_site_reports": [date(2022, 3, 3), date(2022, 3, 4), date(2022, 3, 5), D]
    }
    assert rule_dates_for(deliveries[4:], run_time) == {}  # a registry alone: nothing to check


def file_feed_deadlines() -> dict:
    return {
        key: d
        for key, d in load_reporting_calendar().items()
        if key[0] in ("testing_site_reports", "hotel_reports")
    }


def test_the_calendar_holds_the_file_feeds_deadlines():
    """C1 reads every feed's deadline from reporting_calendar.csv (no second copy in Python): site files
    due D+1 06:00 with 5 h grace, hotel reports D+1 09:00 with 2 h, both open-ended from 2022-03-01."""
    deadlines = file_feed_deadlines()
    assert set(deadlines) == {
        ("testing_site_reports", "140100", "district"),
        ("hotel_reports", "140100", "hotel"),
    }
    sites, hotels = (
        deadlines[("testing_site_reports", "140100", "district")],
        deadlines[("hotel_reports", "140100", "hotel")],
    )
    assert (sites.days_after, sites.local_time, sites.grace) == (1, time(6, 0), timedelta(hours=5))
    assert (hotels.days_after, hotels.local_time, hotels.grace) == (1, time(9, 0), timedelta(hours=2))
    assert {(d.active_from, d.active_to) for d in deadlines.values()} == {(date(2022, 3, 1), None)}


def test_a_calendar_row_is_what_moves_a_deadline(monkeypatch, tmp_path: Path):
    original = (names.SEEDS_DIR / "reporting_calendar.csv").read_text(encoding="utf-8")
    (tmp_path / "reporting_calendar.csv").write_text(
        original.replace(
            "hotel_reports,140100,hotel,2022-03-01,,1,09:00,120",
            "hotel_reports,140100,hotel,2022-03-01,,1,08:30,150",
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(names, "SEEDS_DIR", tmp_path)
    hotels = file_feed_deadlines()[("hotel_reports", "140100", "hotel")]
    assert (hotels.local_time, hotels.grace) == (time(8, 30), timedelta(minutes=150))


def test_deadlines_fit_the_upload_times_and_are_judged_after_the_ingest_has_run(tmp_path: Path):
    """Every simulated file arrives before its deadline; missing is judged after the 10:30 ingest and by
    the watchdog's backfill run."""
    generate(tmp_path, days=3, seed=7, faults="none", scale="small")
    arrivals = json.loads((tmp_path / "file_drop/arrivals.json").read_text(encoding="utf-8"))["files"]
    ingest_at = {
        "testing_site_reports": cron_local_time(INGEST_TESTING_SITES_CRON),
        "hotel_reports": cron_local_time(INGEST_ISOLATION_HOTELS_CRON),
    }
    folder = {"testing_site_reports": "file_drop/testing_sites/", "hotel_reports": "file_drop/hotel_reports/"}
    for (feed, _, _), deadline in file_feed_deadlines().items():
        for path, arrived in arrivals.items():
            if path.startswith(folder[feed]):
                day = date.fromisoformat(Path(path).stem)
                assert parse_iso_utc(arrived) <= deadline.due_at(day), path
        alert_local = deadline.alert_at(D).astimezone(deadline.due_at(D).tzinfo)
        assert alert_local.date() == D + timedelta(days=1)
        assert ingest_at[feed] < alert_local.time() <= WATCHDOG_BACKFILL_LOCAL_TIME
