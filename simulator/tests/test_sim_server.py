"""The simulated district API over real HTTP: token, paging, time travel with as_of, injected failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from epifeeds_sim.district_feed import payload_fields
from epifeeds_sim.generate import generate
from epifeeds_sim.randomness import parse_iso_utc
from epifeeds_sim.server import serve_in_background

pytestmark = pytest.mark.integration

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
URL = "/api/v1/district-reports"


def fetch_all(
    client: httpx.Client, report_date: str, *, page_size: int, **params: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page: int | None = 1
    while page is not None:
        response = client.get(
            URL,
            params={"report_date": report_date, "page": page, "page_size": page_size, **params},
            headers=AUTH,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["feed"], body["report_date"], body["page"], body["page_size"]) == (
            "district_reports",
            report_date,
            page,
            page_size,
        )
        items.extend(body["items"])
        page = body["next_page"]
    return items


@pytest.fixture(scope="module")
def clean_sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sim_dir = tmp_path_factory.mktemp("clean")
    generate(sim_dir, days=5, seed=3, faults="none", feeds=("district_reports",))
    return sim_dir


@pytest.fixture(scope="module")
def faulty_sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    sim_dir = tmp_path_factory.mktemp("all")
    return sim_dir, generate(sim_dir, days=14, seed=7, faults="all", feeds=("district_reports",))


def test_a_missing_or_wrong_token_is_refused_with_401(clean_sim: Path) -> None:
    with serve_in_background(clean_sim, TOKEN) as base_url, httpx.Client(base_url=base_url) as client:
        params = {"report_date": "2022-03-01"}
        missing = client.get(URL, params=params)
        wrong = client.get(URL, params=params, headers={"Authorization": "Bearer nope"})
        not_bearer = client.get(URL, params=params, headers={"Authorization": f"Basic {TOKEN}"})
        health = client.get("/healthz")

    for response in (missing, wrong, not_bearer):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Bearer" in response.json()["detail"]
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_pages_together_return_every_item_exactly_once(clean_sim: Path) -> None:
    with serve_in_background(clean_sim, TOKEN) as base_url, httpx.Client(base_url=base_url) as client:
        one_page = client.get(
            URL, params={"report_date": "2022-03-02", "page_size": 500}, headers=AUTH
        ).json()
        paged = fetch_all(client, "2022-03-02", page_size=3)
        beyond = client.get(
            URL, params={"report_date": "2022-03-02", "page": 9, "page_size": 3}, headers=AUTH
        )

    assert one_page["total_items"] == 11 and one_page["next_page"] is None
    assert paged == one_page["items"]
    assert len({item["district"] for item in paged}) == 11
    assert all(list(item) == payload_fields() for item in paged)  # no available_at: agencies don't send it
    assert beyond.status_code == 200 and beyond.json()["items"] == [] and beyond.json()["next_page"] is None


def test_dates_outside_the_simulation_and_bad_parameters_get_clear_errors(clean_sim: Path) -> None:
    with serve_in_background(clean_sim, TOKEN) as base_url, httpx.Client(base_url=base_url) as client:
        outside = client.get(URL, params={"report_date": "2022-02-27"}, headers=AUTH)
        bad_date = client.get(URL, params={"report_date": "March 1st"}, headers=AUTH)
        too_big = client.get(URL, params={"report_date": "2022-03-01", "page_size": 10_000}, headers=AUTH)

    assert outside.status_code == 404
    assert "2022-02-27" in outside.json()["detail"] and "outside the simulation" in outside.json()["detail"]
    assert bad_date.status_code == 422 and too_big.status_code == 422


def test_as_of_hides_a_late_report_until_it_arrives(faulty_sim: tuple[Path, Any]) -> None:
    sim_dir, truth = faulty_sim
    (late,) = truth.select(kind="late_report")
    arrived = parse_iso_utc(late.values["available_at"])

    with serve_in_background(sim_dir, TOKEN) as base_url, httpx.Client(base_url=base_url) as client:
        before = fetch_all(
            client, late.report_date, page_size=4, as_of=(arrived - timedelta(seconds=1)).isoformat()
        )
        at = fetch_all(client, late.report_date, page_size=4, as_of=arrived.isoformat())
        again = fetch_all(client, late.report_date, page_size=4, as_of=arrived.isoformat())

    assert late.reporter_name not in [i["district"] for i in before]
    assert late.reporter_name in [i["district"] for i in at]
    assert again == at  # pinned to the same as_of, a re-run sees the same delivery


def test_a_revised_report_shows_one_version_at_a_time(faulty_sim: tuple[Path, Any]) -> None:
    sim_dir, truth = faulty_sim
    (revised,) = truth.select(kind="revised_report")
    second = parse_iso_utc(revised.values["after_available_at"])

    with serve_in_background(sim_dir, TOKEN) as base_url, httpx.Client(base_url=base_url) as client:
        seen_before = fetch_all(
            client, revised.report_date, page_size=50, as_of=(second - timedelta(minutes=1)).isoformat()
        )
        seen_after = fetch_all(client, revised.report_date, page_size=50)

    (first_version,) = [i for i in seen_before if i["district"] == revised.reporter_name]
    (second_version,) = [i for i in seen_after if i["district"] == revised.reporter_name]
    assert {k: first_version[k] for k in revised.values["before"]} == revised.values["before"]
    assert {k: second_version[k] for k in revised.values["after"]} == revised.values["after"]
    assert second_version["submitted_at"] == revised.values["after_available_at"]


def test_duplicates_and_unknown_reporters_are_served_as_the_agency_sent_them(
    faulty_sim: tuple[Path, Any],
) -> None:
    sim_dir, truth = faulty_sim
    (duplicate,) = truth.select(kind="duplicate_rows")
    (unknown,) = truth.select(kind="unknown_reporter")

    with serve_in_background(sim_dir, TOKEN) as base_url, httpx.Client(base_url=base_url) as client:
        duplicated_day = fetch_all(client, duplicate.report_date, page_size=5)
        unknown_day = fetch_all(client, unknown.report_date, page_size=5)

    assert [i["district"] for i in duplicated_day].count(duplicate.reporter_name) == 2
    assert "高新区" in [i["district"] for i in unknown_day]


def test_the_server_clock_hides_what_has_not_been_published_yet(clean_sim: Path) -> None:
    early_morning = datetime(2022, 3, 2, 22, 0, tzinfo=UTC)  # 06:00 on 3 March in Taiyuan

    with serve_in_background(clean_sim, TOKEN, now=lambda: early_morning) as base_url:
        with httpx.Client(base_url=base_url) as client:
            published = client.get(URL, params={"report_date": "2022-03-01"}, headers=AUTH).json()
            not_yet = client.get(URL, params={"report_date": "2022-03-02"}, headers=AUTH).json()
            later_as_of = client.get(
                URL, params={"report_date": "2022-03-02", "as_of": "2030-01-01T00:00:00Z"}, headers=AUTH
            ).json()

    assert published["total_items"] == 11
    assert not_yet["total_items"] == 0 and not_yet["items"] == []
    assert later_as_of["total_items"] == 0  # as_of cannot see past the server's now


@pytest.mark.parametrize("status", [500, 429])
def test_injected_failures_come_first_then_the_data(clean_sim: Path, status: int) -> None:
    with serve_in_background(clean_sim, TOKEN, fail_first_n=2, failure_status=status) as base_url:
        with httpx.Client(base_url=base_url) as client:
            responses = [
                client.get(URL, params={"report_date": "2022-03-01"}, headers=AUTH) for _ in range(3)
            ]
            health = client.get("/healthz")

    assert [r.status_code for r in responses] == [status, status, 200]
    assert "injected" in responses[0].json()["detail"]
    assert (responses[0].headers.get("retry-after") == "1") is (status == 429)
    assert responses[2].json()["total_items"] == 11
    assert health.status_code == 200  # the health check is never failed on purpose


def test_a_failure_rate_fails_about_that_share_of_requests(clean_sim: Path) -> None:
    with serve_in_background(clean_sim, TOKEN, failure_rate=0.5) as base_url:
        with httpx.Client(base_url=base_url) as client:
            codes = [
                client.get(URL, params={"report_date": "2022-03-01"}, headers=AUTH).status_code
                for _ in range(60)
            ]

    assert set(codes) == {200, 500}
    assert 15 <= codes.count(500) <= 45


def test_the_server_stops_cleanly_and_frees_its_port(clean_sim: Path) -> None:
    with serve_in_background(clean_sim, TOKEN) as base_url:
        assert httpx.get(f"{base_url}/healthz").status_code == 200

    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url}/healthz", timeout=2)


def test_a_province_day_pages_through_every_city_and_district(tmp_path: Path) -> None:
    generate(tmp_path, days=2, seed=4, faults="none", scale="province", feeds=("district_reports",))

    with serve_in_background(tmp_path, TOKEN) as base_url, httpx.Client(base_url=base_url) as client:
        first = client.get(URL, params={"report_date": "2022-03-02", "page_size": 50}, headers=AUTH).json()
        paged = fetch_all(client, "2022-03-02", page_size=50)

    assert first["total_items"] == len(paged) == 117 + 11 and first["next_page"] == 2  # three pages
    assert len({item["district"] for item in paged}) == 128
    assert {"太原市", "大同市", "吕梁市", "阳泉市城区", "晋城市城区"} <= {item["district"] for item in paged}
