"""The district API client against an agency server that misbehaves, over real HTTP on loopback.

The server below is the other side of the wire, not a stand-in for the client: it answers 429 and 500,
hangs, drops the connection, trickles its answer a byte at a time, loses page 2, answers HTML or a
stranger's 404, or declares more items than it sends. The client must deliver every page or fail
clearly, within its overall deadline; a day that fails does not stop the other days.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from epifeeds.feeds.district_reports import ingest_district_reports
from epifeeds.feeds.http_client import FeedUnavailable, fetch_district_report_pages, records_from_pages
from epifeeds.landing.ingest_run import DeliveriesFailed

pytestmark = pytest.mark.integration

DAY = date(2022, 3, 1)
AS_OF = datetime(2022, 3, 2, 2, 0, tzinfo=UTC)
DISTRICTS = ("小店区", "迎泽区", "杏花岭区", "尖草坪区", "万柏林区")
FAST = {"timeout_seconds": 1.0, "attempts": 4, "backoff_seconds": 0.05, "deadline_seconds": 3.0}


def items_for(day: date) -> list[dict]:
    return [
        {"district": name, "date": day.isoformat(), "阳性": n, "确诊": n, "无症状": 0}
        for n, name in enumerate(DISTRICTS)
    ]


class Agency:
    """What the server does; `behaviour` picks the fault, `requests` counts what came in."""

    def __init__(self, behaviour: str = "ok", failures: int = 0, bad_day: date | None = None) -> None:
        self.behaviour, self.failures, self.bad_day = behaviour, failures, bad_day
        self.requests = 0
        self.lock = threading.Lock()

    def page(self, day: date, page: int, size: int = 2) -> dict:
        items = items_for(day)
        first = (page - 1) * size
        return {
            "feed": "district_reports",
            "report_date": day.isoformat(),
            "page": page,
            "total_items": len(items) + (2 if self.behaviour == "short" else 0),
            "next_page": page + 1 if first + size < len(items) else None,
            "items": items[first : first + size],
        }


def handler_for(agency: Agency) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def send(self, status: int, body: bytes, kind: str = "application/json", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            with agency.lock:
                agency.requests += 1
                attempt = agency.requests
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path != "/api/v1/district-reports":
                return self.send(404, b'{"detail": "Not Found"}')
            day, page = date.fromisoformat(query["report_date"]), int(query["page"])
            body = json.dumps(agency.page(day, page), ensure_ascii=False).encode()
            behaviour = agency.behaviour if agency.bad_day in (None, day) else "ok"
            failing = attempt <= agency.failures or agency.failures == 0
            if behaviour == "429" and failing:
                return self.send(429, b'{"detail": "slow down"}', Retry_After="0")
            if behaviour == "500" and failing:
                return self.send(500, b'{"detail": "agency server error"}')
            if behaviour == "hang":
                time.sleep(30)
                return None
            if behaviour == "close" and failing:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return None
            if behaviour == "trickle":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.2)  # each read well inside the 1 s read timeout
                return None
            if behaviour == "404_page_2" and page == 2:
                return self.send(404, b'{"detail": "page not found"}')
            if behaviour == "html":
                return self.send(200, b"<html><body>Welcome to nginx!</body></html>", "text/html")
            if behaviour == "empty_day":
                detail = f"no district reports for report_date {day.isoformat()}"
                return self.send(404, json.dumps({"detail": detail}).encode())
            return self.send(200, body)

    return Handler


@contextmanager
def agency_server(agency: Agency) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(agency))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def fetch(url: str, **options) -> list[dict]:
    return records_from_pages(fetch_district_report_pages(url, "t0ken", DAY, as_of=AS_OF, **(FAST | options)))


@pytest.mark.parametrize(
    ("behaviour", "failures"),
    [("ok", 0), ("429", 2), ("500", 2), ("close", 2)],
    ids=["ok", "429", "500", "close"],
)
def test_transient_faults_are_retried_and_every_page_arrives(behaviour, failures):
    agency = Agency(behaviour, failures)
    with agency_server(agency) as url:
        records = fetch(url)
    assert [r["district"] for r in records] == list(DISTRICTS)  # three pages, in order
    assert agency.requests == 3 + failures


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ("500", "failed 4 time(s) (last: HTTP 500)"),
        ("404_page_2", "HTTP 404 for 2022-03-01, page 2"),
        ("html", "did not answer JSON (text/html"),
        ("short", "the API declares 7"),
    ],
)
def test_a_delivery_that_is_not_whole_or_not_the_feeds_fails(behaviour, expected):
    with agency_server(Agency(behaviour)) as url, pytest.raises(FeedUnavailable) as failed:
        fetch(url)
    assert expected in str(failed.value)


def test_a_wrong_base_url_is_an_error_not_zero_records():
    with agency_server(Agency()) as url, pytest.raises(FeedUnavailable, match="EPIFEEDS_DISTRICT_API_URL"):
        fetch(url + "/wrong-prefix")


def test_the_api_saying_it_has_nothing_for_the_day_is_an_empty_delivery():
    with agency_server(Agency("empty_day")) as url:
        assert fetch(url) == []


@pytest.mark.parametrize("behaviour", ["hang", "trickle"])
def test_a_hanging_or_trickling_server_cannot_hold_the_pull_past_its_deadline(behaviour):
    with agency_server(Agency(behaviour)) as url:
        started = time.monotonic()
        with pytest.raises(FeedUnavailable):
            fetch(url, deadline_seconds=2.0)
        elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 3.5, f"{behaviour}: gave up after {elapsed:.2f} s against a 2 s deadline"


def test_a_day_that_cannot_be_pulled_does_not_stop_the_others(warehouse_dsn, tmp_path):
    days = [date(2022, 3, 1), date(2022, 3, 2), date(2022, 3, 3)]
    with (
        agency_server(Agency("404_page_2", bad_day=days[1])) as url,
        pytest.raises(DeliveriesFailed) as failed,
    ):
        ingest_district_reports(
            warehouse_dsn, str(tmp_path), url, "t0ken", days, datetime(2022, 3, 4, 2, tzinfo=UTC), **FAST
        )
    assert "1 of 3 deliveries failed" in str(failed.value) and "2022-03-02, page 2" in str(failed.value)
    with psycopg.connect(warehouse_dsn) as conn:
        landed = conn.execute(
            "select report_date::text, status, rows_landed from landing.batches order by 1"
        ).fetchall()
    assert landed == [("2022-03-01", "landed", 5), ("2022-03-03", "landed", 5)]
