"""C1 of a file feed when a backfill repeats an earlier watchdog run (real Postgres, real alerting): a hotel
report that came after its deadline was found missing, then resolved by a later run; repeating the earlier
run (which cannot see the report yet) keeps the finding resolved and opens no new notice."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from epifeeds.alerts.notify import process_alerts
from epifeeds.alerts.routing import load_alert_config
from epifeeds.feeds.contracts import HOTEL_REPORTS, ISOLATION_HOTELS, FeedContract
from epifeeds.feeds.parsing import ParseResult
from epifeeds.landing.loader import Delivery, land_delivery
from epifeeds.landing.schema import ensure_landing_schema
from epifeeds.quality.completeness import check_file_feed_completeness

pytestmark = pytest.mark.integration

DAY = date(2022, 3, 6)
LOCAL_MIDNIGHT = datetime(2022, 3, 7, tzinfo=UTC) - timedelta(hours=8)  # 2022-03-07 00:00 Asia/Shanghai
EARLY = LOCAL_MIDNIGHT + timedelta(hours=11)  # past 09:00 + the grace: missing
ARRIVED = LOCAL_MIDNIGHT + timedelta(hours=13)  # the report comes four hours late
LATER = LOCAL_MIDNIGHT + timedelta(hours=14)
KEY = f"C1:missing:hotel_reports:H1:{DAY}"


def land(
    conn, tmp_path, contract: FeedContract, reporter: str, rows: list[dict], received_at: datetime
) -> None:
    full = [{c.name: row.get(c.name) for c in contract.columns} for row in rows]
    payload = json.dumps(full, default=str, sort_keys=True).encode()
    delivery = Delivery(contract.feed, reporter, DAY, f"file:///{reporter}/{DAY}", payload, received_at)
    land_delivery(conn, contract, str(tmp_path), delivery, lambda raw: ParseResult(rows=full))


def watchdog(conn, at: datetime, run_id: str) -> None:
    """The watchdog's file-feed part: C1, then incidents and notices."""
    check_file_feed_completeness(conn, at, run_id, lookback_days=1)
    process_alerts(conn, at, run_id=run_id, config=load_alert_config(env={}))


def state(conn) -> tuple[tuple, list[tuple]]:
    finding = conn.execute(
        "select status, resolved_at from dq.findings where finding_key = %s", (KEY,)
    ).fetchone()
    notices = conn.execute(
        "select n.kind, a.root_finding_key from dq.alert_notices n join dq.alerts a using (alert_id)"
        " order by n.notice_id"
    ).fetchall()
    return finding, notices


def test_repeating_an_earlier_watchdog_run_keeps_a_resolved_file_finding_resolved(warehouse_dsn, tmp_path):
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        ensure_landing_schema(conn)
        hotel = {"hotel_id": "H1", "hotel_name": "H1", "district_id": "140105", "rooms": 12, "capacity": 20,
                 "requisitioned_from": DAY, "status": "requisitioned", "registry_as_of": DAY}  # fmt: skip
        land(conn, tmp_path, ISOLATION_HOTELS, "registry", [hotel], LOCAL_MIDNIGHT)
        watchdog(conn, EARLY, "early")
        opened = state(conn)
        report = {"hotel_id": "H1", "district_id": "140105", "report_date": DAY, "rooms_total": 12,
                  "rooms_occupied": 2, "guests": 3, "check_ins": 3, "check_outs": 0}  # fmt: skip
        land(conn, tmp_path, HOTEL_REPORTS, "H1", [report], ARRIVED)
        watchdog(conn, LATER, "later")
        resolved = state(conn)
        watchdog(conn, EARLY, "early-again")  # a backfill repeats the 11:00 run
        repeated = state(conn)

    assert opened[0][0] == "open" and [kind for kind, _ in opened[1]] == ["open"]
    assert resolved[0] == ("resolved", LATER)
    assert [kind for kind, _ in resolved[1]] == ["open", "resolved"]
    assert repeated == resolved  # still resolved, and no 'open' then 'resolved' notice again
