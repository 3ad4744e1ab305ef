"""The feed-health JSON API, through a real Airflow api-server, on a warehouse a simulated run filled.

Expected values come from the simulation's ground truth (what was planted), not from the view's code.
"""

from __future__ import annotations

import re

import httpx
import pytest

from epifeeds.quality.freshness import FRESHNESS
from epifeeds_ui.app import URL_PREFIX, app

pytestmark = pytest.mark.integration

API = f"{URL_PREFIX}/feed-health/api"


@pytest.fixture(scope="module")
def client(airflow_server) -> httpx.Client:
    headers = {"Authorization": f"Bearer {airflow_server.token()}"}
    with httpx.Client(base_url=airflow_server.url, headers=headers, timeout=60) as session:
        yield session


def _planted(warehouse, kind: str) -> list[dict]:
    return [f for f in warehouse.truth.to_dict()["faults"] if f["kind"] == kind]


def _every_route() -> list[str]:
    """Each GET route of the plugin's app, with example path parameters."""
    paths = [route.path for route in app.routes if "GET" in getattr(route, "methods", set())]
    assert len(paths) >= 10, paths  # five pages and five JSON endpoints
    return [
        URL_PREFIX + re.sub(r"\{feed\}", "district_reports", p).replace("{reporter}", "140110") for p in paths
    ]


def test_no_route_answers_without_a_session(airflow_server):
    with httpx.Client(base_url=airflow_server.url, timeout=30, follow_redirects=False) as anonymous:
        for path in _every_route():
            answer = anonymous.get(path)
            if "/api/" in path:
                assert answer.status_code == 401, (path, answer.status_code, answer.text[:200])
                assert answer.json() == {"detail": "Not authenticated"}
            else:
                assert answer.status_code == 303, (path, answer.status_code)
                assert answer.headers["location"].startswith("/auth/login?next="), answer.headers["location"]
            forged = anonymous.get(path, headers={"Authorization": "Bearer not-a-token"})
            assert forged.status_code in (401, 403, 303), (path, forged.status_code)
            assert "晋源区" not in forged.text and "140110" not in forged.text.replace(path, "")


def test_roster_marks_the_planted_missing_and_late_reports(client, warehouse):
    [missing] = _planted(warehouse, "missing_report")
    [late] = _planted(warehouse, "late_report")
    roster = client.get(f"{API}/roster", params={"feed": "district_reports"}).json()
    cells = {
        (row["reporter"], day): cell["status"] for row in roster["rows"] for day, cell in row["cells"].items()
    }
    assert roster["report_dates"] == [d.isoformat() for d in warehouse.report_dates]
    assert cells[(missing["reporter"], missing["report_date"])] == "missing"
    assert cells[(late["reporter"], late["report_date"])] == "late"
    others = {key: status for key, status in cells.items() if status not in ("on_time",)}
    assert set(others) == {
        (missing["reporter"], missing["report_date"]),
        (late["reporter"], late["report_date"]),
    }
    assert {row["feed"] for row in roster["rows"]} == {"district_reports"}


def test_roster_filters_by_district_and_city(client, warehouse):
    [missing] = _planted(warehouse, "missing_report")
    one = client.get(f"{API}/roster", params={"district": missing["reporter_name"]}).json()
    assert one["rows"] and {row["district_id"] for row in one["rows"]} == {missing["reporter"]}
    assert {"district_reports", "testing_site_reports"} <= {row["feed"] for row in one["rows"]}
    assert client.get(f"{API}/roster", params={"city": "太原市"}).json()["rows"]
    assert client.get(f"{API}/roster", params={"city": "no such city"}).json()["rows"] == []


def test_alerts_list_the_missing_report_with_what_it_absorbed_and_its_notifications(client, warehouse):
    [missing] = _planted(warehouse, "missing_report")
    [late] = _planted(warehouse, "late_report")
    alerts = client.get(f"{API}/alerts").json()
    [alert] = [
        a
        for a in alerts["open"]
        if (a["reporter"], a["report_date"]) == (missing["reporter"], missing["report_date"])
    ]
    assert alert["rule"] == "C1" and missing["reporter_name"] in alert["title"]
    root = [f for f in alert["absorbed_findings"] if f["is_root_cause"]]
    assert [(f["rule"], f["reporter"]) for f in root] == [("C1", missing["reporter"])]
    # The city's R1 breaks the ground truth names as consequences are absorbed, not alerted on their own.
    [consequence] = missing["consequences"]
    absorbed_r1 = [
        f
        for f in alert["absorbed_findings"]
        if f["rule"] == "R1" and f["report_date"] == consequence["report_date"]
    ]
    assert len(absorbed_r1) == len(consequence["fields"])
    assert [(n["kind"], n["is_delivered"]) for n in alert["notifications"]][:1] == [("open", True)]
    [was_late] = [
        a
        for a in alerts["recent"]
        if (a["reporter"], a["report_date"]) == (late["reporter"], late["report_date"])
    ]
    assert was_late["status"] == "resolved" and was_late["resolved_at"]
    assert "resolved" in [n["kind"] for n in was_late["notifications"]]


def test_an_alerts_link_lands_on_its_reporter_and_day(client, warehouse):
    [missing] = _planted(warehouse, "missing_report")
    [alert] = [a for a in client.get(f"{API}/alerts").json()["open"] if a["reporter"] == missing["reporter"]]
    link = alert["details"]["links"]["Feed health"]
    landed = client.get(link, follow_redirects=True)
    assert landed.status_code == 200
    assert landed.url.path == f"{URL_PREFIX}/feed-health/reporters/district_reports/{missing['reporter']}"
    assert f'<th id="d{missing["report_date"]}" class=today>' in landed.text
    assert re.search(rf'data-rule="C1" data-date="{missing["report_date"]}" data-status="fail"', landed.text)


def test_reconciliation_plots_the_planted_r2_break_outside_its_band(client, warehouse):
    [mismatch] = _planted(warehouse, "samples_mismatch")
    series = client.get(
        f"{API}/reconciliation", params={"rule": "R2", "district": mismatch["reporter"]}
    ).json()
    [r2] = series["series"]
    [point] = [p for p in r2["points"] if p["report_date"] == mismatch["report_date"]]
    values = mismatch["values"]
    share = (values["site_samples_sum"] - values["district_samples"]) / values["district_samples"]
    assert point["value"] == pytest.approx(share, abs=1e-4)
    assert point["status"] == "fail" and not point["band_low"] <= point["value"] <= point["band_high"]
    assert point["band_high"] == pytest.approx(0.02)
    everything = client.get(f"{API}/reconciliation").json()["series"]
    assert {s["rule"] for s in everything} == {"R1", "R2", "R3"}
    for s in everything:
        for p in s["points"]:
            if p["status"] in ("pass", "fail") and p["value"] is not None:
                inside = (p["band_low"] is None or p["band_low"] <= p["value"]) and p["value"] <= p[
                    "band_high"
                ]
                assert inside == (p["status"] == "pass"), (s["rule"], s["reporter"], s["measure"], p)


def test_freshness_shows_each_feed_against_its_sla(client, warehouse):
    feeds = {f["feed"]: f for f in client.get(f"{API}/freshness").json()["feeds"]}
    assert set(feeds) == set(FRESHNESS)
    district = feeds["district_reports"]
    assert (district["warn_after_hours"], district["error_after_hours"]) == (26, 50)
    assert district["watchdog_status"] == "pass"
    assert district["last_delivery_at"].startswith("2022-03-04")  # the pull that handled 2022-03-03


def test_a_reporters_history_has_every_rule_every_day(client, warehouse):
    [missing] = _planted(warehouse, "missing_report")
    history = client.get(f"{API}/reporters/district_reports/{missing['reporter']}").json()
    assert history["name"] == missing["reporter_name"]
    c1 = {
        c["report_date"]: c["status"]
        for c in history["checks"]
        if (c["rule"], c["feed"]) == ("C1", "district_reports")
    }
    assert c1 == {
        d.isoformat(): "fail" if d.isoformat() == missing["report_date"] else "pass"
        for d in warehouse.report_dates
    }
    assert {"C1", "V2", "I2"} <= {c["rule"] for c in history["checks"]}
    assert {"district_reports", "testing_site_reports"} <= {
        c["feed"] for c in history["checks"]
    }  # its site files too
    assert all("observed" in c and "expected" in c for c in history["checks"])
    assert [f["rule"] for f in history["findings"] if f["status"] == "open"] == ["C1"]
