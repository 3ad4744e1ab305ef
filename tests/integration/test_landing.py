"""Landing against a real Postgres: archive, ledger, versions, rejects, quarantine, idempotency."""

import json
from datetime import UTC, date, datetime

import psycopg
import pytest

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.http_client import records_from_pages
from epifeeds.feeds.names import load_district_roster
from epifeeds.feeds.parsing import parse_district_records
from epifeeds.landing.archive import read_archived, sha256_of
from epifeeds.landing.loader import Delivery, land_delivery
from epifeeds.landing.schema import ensure_landing_schema

pytestmark = pytest.mark.integration

DAY = date(2022, 3, 6)


def api_payload(items: list[dict]) -> bytes:
    """The shape fetch_district_report_pages produces: every page's body kept verbatim."""
    page = json.dumps({"page": 1, "next_page": None, "items": items}, ensure_ascii=False)
    return json.dumps({"feed": "district_reports", "pages": [page]}, ensure_ascii=False).encode()


def report(district: str, positives: int = 3) -> dict:
    return {"district": district, "report_date": DAY.isoformat(), "new_positives": positives,
            "new_confirmed": positives - 1, "new_asymptomatic": 1}  # fmt: skip


def land(conn, archive: str, payload: bytes, received_hour: int = 1):
    received_at = datetime(2022, 3, 7, received_hour, tzinfo=UTC)

    def parse(raw: bytes):
        return parse_district_records(
            DISTRICT_REPORTS,
            records_from_pages(raw),
            report_date=DAY,
            received_at=received_at,
            roster=load_district_roster(),
        )

    delivery = Delivery("district_reports", "*", DAY, "http://agency.test/api", payload, received_at)
    return land_delivery(conn, DISTRICT_REPORTS, archive, delivery, parse)


def snapshot(conn) -> dict:
    return {
        table: conn.execute(f"select * from {table} order by 1, 2, 3").fetchall()
        for table in ("landing.batches", "landing.district_reports", "landing.rejects")
    }


def test_same_delivery_twice_changes_nothing(warehouse_dsn, tmp_path):
    payload = api_payload([report("小店区"), report("迎泽区"), report("高新区")])
    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        first = land(conn, str(tmp_path), payload)
        before = snapshot(conn)
        again = land(conn, str(tmp_path), payload, received_hour=5)
        assert snapshot(conn) == before
    assert (first.rows_read, first.rows_landed, first.rows_rejected, first.is_repeat) == (3, 2, 1, False)
    assert again.is_repeat and again.batch_id == first.batch_id


def test_payload_is_archived_byte_for_byte_before_parsing(warehouse_dsn, tmp_path):
    payload = b"this is not json at all"
    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        outcome = land(conn, str(tmp_path), payload)
        status, message, sha = conn.execute(
            "select status, message, sha256 from landing.batches where batch_id = %s", (outcome.batch_id,)
        ).fetchone()
    assert status == "quarantined"
    assert "unreadable" in message and "resend" in message and str(DAY) in message
    assert sha == sha256_of(payload)
    assert read_archived(str(tmp_path), "district_reports", sha) == payload


def test_a_changed_resubmission_is_a_new_version_and_the_old_one_is_kept(warehouse_dsn, tmp_path):
    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        land(conn, str(tmp_path), api_payload([report("小店区", 3), report("迎泽区", 5)]))
        # 小店区 revises its figure; 迎泽区 resends the same numbers under another spelling.
        revised = land(conn, str(tmp_path), api_payload([report("小店区", 9), report("太原市迎泽区", 5)]), 4)
        versions = conn.execute(
            "select district_id, _version, new_positives from landing.district_reports order by 1, 2"
        ).fetchall()
    assert revised.rows_new_versions == 1
    assert versions == [("140105", 1, 3), ("140105", 2, 9), ("140106", 1, 5)]


def test_rejects_keep_the_raw_row_and_the_reason(warehouse_dsn, tmp_path):
    with psycopg.connect(warehouse_dsn) as conn:
        ensure_landing_schema(conn)
        land(conn, str(tmp_path), api_payload([report("小店区"), report("高新区"), report("迎泽区", -1)]))
        rejects = conn.execute(
            "select reporter, row_number, raw_values, reason, reporter_id, claimed_report_date"
            " from landing.rejects order by row_number"
        ).fetchall()
        read, landed, rejected = conn.execute(
            "select rows_read, rows_landed, rows_rejected from landing.batches"
        ).fetchone()
    assert [(r[0], r[1]) for r in rejects] == [("高新区", 2), ("迎泽区", 3)]
    assert rejects[0][2]["district"] == "高新区" and "unknown district" in rejects[0][3]
    assert rejects[1][2]["new_positives"] == -1 and "negative" in rejects[1][3]
    # Who sent a rejected row, and for which day, is kept where readable: it was delivered, just invalid.
    assert [(r[4], r[5]) for r in rejects] == [(None, DAY), ("140106", DAY)]
    assert read == landed + rejected == 3
