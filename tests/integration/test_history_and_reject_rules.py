"""I2, I5, H1 on a district's report history and V1/I1 from landing's rejects, on real Postgres."""

import json
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.http_client import records_from_pages
from epifeeds.feeds.names import load_district_roster
from epifeeds.feeds.parsing import parse_district_records
from epifeeds.landing.loader import Delivery, land_delivery
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.quality.district_history import check_district_history
from epifeeds.quality.landing_rules import check_rejects

pytestmark = pytest.mark.integration

D1, D2, D3 = date(2022, 3, 6), date(2022, 3, 7), date(2022, 3, 8)


def report(district: str, day: date, new: int, cumulative: int, **extra) -> dict:
    return {"district": district, "report_date": day.isoformat(), "new_positives": new, "new_confirmed": new,
            "new_asymptomatic": 0, "cumulative_confirmed": cumulative, "cumulative_positives": cumulative} | extra  # fmt: skip


def land(conn, tmp_path, day: date, items: list[dict], hour: int = 1):
    received_at = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=hour)
    page = json.dumps({"items": items}, ensure_ascii=False)
    payload = json.dumps({"pages": [page]}, ensure_ascii=False).encode()

    def parse(raw: bytes):
        return parse_district_records(
            DISTRICT_REPORTS, records_from_pages(raw), report_date=day, received_at=received_at,
            roster=load_district_roster(),
        )  # fmt: skip

    delivery = Delivery("district_reports", "*", day, "http://agency.test", payload, received_at)
    return land_delivery(conn, DISTRICT_REPORTS, str(tmp_path), delivery, parse)


def findings(conn) -> dict:
    rows = conn.execute(
        "select rule, reporter, report_date, status, details from dq.findings order by 1, 2, 3"
    )
    return {(rule, reporter, day): (status, details) for rule, reporter, day, status, details in rows}


AT = datetime(2022, 3, 9, 3, tzinfo=UTC)


def test_a_cumulative_that_drops_breaks_i2_that_day_and_i5_that_day_and_the_next(warehouse_dsn, tmp_path):
    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        land(conn, tmp_path, D1, [report("娄烦县", D1, 1, 6), report("小店区", D1, 2, 10)])
        land(conn, tmp_path, D2, [report("娄烦县", D2, 0, 5), report("小店区", D2, 1, 11)])
        land(conn, tmp_path, D3, [report("娄烦县", D3, 1, 7), report("小店区", D3, 0, 11)])
        check_district_history(conn, [D1, D2, D3], "test", AT)
        found = findings(conn)
    assert set(found) == {("I2", "140123", D2), ("I5", "140123", D2), ("I5", "140123", D3)}
    assert found[("I2", "140123", D2)][1]["measures"]["cumulative_confirmed"] == {"previous": 6, "current": 5}


def test_a_revision_keeps_before_and_after_and_small_changes_pass(warehouse_dsn, tmp_path):
    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        base = {"samples_collected": 374511, "close_contacts_identified": 3}
        land(conn, tmp_path, D1, [report("迎泽区", D1, 1, 6, **base), report("小店区", D1, 1, 6, **base)])
        revised = {"samples_collected": 421574, "close_contacts_identified": 4}
        tiny = {"samples_collected": 374600, "close_contacts_identified": 3}  # +0.02%: under the 1% threshold
        land(
            conn,
            tmp_path,
            D1,
            [report("迎泽区", D1, 1, 6, **revised), report("小店区", D1, 1, 6, **tiny)],
            hour=7,
        )
        check_district_history(conn, [D1], "test", AT)
        found = findings(conn)
    assert set(found) == {("H1", "140106", D1)}
    assert found[("H1", "140106", D1)][1]["changes"] == {
        "close_contacts_identified": {"before": 3, "after": 4},
        "samples_collected": {"before": 374511, "after": 421574},
    }


def test_rejected_rows_are_findings_until_a_corrected_delivery_arrives(warehouse_dsn, tmp_path):
    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        bad = [report("小店区", D1, 1, 6), report("小店区", D1, 1, 6), report("高新区", D1, 1, 1),
               report("晋源区", D1, 1, 6, volunteers=-712)]  # fmt: skip
        land(conn, tmp_path, D1, bad)
        check_rejects(conn, "district_reports", [D1], "test", AT)
        first = findings(conn)
        land(
            conn,
            tmp_path,
            D1,
            [report("小店区", D1, 1, 6), report("晋源区", D1, 1, 6, volunteers=712)],
            hour=6,
        )
        check_rejects(conn, "district_reports", [D1], "test", AT + timedelta(hours=1))
        after = findings(conn)
    assert {k: v[0] for k, v in first.items()} == {
        ("I1", "140105", D1): "open",
        ("V1", "高新区", D1): "open",
        ("V1", "140110", D1): "open",
    }
    assert "-712" in json.dumps(first[("V1", "140110", D1)][1], ensure_ascii=False)
    assert {k: v[0] for k, v in after.items()} == {k: "resolved" for k in first}


def test_a_rejected_report_was_delivered_so_it_is_v1_not_a_missing_report(warehouse_dsn, tmp_path):
    from epifeeds.quality.completeness import check_district_completeness

    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        land(conn, tmp_path, D1, [report("晋源区", D1, 1, 6, volunteers=-712), report("小店区", D1, 1, 6)])
        results = check_district_completeness(conn, load_district_roster(), AT, "test")
        found = findings(conn)
    by_reporter = {r.reporter: r.status for r in results if r.report_date == D1}
    assert by_reporter["140110"] == "pass" and by_reporter["140105"] == "pass"
    assert by_reporter["140106"] == "fail"  # 迎泽区 sent nothing at all: that one is missing
    assert ("C1", "140110", D1) not in found and ("C1", "140106", D1) in found


def test_an_empty_delivery_on_an_expected_day_is_c3_and_a_thin_one_a_warning(warehouse_dsn, tmp_path):
    from epifeeds.quality.landing_rules import check_delivery_volume

    districts = ["小店区", "迎泽区", "杏花岭区", "尖草坪区", "万柏林区", "晋源区"]
    days = [date(2022, 3, 1) + timedelta(days=n) for n in range(6)]
    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        for day in days[:4]:
            land(conn, tmp_path, day, [report(name, day, 1, 6) for name in districts])
        land(conn, tmp_path, days[4], [report("小店区", days[4], 1, 6)])  # 1 row against a median of 6
        land(conn, tmp_path, days[5], [])
        check_delivery_volume(conn, "district_reports", days, "test", AT)
        found = {k: v[1] for k, v in findings(conn).items()}
        after = land(conn, tmp_path, days[5], [report(name, days[5], 1, 6) for name in districts], hour=5)
        check_delivery_volume(conn, "district_reports", days, "test", AT + timedelta(hours=1))
        status = conn.execute("select status from dq.findings where report_date = %s", (days[5],)).fetchone()[
            0
        ]
    assert set(found) == {("C3", "*", days[4]), ("C3", "*", days[5])}
    assert found[("C3", "*", days[4])] == {"rows": 1, "trailing_median": 6}
    assert after.rows_landed == 6 and status == "resolved"


def test_a_feed_without_a_delivery_for_over_its_sla_is_stale(warehouse_dsn, tmp_path):
    from epifeeds.quality.freshness import check_feed_freshness

    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        land(conn, tmp_path, D1, [report("小店区", D1, 1, 6)])  # received D1 + 1 day, 01:00 UTC
        received = datetime(2022, 3, 7, 1, tzinfo=UTC)
        states = [
            (r.status, r.severity)
            for hours in (3, 30, 60)
            for r in check_feed_freshness(conn, received + timedelta(hours=hours), "test")
            if r.feed == "district_reports"  # the file feeds, never delivered here, are stale throughout
        ]
        land(conn, tmp_path, D2, [report("小店区", D2, 1, 7)])
        check_feed_freshness(conn, received + timedelta(hours=24, minutes=30), "test")
        stale_days = dict(
            conn.execute(
                "select report_date, status from dq.findings where rule = 'C2' and feed = 'district_reports'"
            ).fetchall()
        )
    assert states == [("pass", "info"), ("fail", "warn"), ("fail", "error")]
    # One finding per local day it was stale; the next delivery on 03-08 made that day's finding resolve.
    assert stale_days == {date(2022, 3, 8): "resolved", date(2022, 3, 9): "open"}
