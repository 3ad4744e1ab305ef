"""A webhook receiver on loopback: what the demo and the tests deliver alerts to, over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
