"""Pulling a paginated JSON feed over HTTP with a token, retrying what is transient."""

from __future__ import annotations

import json
import time
from datetime import date, datetime

import httpx

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class FeedUnavailable(RuntimeError):
    """The agency's API did not deliver; the message says what to do."""


def _get_with_retries(
    client: httpx.Client, url: str, params: dict[str, str], *, attempts: int, backoff_seconds: float
) -> httpx.Response:
    last_problem = ""
    for attempt in range(1, attempts + 1):
        try:
            response = client.get(url, params=params)
        except httpx.TransportError as error:
            last_problem = f"{type(error).__name__}: {error}"
        else:
            if response.status_code not in RETRYABLE_STATUS:
                return response
            last_problem = f"HTTP {response.status_code}"
        if attempt < attempts:
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
    raise FeedUnavailable(f"{url} failed {attempts} times (last: {last_problem})")


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
) -> bytes:
    """Every page of the district-report API for one day, as one payload keeping each page's body verbatim.

    `as_of` pins what the API shows to the run's data interval, so re-running an interval is idempotent.
    """
    url = f"{base_url.rstrip('/')}/api/v1/district-reports"
    headers = {"Authorization": f"Bearer {token}"}
    pages: list[str] = []
    page: int | None = 1
    with httpx.Client(headers=headers, timeout=timeout_seconds) as client:
        while page is not None:
            params = {
                "report_date": report_date.isoformat(),
                "page": str(page),
                "page_size": str(page_size),
                "as_of": as_of.isoformat(),
            }
            response = _get_with_retries(
                client, url, params, attempts=attempts, backoff_seconds=backoff_seconds
            )
            if response.status_code in (401, 403):
                raise FeedUnavailable(
                    f"district_reports API refused the token (HTTP {response.status_code}) for {report_date}: "
                    "check the password of the Airflow connection 'epifeeds_district_api'"
                )
            if response.status_code == 404:
                break  # the agency has nothing for that day: an empty delivery, which the watchdog judges
            response.raise_for_status()
            pages.append(response.text)
            page = response.json().get("next_page")
    # The URL stays out of the payload (it is the batch's source_uri): the same figures served from a
    # moved API are the same delivery, not a new one.
    envelope = {"feed": "district_reports", "report_date": report_date.isoformat(), "pages": pages}
    return json.dumps(envelope, ensure_ascii=False, sort_keys=True).encode("utf-8")


def records_from_pages(payload: bytes) -> list[dict]:
    """The items of every page in a payload made by fetch_district_report_pages."""
    from epifeeds.feeds.parsing import UnreadablePayload

    try:
        envelope = json.loads(payload)
        return [item for page in envelope["pages"] for item in json.loads(page)["items"]]
    except (ValueError, KeyError, TypeError) as error:
        raise UnreadablePayload(
            f"not a district-report API payload ({type(error).__name__}: {error})"
        ) from None
