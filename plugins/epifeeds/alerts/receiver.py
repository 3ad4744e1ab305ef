"""Receivers on loopback that the demo and the tests deliver alerts to for real: a webhook (HTTP) and an
SMTP server (aiosmtpd, a dev dependency)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ReceivedMessages:
    messages: list[dict] = field(default_factory=list)
    fail_next: int = 0  # answer 500 to this many requests first, to exercise retries
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_receiver(fail_first: int = 0) -> Iterator[tuple[str, ReceivedMessages]]:
    """Serve POST /alerts on 127.0.0.1 (a free port); yields (url, received messages)."""
    received = ReceivedMessages(fail_next=fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with received.lock:
                failing = received.fail_next > 0
                if failing:
                    received.fail_next -= 1
                else:
                    received.messages.append(json.loads(body))
            self.send_response(500 if failing else 204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # keep the demo's output readable
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class ReceivedMails:
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_receiver() -> Iterator[tuple[str, int, ReceivedMails]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1; yields (host, port, received mails)."""
    from aiosmtpd.controller import Controller

    received = ReceivedMails()

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
            message = BytesParser(policy=policy.default).parsebytes(
                envelope.original_content or envelope.content
            )
            with received.lock:
                received.messages.append(message)
                received.recipients.append(list(envelope.rcpt_tos))
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield "127.0.0.1", controller.port, received
    finally:
        controller.stop()
