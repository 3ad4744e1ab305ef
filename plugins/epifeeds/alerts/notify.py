"""Delivering notices to their channels, retrying with backoff, and recording every attempt.

A notice leaves the outbox (dq.alert_notices.delivered_at set) only when every channel routed to it
has accepted it; each attempt, failed or not, is a row in dq.notifications with what the other side
answered. A notice that no channel accepted stays pending and is tried again on the next run, so an
alert is never dropped silently.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import psycopg

from epifeeds.alerts.channels import Message, WebhookChannel, send_with_retries
from epifeeds.alerts.incidents import (
    WATCHDOG_DAG_ID,
    Notice,
    queue_notices,
    sync_alerts,
    undelivered_notices,
)
from epifeeds.alerts.routing import AlertConfig, load_alert_config

log = logging.getLogger(__name__)

NO_CHANNEL = (
    "no alert channel configured: set EPIFEEDS_ALERT_WEBHOOK_URL, EPIFEEDS_ALERT_EMAIL_TO or "
    "EPIFEEDS_ALERT_ROUTES (see docs/alerts.md); the notice stays pending until one is"
)


def message_of(notice: Notice) -> Message:
    return Message(title=notice.title, body=notice.body, payload=dict(notice.payload))


def post_webhook(
    url: str, notice: Notice, attempts: int = 3, backoff_seconds: float = 0.5
) -> tuple[bool, str]:
    """POST the notice as JSON; returns (delivered, what the receiver said last)."""
    outcomes = send_with_retries(WebhookChannel(url), message_of(notice), attempts, backoff_seconds)
    return outcomes[-1]


def _record(
    conn: psycopg.Connection,
    notice: Notice,
    channel_id: str,
    as_of: datetime,
    attempt: int,
    delivered: bool,
    said: str,
) -> None:
    with conn.transaction():
        conn.execute(
            "insert into dq.notifications (alert_id, notice_id, kind, channel, attempted_at, attempt, is_delivered,"
            " response) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                notice.alert_id,
                notice.notice_id,
                notice.kind,
                channel_id,
                as_of,
                attempt,
                delivered,
                said[:2000],
            ),
        )


def deliver_pending(
    conn: psycopg.Connection, as_of: datetime, config: AlertConfig
) -> list[tuple[Notice, bool]]:
    """Send every undelivered notice to the channels its alert is routed to now; returns (notice, delivered)."""
    results = []
    with conn.transaction():
        pending = undelivered_notices(conn)
    for notice, feed in pending:
        channels = config.channels_for(feed, notice.severity, notice.is_escalated)
        if not channels:
            log.warning("alert %s (%s) not delivered: %s", notice.alert_id, notice.title, NO_CHANNEL)
            _record(conn, notice, "none", as_of, 1, False, NO_CHANNEL)
            results.append((notice, False))
            continue
        with conn.transaction():
            done = {
                channel
                for (channel,) in conn.execute(
                    "select channel from dq.notifications where notice_id = %s and is_delivered",
                    (notice.notice_id,),
                )
            }
        message = message_of(notice)
        delivered_everywhere = True
        for channel in channels:
            channel_id = channel.channel_id
            if channel_id in done:
                continue
            outcomes = send_with_retries(
                channel, message, config.delivery_attempts, config.retry_backoff_seconds
            )
            for attempt, (delivered, said) in enumerate(outcomes, start=1):
                _record(conn, notice, channel_id, as_of, attempt, delivered, said)
            if not outcomes[-1][0]:
                delivered_everywhere = False
                log.error(
                    "alert %s %s notice not delivered to %s after %d attempts (%s); it stays pending for the next run",
                    notice.alert_id,
                    notice.kind,
                    channel_id,
                    len(outcomes),
                    outcomes[-1][1],
                )
        if delivered_everywhere:
            with conn.transaction():
                conn.execute(
                    "update dq.alert_notices set delivered_at = %s where notice_id = %s",
                    (as_of, notice.notice_id),
                )
        results.append((notice, delivered_everywhere))
    return results


def deliver_notices(
    conn: psycopg.Connection,
    webhook_url: str,
    as_of: datetime,
    suppression: timedelta,
    config: AlertConfig | None = None,
) -> list[tuple[Notice, bool]]:
    """Queue what is due at `as_of`, then send everything pending. `webhook_url` is the default route
    (EPIFEEDS_ALERT_WEBHOOK_URL); routes, email and escalation come from the environment."""
    base = config or load_alert_config(webhook_url=webhook_url)
    config = replace(base, suppression=suppression)
    queue_notices(conn, as_of, suppression, config=config)
    return deliver_pending(conn, as_of, config)


def process_alerts(
    conn: psycopg.Connection,
    as_of: datetime,
    run_id: str | None = None,
    *,
    dag_id: str = WATCHDOG_DAG_ID,
    config: AlertConfig | None = None,
) -> dict[str, Any]:
    """One watchdog step: group open findings into incidents, queue due notices, deliver everything pending."""
    config = config or load_alert_config()
    incidents = sync_alerts(conn, as_of, run_id=run_id, dag_id=dag_id, config=config)
    queued = queue_notices(conn, as_of, config=config)
    sent = deliver_pending(conn, as_of, config)
    return {
        "incidents": len(incidents),
        "findings_in_incidents": sum(len(i.members) for i in incidents.values()),
        "queued": [{"kind": n.kind, "title": n.title} for n in queued],
        "notices": [{"kind": n.kind, "title": n.title, "delivered": ok} for n, ok in sent],
        "undelivered": sum(not ok for _, ok in sent),
    }
