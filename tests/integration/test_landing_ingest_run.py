"""An ingest run keeps what `finish` needs of each delivery, not its payload: a run of many large files
would otherwise hold every one of them until the end."""

from datetime import UTC, datetime

import psycopg
import pytest

from epifeeds.feeds.contracts import DISTRICT_REPORTS
from epifeeds.feeds.http_client import records_from_pages
from epifeeds.feeds.names import load_district_roster
from epifeeds.feeds.parsing import parse_district_records
from epifeeds.landing.ingest_run import IngestRun
from epifeeds.landing.loader import Delivery
from epifeeds.landing.schema import ensure_landing_schema
from tests.integration.test_landing import DAY, api_payload, report

pytestmark = pytest.mark.integration

AT = datetime(2022, 3, 7, 2, tzinfo=UTC)


def parse(raw: bytes):
    return parse_district_records(
        DISTRICT_REPORTS,
        records_from_pages(raw),
        report_date=DAY,
        received_at=AT,
        roster=load_district_roster(),
    )


def test_the_run_keeps_no_payload_once_a_delivery_is_landed(warehouse_dsn, tmp_path):
    payload = api_payload([report("小店区"), report("迎泽区")])
    delivery = Delivery("district_reports", "*", DAY, "http://agency.test/api", payload, AT)
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        ensure_landing_schema(conn)
        run = IngestRun(conn, str(tmp_path), AT)
        outcome = run.land(DISTRICT_REPORTS, delivery, parse)
        rows = conn.execute("select count(*) from landing.district_reports").fetchone()[0]
    assert (outcome.status, outcome.rows_landed, rows) == ("landed", 2, 2)
    [(kept, kept_outcome)] = run.landed
    assert kept.payload == b"" and kept_outcome == outcome
    assert (kept.feed, kept.reporter, kept.report_date, kept.source_uri) == (
        "district_reports", "*", DAY, "http://agency.test/api"
    )  # fmt: skip
