"""Pulling a paginated JSON feed over HTTP with a token: complete or failed, never silently partial.

- Every page must come, in order, each one the feed's own answer (JSON naming the feed, the report date
  and the page asked for); a page that fails after its retries fails the whole day. The items add up to
  the `total_items` the API declares, or the day fails.
- A 404 on the first page is an empty day only when the API says so in its own words (JSON naming the
  report date); any other 404 (a wrong base URL, a proxy's error page) or a 404 on a later page fails.
- One overall deadline covers the whole day (every page, every retry, every byte): a server that
  trickles its answer a byte at a time cannot keep a task past it. Each read also has its own timeout.
- Transient failures (429, 5xx, timeouts, dropped connections) are retried with exponential backoff and
  jitter (tenacity), within the deadline; `Retry-After` is honoured up to the deadline.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
FEED = "district_reports"
MAX_PAGES = 1000
MAX_RESPONSE_BYTES = 32 * 1024 * 1024


class FeedUnavailable(RuntimeError):
    """The agency's API did not deliver; the message says what to do."""


class _Transient(Exception):
    """A failure worth another try (a retryable status, a timeout, a dropped connection)."""

    def __init__(self, problem: str, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.retry_after = retry_after


@dataclass
class _Deadline:
    at: float  # time.monotonic()

    def remaining(self) -> float:
        return self.at - time.monotonic()


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


def _read_body(response: httpx.Response, deadline: _Deadline, url: str) -> bytes:
    """The body, read chunk by chunk against the deadline and a size cap."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise FeedUnavailable(f"{url} sent more than {MAX_RESPONSE_BYTES // 1e6:.0f} MB for one page")
        if deadline.remaining() <= 0:
            raise _Transient(f"the answer was still arriving at the deadline ({len(body)} bytes so far)")
    return bytes(body)


def _get_once(
    client: httpx.Client, url: str, params: dict[str, str], deadline: _Deadline, read_timeout: float
) -> tuple[int, dict[str, str], bytes]:
    remaining = deadline.remaining()
    if remaining <= 0:
        raise _Transient("no time left before the deadline")
    timeout = httpx.Timeout(min(read_timeout, remaining))
    try:
        with client.stream("GET", url, params=params, timeout=timeout) as response:
            if response.status_code in RETRYABLE_STATUS:
                raise _Transient(f"HTTP {response.status_code}", _retry_after(response))
            return response.status_code, dict(response.headers), _read_body(response, deadline, url)
    except httpx.TransportError as error:  # timeouts, refused or dropped connections, broken chunks
        raise _Transient(f"{type(error).__name__}: {error}") from None


def _get_with_retries(
    client: httpx.Client,
    url: str,
    params: dict[str, str],
    *,
    attempts: int,
    backoff_seconds: float,
    deadline: _Deadline,
    read_timeout: float,
) -> tuple[int, dict[str, str], bytes]:
    def wait(state: RetryCallState) -> float:
        jittered = wait_random_exponential(multiplier=backoff_seconds, max=60)(state)
        error = state.outcome.exception() if state.outcome else None
        hinted = getattr(error, "retry_after", None) or 0.0
        return max(0.0, min(max(jittered, hinted), deadline.remaining()))

    def out_of_time(state: RetryCallState) -> bool:
        return deadline.remaining() <= 0

    retrying = Retrying(
        retry=retry_if_exception_type(_Transient),
        stop=stop_after_attempt(attempts) | out_of_time,
        wait=wait,
        reraise=True,
    )
    try:
        return retrying(_get_once, client, url, params, deadline, read_timeout)
    except _Transient as error:
        tries = retrying.statistics.get("attempt_number", attempts)
        raise FeedUnavailable(
            f"{url} ({params.get('report_date')}, page {params.get('page')}) failed {tries} time(s) "
            f"(last: {error}); the day is not landed, the next run pulls it again"
        ) from None


def _page_of(body: bytes, headers: dict[str, str], report_date: date, page: int, url: str) -> dict[str, Any]:
    """The page as JSON, checked to be the feed's answer for this day and page."""
    kind = headers.get("content-type", "")
    where = f"{url} for {report_date}, page {page}"
    try:
        document = json.loads(body)
    except ValueError:
        raise FeedUnavailable(
            f"{where} did not answer JSON ({kind or 'no content type'}, {len(body)} bytes, starting "
            f"{body[:60]!r}): not the district-report API; check EPIFEEDS_DISTRICT_API_URL "
            "(the Airflow connection 'epifeeds_district_api')"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise FeedUnavailable(
            f"{where} answered JSON without an 'items' list: not the district-report API's page"
        )
    if document.get("feed", FEED) != FEED or document.get("report_date", str(report_date)) != str(
        report_date
    ):
        raise FeedUnavailable(
            f"{where} answered for feed {document.get('feed')!r}, date {document.get('report_date')!r}: "
            "not the page asked for"
        )
    if str(document.get("page", page)) != str(page):
        raise FeedUnavailable(f"{where} answered page {document.get('page')!r}: not the page asked for")
    return document


def _is_empty_day(body: bytes, report_date: date) -> bool:
    """A 404 that is the API's own answer for a day it has nothing for: JSON naming that day."""
    try:
        detail = json.loads(body).get("detail", "")
    except (ValueError, AttributeError):
        return False
    return isinstance(detail, str) and str(report_date) in detail


def fetch_district_report_pages(
    base_url: str,
    token: str,
    report_date: date,
    *,
    as_of: datetime,
    page_size: int = 50,
    timeout_seconds: float = 30.0,
    attempts: int = 4,
    backoff_seconds: float = 0.5,
    deadline_seconds: float = 300.0,
) -> bytes:
    """Every page of the district-report API for one day, as one payload keeping each page's body verbatim.

    `as_of` pins what the API shows to the run's data interval, so re-running an interval is idempotent.
    Raises FeedUnavailable when any page is missing, foreign or late past `deadline_seconds`.
    """
    url = f"{base_url.rstrip('/')}/api/v1/district-reports"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    deadline = _Deadline(time.monotonic() + deadline_seconds)
    pages: list[str] = []
    items = 0
    declared: int | None = None
    page: int | None = 1
    with httpx.Client(headers=headers, timeout=timeout_seconds) as client:
        while page is not None:
            if page > MAX_PAGES:
                raise FeedUnavailable(f"{url} for {report_date}: more than {MAX_PAGES} pages; refused")
            params = {
                "report_date": report_date.isoformat(),
                "page": str(page),
                "page_size": str(page_size),
                "as_of": as_of.isoformat(),
            }
            status, answer_headers, body = _get_with_retries(
                client,
                url,
                params,
                attempts=attempts,
                backoff_seconds=backoff_seconds,
                deadline=deadline,
                read_timeout=timeout_seconds,
            )
            if status in (401, 403):
                raise FeedUnavailable(
                    f"district_reports API refused the token (HTTP {status}) for {report_date}: "
                    "check the password of the Airflow connection 'epifeeds_district_api'"
                )
            if status == 404 and page == 1 and _is_empty_day(body, report_date):
                break  # the agency has nothing for that day: an empty delivery, which the watchdog judges
            if status != 200:
                raise FeedUnavailable(
                    f"{url} answered HTTP {status} for {report_date}, page {page} ({body[:120]!r}): "
                    + (
                        "a page is missing, so the day is not landed; the next run pulls it again"
                        if page > 1
                        else "not the district-report API's answer; check EPIFEEDS_DISTRICT_API_URL"
                    )
                )
            document = _page_of(body, answer_headers, report_date, page, url)
            pages.append(body.decode(json.detect_encoding(body)))
            items += len(document["items"])
            declared = document.get("total_items", declared)
            following = document.get("next_page")
            if following is not None and (not isinstance(following, int) or following <= page):
                raise FeedUnavailable(f"{url} for {report_date}: page {page} points to page {following!r}")
            if following is not None and not document["items"]:
                raise FeedUnavailable(f"{url} for {report_date}: page {page} is empty but not the last")
            page = following
    if declared is not None and declared != items:
        raise FeedUnavailable(
            f"{url} for {report_date}: {items} items over {len(pages)} page(s), but the API declares "
            f"{declared}; the day is not landed (a page came short), the next run pulls it again"
        )
    # The URL stays out of the payload (it is the batch's source_uri): the same figures served from a
    # moved API are the same delivery, not a new one.
    envelope = {"feed": FEED, "report_date": report_date.isoformat(), "pages": pages}
    return json.dumps(envelope, ensure_ascii=False, sort_keys=True).encode("utf-8")


def records_from_pages(payload: bytes) -> list[dict]:
    """The items of every page in a payload made by fetch_district_report_pages."""
    from epifeeds.feeds.limits import check_json
    from epifeeds.feeds.parsing import UnreadablePayload

    check_json(payload, "district-report API payload")
    try:
        envelope = json.loads(payload)
        pages = envelope["pages"]
        for page in pages:
            check_json(page, "district-report API page")
        return [item for page in pages for item in json.loads(page)["items"]]
    except (ValueError, KeyError, TypeError) as error:
        raise UnreadablePayload(
            f"not a district-report API payload ({type(error).__name__}: {error})"
        ) from None
