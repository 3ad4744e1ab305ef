"""A data engineer's path, in headless Chromium (Debian's, driven by Playwright): log in through Airflow's
login page, open the feed-health view from Airflow's navigation, see the planted missing report marked
missing and its alert listed. Screenshots go to var/test-artifacts/e2e/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        pytest.fail(
            "tests/e2e need Debian's chromium at /usr/bin/chromium: `apt-get install chromium` (.ci/run does)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, airflow_server):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, base_url=airflow_server.url)
    # Offline: the only host the view may reach is the api-server on loopback; anything else is blocked
    # and recorded with the frame that asked for it.
    outside: list[tuple[str, str]] = []

    def block(route) -> None:
        try:
            asked_by = route.request.frame.url
        except Exception:  # a request without a frame (a service worker): Airflow's, not the view's
            asked_by = ""
        outside.append((route.request.url, asked_by))
        route.abort()

    context.route(re.compile(r"^(?!" + re.escape(airflow_server.url) + r")(https?|wss?)://.*"), block)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()
    assert [url for url, asked_by in outside if "/epifeeds/" in asked_by] == []


def _log_in(page, airflow_server, artifacts: Path) -> None:
    page.goto("/")
    page.wait_for_url(re.compile(r"/auth/login"))
    page.locator('input[name="username"]').fill(airflow_server.username)
    page.locator('input[name="password"]').fill(airflow_server.password)
    page.screenshot(path=str(artifacts / "01-airflow-login.png"))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def _open_feed_health_from_the_navigation(page) -> None:
    entry = page.get_by_role("link", name="Feed health").or_(page.get_by_role("menuitem", name="Feed health"))
    if not entry.first.is_visible():
        page.get_by_role("button", name=re.compile("^Browse$")).click()
    entry.first.click()
    page.wait_for_url(re.compile(r"/plugin/feed-health"))


def test_the_planted_missing_report_shows_in_the_heatmap_and_its_alert_is_listed(
    page, airflow_server, warehouse, artifacts
):
    [missing] = [f for f in warehouse.truth.to_dict()["faults"] if f["kind"] == "missing_report"]
    _log_in(page, airflow_server, artifacts)
    _open_feed_health_from_the_navigation(page)
    view = page.frame_locator("iframe").first
    cell = view.locator(
        f'td.cell[data-feed="district_reports"][data-reporter="{missing["reporter"]}"][data-date="{missing["report_date"]}"]'
    )
    cell.wait_for()
    assert cell.get_attribute("data-status") == "missing"
    assert cell.inner_text().strip() == "missing"
    assert view.locator('td.cell[data-feed="district_reports"][data-status="missing"]').count() == 1
    page.screenshot(path=str(artifacts / "02-feed-health-heatmap.png"), full_page=True)

    view.get_by_role("link", name="Alerts", exact=True).click()
    alert = view.locator(
        f'section.alert.open[data-reporter="{missing["reporter"]}"][data-date="{missing["report_date"]}"]'
    )
    alert.wait_for()
    assert (
        f"{missing['reporter_name']}: district_reports for {missing['report_date']} is missing"
        in alert.inner_text()
    )
    page.screenshot(path=str(artifacts / "03-feed-health-alerts.png"), full_page=True)

    alert.get_by_role("link", name=re.compile(missing["reporter_name"])).first.click()
    failed = view.locator(
        f'td.cell[data-rule="C1"][data-date="{missing["report_date"]}"][data-status="fail"]'
    )
    failed.first.wait_for()
    page.screenshot(path=str(artifacts / "04-feed-health-reporter.png"), full_page=True)

    view.get_by_role("link", name="Reconciliation", exact=True).click()
    view.locator('.chart[data-rule="R2"] svg.band-chart .point-fail').first.wait_for()
    page.screenshot(path=str(artifacts / "05-feed-health-reconciliation.png"), full_page=True)
    view.get_by_role("link", name="Freshness", exact=True).click()
    view.locator('tr[data-feed="district_reports"]').wait_for()
    page.screenshot(path=str(artifacts / "06-feed-health-freshness.png"), full_page=True)


def test_the_view_without_a_session_shows_airflows_login_then_the_view(page, airflow_server, artifacts):
    page.goto("/epifeeds/feed-health?feed=district_reports")
    page.wait_for_url(re.compile(r"/auth/login"))
    assert "晋源区" not in page.content()
    page.screenshot(path=str(artifacts / "07-no-session-login.png"))
    page.locator('input[name="username"]').fill(airflow_server.username)
    page.locator('input[name="password"]').fill(airflow_server.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/epifeeds/feed-health\?feed=district_reports$"))
    assert page.locator('td.cell[data-status="missing"]').count() == 1
