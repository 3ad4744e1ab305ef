"""Delivering notices to a webhook, retrying, and recording every attempt in dq.notifications."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import httpx
import psycopg

from epifeeds.alerts.incidents import Notice, pending_notices


def post_webhook(
    url: str, notice: Notice, attempts: int = 3, backoff_seconds: float = 0.5
) -> tuple[bool, str]:
    """POST the notice as JSON; returns (delivered, what the receiver said)."""
    message = {"title": notice.title, "body": notice.body, **notice.payload}
    said = ""
    for attempt in range(1, attempts + 1):
        try:
            response = httpx.post(url, json=message, timeout=10)
            said = f"HTTP {response.status_code}"
            if response.is_success:
                return True, said
        except httpx.HTTPError as error:
            said = f"{type(error).__name__}: {error}"
        if attempt < attempts:
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
    return False, said


def deliver_notices(
    conn: psycopg.Connection, webhook_url: str, as_of: datetime, suppression: timedelta
) -> list[tuple[Notice, bool]]:
    """Send what is pending; an undelivered notice stays pending for the next run and is recorded."""
    sent = []
    for notice in pending_notices(conn, as_of, suppression):
        if webhook_url:
            delivered, said = post_webhook(webhook_url, notice)
        else:
            delivered, said = False, "no alert channel configured (set EPIFEEDS_ALERT_WEBHOOK_URL)"
        with conn.transaction():
            conn.execute(
                "insert into dq.notifications (alert_id, kind, channel, attempted_at, is_delivered, response)"
                " values (%s, %s, %s, %s, %s, %s)",
                (notice.alert_id, notice.kind, webhook_url or "none", as_of, delivered, said),
            )
            if delivered and notice.kind == "resolved":
                conn.execute(
                    "update dq.alerts set resolution_notified_at = %s where alert_id = %s",
                    (as_of, notice.alert_id),
                )
            elif delivered:
                conn.execute(
                    "update dq.alerts set last_notified_at = %s, notify_count = notify_count + 1 where alert_id = %s",
                    (as_of, notice.alert_id),
                )
        sent.append((notice, delivered))
    return sent
