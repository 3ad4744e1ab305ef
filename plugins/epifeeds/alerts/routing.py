"""Alert routing and timing, from the environment (EPIFEEDS_*; see docs/alerts.md).

Every notice goes to the default channels (EPIFEEDS_ALERT_WEBHOOK_URL, EPIFEEDS_ALERT_EMAIL_TO) plus
every route in EPIFEEDS_ALERT_ROUTES whose feed and minimum severity match; an escalated incident also
goes to EPIFEEDS_ALERT_ESCALATION_ROUTE. Routes are read at delivery time, so a notice still pending
from an earlier run goes to the channels configured now.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from epifeeds.alerts.channels import Channel, SmtpSettings, channels_for_target
from epifeeds.quality.registry import SEVERITY_RANK

AIRFLOW_FEED = "airflow"  # the feed name Airflow task and DAG failures are routed under


class AlertConfigError(ValueError):
    """An EPIFEEDS_ALERT_* setting cannot be understood; the message says which and how to write it."""


@dataclass(frozen=True)
class Route:
    feed: str  # a feed name, "airflow" for Airflow failures, or "*" for any
    min_severity: str  # this severity and above
    targets: tuple[str, ...]

    def matches(self, feed: str, severity: str) -> bool:
        return self.feed in ("*", feed) and SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK[self.min_severity]


@dataclass(frozen=True)
class AlertConfig:
    default_targets: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()
    escalation_targets: tuple[str, ...] = ()
    # The notification budget (docs/alerts.md): an alert is told when it opens and when it resolves;
    # reminders only for these severities (after `suppression`), escalation at once for critical and,
    # only when `escalate_after` is set, for an alert open that long.
    suppression: timedelta = timedelta(hours=6)
    escalate_after: timedelta | None = None
    reminder_severities: tuple[str, ...] = ("critical",)
    delivery_attempts: int = 3
    retry_backoff_seconds: float = 0.5
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    airflow_url: str = "http://localhost:8080"
    feed_health_url: str = "http://localhost:8080/epifeeds/feed-health"

    def targets_for(self, feed: str, severity: str, is_escalated: bool = False) -> list[str]:
        targets = list(self.default_targets)
        for route in self.routes:
            if route.matches(feed, severity):
                targets += route.targets
        if is_escalated:
            targets += self.escalation_targets
        return list(dict.fromkeys(targets))  # unique, in configured order

    def channels_for(self, feed: str, severity: str, is_escalated: bool = False) -> list[Channel]:
        channels: dict[str, Channel] = {}
        for target in self.targets_for(feed, severity, is_escalated):
            for channel in channels_for_target(target, self.smtp):
                channels.setdefault(channel.channel_id, channel)
        return list(channels.values())


def _split_targets(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split() if t)


_ROUTE = re.compile(r"^\s*(?P<feed>[\w*.-]+)\s*(?::\s*(?P<severity>\w+))?\s*=\s*(?P<targets>.+?)\s*$")


def _route(feed: str, severity: str | None, targets: tuple[str, ...], source: str) -> Route:
    severity = (severity or "error").lower()
    if severity not in SEVERITY_RANK:
        raise AlertConfigError(
            f"EPIFEEDS_ALERT_ROUTES: unknown severity {severity!r} in {source!r}; use one of {', '.join(SEVERITY_RANK)}"
        )
    if not targets:
        raise AlertConfigError(f"EPIFEEDS_ALERT_ROUTES: no target in {source!r}")
    return Route(feed=feed, min_severity=severity, targets=targets)


def parse_routes(text: str) -> tuple[Route, ...]:
    """Parse EPIFEEDS_ALERT_ROUTES.

    Line form (entries separated by ';' or new lines, targets by white space)::

        district_reports:critical=slack://T0/B0/XXXX email:duty@cdc.example; *:error=jsons://hooks.example/epi

    JSON form::

        [{"feed": "district_reports", "min_severity": "critical", "targets": ["slack://T0/B0/XXXX"]}]
    """
    text = text.strip()
    if not text:
        return ()
    if text.startswith("["):
        try:
            entries = json.loads(text)
        except json.JSONDecodeError as error:
            raise AlertConfigError(f"EPIFEEDS_ALERT_ROUTES is not valid JSON: {error}") from None
        routes = []
        for entry in entries:
            targets = entry.get("targets", [])
            targets = _split_targets(targets) if isinstance(targets, str) else tuple(targets)
            routes.append(
                _route(
                    entry.get("feed", "*"),
                    entry.get("min_severity") or entry.get("severity"),
                    targets,
                    str(entry),
                )
            )
        return tuple(routes)
    routes = []
    for entry in re.split(r"[;\n]", text):
        if not entry.strip() or entry.strip().startswith("#"):
            continue
        match = _ROUTE.match(entry)
        if not match:
            raise AlertConfigError(
                f"EPIFEEDS_ALERT_ROUTES entry {entry.strip()!r} is not '<feed|*>[:<min severity>]=<target> [<target>...]'"
            )
        routes.append(
            _route(match["feed"], match["severity"], _split_targets(match["targets"]), entry.strip())
        )
    return tuple(routes)


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name) or ""
    try:
        return float(raw) if raw.strip() else default
    except ValueError:
        raise AlertConfigError(f"{name}={raw!r} is not a number") from None


def _severities(raw: str | None) -> tuple[str, ...]:
    """EPIFEEDS_ALERT_REMIND_SEVERITIES: severities that get reminders (default critical; 'none' for none)."""
    names = tuple(n.lower() for n in re.split(r"[\s,]+", raw or "critical") if n)
    if names == ("none",):
        return ()
    unknown = [n for n in names if n not in SEVERITY_RANK]
    if unknown:
        raise AlertConfigError(
            f"EPIFEEDS_ALERT_REMIND_SEVERITIES: unknown severity {unknown[0]!r}; use any of "
            f"{', '.join(SEVERITY_RANK)} (or none)"
        )
    return names


def load_alert_config(env: Mapping[str, str] | None = None, webhook_url: str | None = None) -> AlertConfig:
    """Read the EPIFEEDS_ALERT_* / EPIFEEDS_SMTP_* settings. `webhook_url` overrides EPIFEEDS_ALERT_WEBHOOK_URL."""
    env = os.environ if env is None else env
    webhook = env.get("EPIFEEDS_ALERT_WEBHOOK_URL", "") if webhook_url is None else webhook_url
    defaults = list(_split_targets(webhook))
    email_to = ",".join(r.strip() for r in (env.get("EPIFEEDS_ALERT_EMAIL_TO") or "").split(",") if r.strip())
    if email_to:
        defaults.append(f"email:{email_to}")
    smtp_user = env.get("EPIFEEDS_SMTP_USER", "")
    security = (env.get("EPIFEEDS_SMTP_SECURITY") or ("starttls" if smtp_user else "none")).lower()
    if security not in ("none", "starttls", "ssl"):
        raise AlertConfigError(f"EPIFEEDS_SMTP_SECURITY={security!r}: use none, starttls or ssl")
    airflow_url = (
        env.get("EPIFEEDS_AIRFLOW_URL") or env.get("AIRFLOW__API__BASE_URL") or "http://localhost:8080"
    ).rstrip("/")
    return AlertConfig(
        default_targets=tuple(defaults),
        routes=parse_routes(env.get("EPIFEEDS_ALERT_ROUTES", "")),
        escalation_targets=_split_targets(env.get("EPIFEEDS_ALERT_ESCALATION_ROUTE", "")),
        suppression=timedelta(minutes=_number(env, "EPIFEEDS_ALERT_SUPPRESSION_MINUTES", 360)),
        escalate_after=(
            timedelta(hours=_number(env, "EPIFEEDS_ALERT_ESCALATE_AFTER_HOURS", 0))
            if (env.get("EPIFEEDS_ALERT_ESCALATE_AFTER_HOURS") or "").strip()
            else None
        ),
        reminder_severities=_severities(env.get("EPIFEEDS_ALERT_REMIND_SEVERITIES")),
        delivery_attempts=max(1, int(_number(env, "EPIFEEDS_ALERT_DELIVERY_ATTEMPTS", 3))),
        retry_backoff_seconds=_number(env, "EPIFEEDS_ALERT_RETRY_BACKOFF_SECONDS", 0.5),
        smtp=SmtpSettings(
            host=env.get("EPIFEEDS_SMTP_HOST") or "localhost",
            port=int(_number(env, "EPIFEEDS_SMTP_PORT", 465 if security == "ssl" else 25)),
            user=smtp_user,
            password=env.get("EPIFEEDS_SMTP_PASSWORD", ""),
            sender=env.get("EPIFEEDS_SMTP_FROM") or "epifeeds@localhost",
            security=security,
        ),
        airflow_url=airflow_url,
        feed_health_url=(env.get("EPIFEEDS_FEED_HEALTH_URL") or f"{airflow_url}/epifeeds/feed-health").rstrip(
            "/"
        ),
    )
