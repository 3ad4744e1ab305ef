"""Where a message can go: a JSON webhook (http/https), any apprise service (slack://, json://, mailto://,
msteams://, ...), email over SMTP, or an Airflow connection naming one of those.

A channel makes one delivery attempt per `send` and says what the other side answered; retries,
backoff and recording live in `epifeeds.alerts.notify`. Channel ids shown in dq.notifications never
carry secrets: they are a redacted label plus a short hash of the full target (stable across runs, so
a notice is known to be delivered to a channel).
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Protocol
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

WEBHOOK_SCHEMES = ("http", "https")
APPRISE_JSON_SCHEMES = ("json", "jsons")
HTTP_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Message:
    """What is sent: a title, a plain-text body, and structured fields for machine consumers."""

    title: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)  # kind, rule, feed, reporter, report_date, ...

    @property
    def kind(self) -> str:
        return str(self.payload.get("kind", ""))

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "body": self.body, **self.payload}


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    user: str = ""
    password: str = ""
    sender: str = "epifeeds@localhost"
    security: str = "none"  # none | starttls | ssl
    timeout_seconds: float = 15


class Channel(Protocol):
    channel_id: str

    def send(self, message: Message) -> tuple[bool, str]: ...


def _fingerprint(target: str) -> str:
    return hashlib.sha256(target.encode("utf-8")).hexdigest()[:8]


def redact_url(url: str) -> str:
    """scheme://host[:port]/first-segment/… — no user, password, token-bearing path or query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    segments = [s for s in parts.path.split("/") if s]
    path = "/" + segments[0] + ("/…" if len(segments) > 1 else "") if segments else ""
    return f"{parts.scheme}://{host}{port}{path}"


@dataclass
class WebhookChannel:
    """POST the message as JSON (title, body, kind, rule, feed, reporter, report_date, severity, alert_id...)."""

    url: str

    @property
    def channel_id(self) -> str:
        return f"webhook {redact_url(self.url)} #{_fingerprint(self.url)}"

    def send(self, message: Message) -> tuple[bool, str]:
        import httpx

        try:
            response = httpx.post(self.url, json=message.as_json(), timeout=HTTP_TIMEOUT_SECONDS)
        except httpx.HTTPError as error:
            return False, f"{type(error).__name__}: {error}"
        said = f"HTTP {response.status_code}"
        if not response.is_success and response.text:
            said += f": {response.text[:200]}"
        return response.is_success, said


_NOTIFY_TYPES = {"open": "failure", "escalated": "failure", "failure": "failure", "reminder": "warning"}


@dataclass
class AppriseChannel:
    """Any apprise URL. For json:// and jsons:// the JSON body carries the same fields as our webhook."""

    url: str

    @property
    def channel_id(self) -> str:
        import apprise

        plugin = apprise.Apprise.instantiate(self.url)
        label = plugin.url(privacy=True) if plugin else redact_url(self.url)
        return f"apprise {label.split('?')[0]} #{_fingerprint(self.url)}"

    def send(self, message: Message) -> tuple[bool, str]:
        import apprise

        plugin = apprise.Apprise.instantiate(self.url)
        if plugin is None:
            return (
                False,
                f"not a valid apprise URL: {redact_url(self.url)} (see the apprise wiki for the syntax)",
            )
        if urlsplit(self.url).scheme in APPRISE_JSON_SCHEMES:
            # apprise's "payload extras": drop its own keys, rename message -> body, add our fields.
            extras = {"version": "", "attachments": "", "type": "", "message": "body"}
            extras |= {k: v for k, v in message.payload.items() if k not in ("title", "body")}
            plugin.payload_extras = {**plugin.payload_extras, **extras}
        notifier = apprise.Apprise()
        notifier.add(plugin)
        result = notifier.notify(
            body=message.body,
            title=message.title,
            notify_type=_NOTIFY_TYPES.get(message.kind, "success" if message.kind == "resolved" else "info"),
            log_level=logging.INFO,
        )
        said = "; ".join(entry.message for entry in result.logs())[:500]
        return bool(result), said or ("sent" if result else "apprise reported a failure without a reason")


@dataclass
class EmailChannel:
    """A plain-text email through an SMTP server (EPIFEEDS_SMTP_* or an Airflow smtp connection)."""

    recipients: tuple[str, ...]
    smtp: SmtpSettings

    @property
    def channel_id(self) -> str:
        return f"email {','.join(self.recipients)} via {self.smtp.host}:{self.smtp.port}"

    def send(self, message: Message) -> tuple[bool, str]:
        email = EmailMessage()
        email["Subject"] = message.title
        email["From"] = self.smtp.sender
        email["To"] = ", ".join(self.recipients)
        email["Message-ID"] = make_msgid(domain="epifeeds")
        for key in ("kind", "alert_id", "rule", "feed", "reporter", "report_date", "severity"):
            if message.payload.get(key) is not None:
                email[f"X-Epifeeds-{key.replace('_', '-').title()}"] = str(message.payload[key])
        email.set_content(message.body)
        try:
            smtp_class = smtplib.SMTP_SSL if self.smtp.security == "ssl" else smtplib.SMTP
            with smtp_class(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout_seconds) as server:
                if self.smtp.security == "starttls":
                    server.starttls(context=ssl.create_default_context())
                if self.smtp.user:
                    server.login(self.smtp.user, self.smtp.password)
                refused = server.send_message(email)
        except (smtplib.SMTPException, OSError) as error:
            return False, f"SMTP {self.smtp.host}:{self.smtp.port}: {type(error).__name__}: {error}"
        if refused:
            return False, f"SMTP refused {sorted(refused)}: {refused}"
        return True, f"SMTP {self.smtp.host}:{self.smtp.port} accepted for {', '.join(self.recipients)}"


def send_with_retries(
    channel: Channel, message: Message, attempts: int = 3, backoff_seconds: float = 0.5
) -> list[tuple[bool, str]]:
    """Try up to `attempts` times, waiting backoff, 2×backoff, ... between tries; one (ok, answer) per try."""
    outcomes: list[tuple[bool, str]] = []
    for attempt in range(1, attempts + 1):
        try:
            delivered, said = channel.send(message)
        except Exception as error:  # a channel bug must not stop the other channels and notices
            delivered, said = False, f"{type(error).__name__}: {error}"
        outcomes.append((delivered, said))
        if delivered:
            break
        if attempt < attempts:
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
    return outcomes


@dataclass
class BrokenChannel:
    """A configured target that cannot be used (bad syntax, unknown connection): every attempt fails
    with the reason, so notices routed to it stay pending and the reason is visible in dq.notifications."""

    target: str
    reason: str

    @property
    def channel_id(self) -> str:
        return f"unusable {self.target.split(':', 1)[0]} #{_fingerprint(self.target)}"

    def send(self, message: Message) -> tuple[bool, str]:
        return False, self.reason


def _truthy(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def channels_for_target(target: str, smtp: SmtpSettings) -> list[Channel]:
    """Turn one configured target into channels.

    - ``http(s)://...`` → JSON webhook
    - ``email:a@x.org,b@y.org`` → SMTP (EPIFEEDS_SMTP_*)
    - ``conn:<conn_id>`` → the Airflow connection (type apprise, http/https, or smtp/email)
    - any other ``scheme://...`` → apprise (slack://, msteams://, json://, mailto://, ...)
    """
    if target.startswith("email:"):
        recipients = tuple(r.strip() for r in target[len("email:") :].split(",") if r.strip())
        if not recipients:
            return [BrokenChannel(target, f"no recipient in {target!r}: write email:someone@example.org")]
        return [EmailChannel(recipients, smtp)]
    if target.startswith("conn:"):
        return channels_for_connection(target[len("conn:") :], smtp)
    scheme = urlsplit(target).scheme
    if scheme in WEBHOOK_SCHEMES:
        return [WebhookChannel(target)]
    if scheme:
        return [AppriseChannel(target)]
    return [
        BrokenChannel(
            target,
            f"alert target {target!r} is neither a URL, email:<addresses> nor conn:<airflow connection id>",
        )
    ]


def channels_for_connection(conn_id: str, smtp: SmtpSettings) -> list[Channel]:
    """Channels from an Airflow connection (env AIRFLOW_CONN_<ID>, a secrets backend or the metadata DB)."""
    target = f"conn:{conn_id}"
    try:
        from airflow.sdk import Connection

        conn = Connection.get(conn_id)
    except Exception as error:  # the SDK raises several types for "not found / not reachable"
        return [BrokenChannel(target, f"Airflow connection {conn_id!r} not available: {error}")]
    conn_type = (conn.conn_type or "").lower()
    extra = conn.extra_dejson if conn.extra else {}
    if conn_type == "apprise":
        config = extra.get("config")
        if isinstance(config, str):
            import json

            config = json.loads(config)
        entries = config if isinstance(config, list) else [config] if config else []
        paths = [entry["path"] if isinstance(entry, dict) else str(entry) for entry in entries]
        if not paths:
            return [BrokenChannel(target, f"apprise connection {conn_id!r} has no extra.config path")]
        return [channel for path in paths for channel in channels_for_target(path, smtp)]
    if conn_type in ("http", "https"):
        host = conn.host or ""
        base = (
            host
            if "://" in host
            else f"{conn.schema or conn_type}://{host}{f':{conn.port}' if conn.port else ''}"
        )
        endpoint = str(extra.get("endpoint", "")).lstrip("/")
        return [WebhookChannel(base.rstrip("/") + ("/" + endpoint if endpoint else ""))]
    if conn_type in ("smtp", "email"):
        recipients = extra.get("to") or []
        recipients = tuple(recipients.split(",") if isinstance(recipients, str) else recipients)
        if not recipients:
            return [BrokenChannel(target, f"smtp connection {conn_id!r} has no extra.to recipients")]
        # Same meaning as the Airflow SMTP provider's extras: SSL unless disable_ssl, else STARTTLS unless disable_tls.
        if not _truthy(extra.get("disable_ssl", False)):
            security = "ssl"
        else:
            security = "none" if _truthy(extra.get("disable_tls", False)) else "starttls"
        settings = SmtpSettings(
            host=conn.host or smtp.host,
            port=int(conn.port or smtp.port),
            user=conn.login or "",
            password=conn.password or "",
            sender=extra.get("from_email") or smtp.sender,
            security=extra.get("security", security),
        )
        return [EmailChannel(tuple(r.strip() for r in recipients), settings)]
    return [
        BrokenChannel(
            target, f"Airflow connection {conn_id!r} has type {conn_type!r}: use apprise, http(s) or smtp"
        )
    ]
