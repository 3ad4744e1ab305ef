"""The district API client against the simulator over real HTTP: pages, retries, auth, identity."""

from datetime import UTC, date, datetime

import pytest

from epifeeds.feeds.http_client import FeedUnavailable, fetch_district_report_pages, records_from_pages
from epifeeds_sim.generate import generate
from epifeeds_sim.server import serve_in_background

pytestmark = pytest.mark.integration

DAY = date(2022, 3, 2)
AS_OF = datetime(2022, 3, 4, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    generate(out, days=3, seed=7, faults="none", feeds=("district_reports",))
    return out


def test_every_page_is_read_and_the_same_figures_from_another_address_are_the_same_delivery(sim_dir):
    with serve_in_background(sim_dir, "t") as first, serve_in_background(sim_dir, "t") as second:
        small_pages = fetch_district_report_pages(first, "t", DAY, as_of=AS_OF, page_size=4)
        again = fetch_district_report_pages(second, "t", DAY, as_of=AS_OF, page_size=4)
    assert small_pages == again  # the archive's sha256 and the ledger see one delivery
    records = records_from_pages(small_pages)
    assert len(records) == 11 and len({r["district"] for r in records}) == 11  # 10 districts + city, 3 pages


def test_transient_failures_are_retried(sim_dir):
    with serve_in_background(sim_dir, "t", fail_first_n=2, failure_status=503) as url:
        payload = fetch_district_report_pages(url, "t", DAY, as_of=AS_OF, backoff_seconds=0.01)
    assert len(records_from_pages(payload)) == 11


def test_a_refused_token_says_which_connection_to_fix(sim_dir):
    with serve_in_background(sim_dir, "right") as url, pytest.raises(FeedUnavailable) as refused:
        fetch_district_report_pages(url, "wrong", DAY, as_of=AS_OF)
    assert "HTTP 401" in str(refused.value) and "epifeeds_district_api" in str(refused.value)


def test_a_stalled_answer_times_out_and_is_retried(sim_dir):
    with serve_in_background(sim_dir, "t", fail_first_n=1, stall_seconds=2.0) as url:
        payload = fetch_district_report_pages(
            url, "t", DAY, as_of=AS_OF, timeout_seconds=0.5, backoff_seconds=0.01
        )
    assert len(records_from_pages(payload)) == 11
