"""The file feeds' rules without a database: orderings from the contracts, tolerances, which report dates
a changed slice touches, and C1 deadlines that fit the agencies' upload times and the ingest schedule."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from epifeeds.feeds.contracts import HOTEL_REPORTS, TESTING_SITE_REPORTS
from epifeeds.quality import completeness
from epifeeds.quality.file_feed_completeness import CALENDAR_ROWS, DEFAULT_DEADLINES, file_feed_deadlines
from epifeeds.quality.file_feed_rules import (
    dates_affected,
    i4_allowed_difference,
    ordering_pairs,
    ordering_violations_sql,
    r2_allowed_difference,
)
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


def test_the_calendar_rows_handed_over_say_what_the_defaults_say():
    header = (completeness.SEEDS_DIR / "reporting_calendar.csv").read_text(encoding="utf-8").splitlines()[0]
    rows = list(csv.DictReader(io.StringIO("\n".join([header, *CALENDAR_ROWS]))))
    assert [(r["feed"], r["jurisdiction_id"], r["reporter_level"]) for r in rows] == list(DEFAULT_DEADLINES)
    for row, deadline in zip(rows, DEFAULT_DEADLINES.values(), strict=True):
        assert date.fromisoformat(row["active_from"]) == deadline.active_from and not row["active_to"]
        assert int(row["deadline_days_after_report_date"]) == deadline.days_after
        assert time.fromisoformat(row["deadline_local_time"]) == deadline.local_time
        assert timedelta(minutes=int(row["grace_minutes"])) == deadline.grace


def test_calendar_rows_win_over_the_defaults(monkeypatch, tmp_path: Path):
    calendar = tmp_path / "reporting_calendar.csv"
    original = (completeness.SEEDS_DIR / "reporting_calendar.csv").read_text(encoding="utf-8")
    calendar.write_text(
        original.rstrip("\n") + "\nhotel_reports,140100,hotel,2022-03-01,,1,08:30,150,test\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(completeness, "SEEDS_DIR", tmp_path)
    deadlines = file_feed_deadlines()
    assert deadlines[("hotel_reports", "140100", "hotel")].local_time == time(8, 30)
    assert (
        deadlines[("testing_site_reports", "140100", "district")]
        == DEFAULT_DEADLINES[("testing_site_reports", "140100", "district")]
    )


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
    for (feed, _, _), deadline in DEFAULT_DEADLINES.items():
        for path, arrived in arrivals.items():
            if path.startswith(folder[feed]):
                day = date.fromisoformat(Path(path).stem)
                assert parse_iso_utc(arrived) <= deadline.due_at(day), path
        alert_local = deadline.alert_at(D).astimezone(deadline.due_at(D).tzinfo)
        assert alert_local.date() == D + timedelta(days=1)
        assert ingest_at[feed] < alert_local.time() <= WATCHDOG_BACKFILL_LOCAL_TIME
