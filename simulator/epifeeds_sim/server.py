"""The districts' HTTP JSON API, served from a simulation directory (real HTTP, real token, real paging).

    GET /api/v1/district-reports?report_date=2022-03-03&page=1&page_size=50&as_of=2022-03-04T02:00:00Z
    Authorization: Bearer <token>

An item is visible once its `available_at` is at or before min(as_of, now); of a resubmitted report only
the latest visible version is served (duplicate rows, which share it, all are). `available_at` itself is
never sent: an agency does not tell you when it will have published. Transient failures (HTTP 500 or
429, or with `stall_seconds` a stall past the client's timeout) can be injected: the first
`fail_first_n` API requests, then each with probability `failure_rate`.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from epifeeds_sim.district_feed import FEED, FEED_DIR
from epifeeds_sim.randomness import parse_iso_utc

MAX_PAGE_SIZE = 500


class _FaultInjector:
    """Decides, per API request, whether to fail it; thread-safe, seeded, counts what it did."""

    def __init__(self, *, failure_rate: float, fail_first_n: int, failure_status: int, seed: int) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be within [0, 1] (got {failure_rate})")
        if failure_status not in (429, 500, 502, 503):
            raise ValueError(f"failure_status must be 429, 500, 502 or 503 (got {failure_status})")
        self.failure_rate = failure_rate
        self.fail_first_n = fail_first_n
        self.failure_status = failure_status
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.requests = 0
        self.failures = 0

    def should_fail(self) -> bool:
        with self._lock:
            self.requests += 1
            fail = self.requests <= self.fail_first_n or (
                self.failure_rate > 0 and self._rng.random() < self.failure_rate
            )
            self.failures += fail
            return fail


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def visible_items(stored: list[dict[str, Any]], cutoff: datetime) -> list[dict[str, Any]]:
    """The items an agency shows at `cutoff`: latest visible version per reporter, without `available_at`."""
    visible = [item for item in stored if parse_iso_utc(item["available_at"]) <= cutoff]
    latest: dict[str, datetime] = {}
    for item in visible:
        moment = parse_iso_utc(item["available_at"])
        if item["district"] not in latest or moment > latest[item["district"]]:
            latest[item["district"]] = moment
    return [
        {k: v for k, v in item.items() if k != "available_at"}
        for item in visible
        if parse_iso_utc(item["available_at"]) == latest[item["district"]]
    ]


def create_app(
    sim_dir: Path,
    token: str,
    now: Callable[[], datetime] | None = None,
    *,
    failure_rate: float = 0.0,
    fail_first_n: int = 0,
    failure_status: int = 500,
    failure_seed: int = 0,
    stall_seconds: float = 0.0,
) -> FastAPI:
    """The district-report API over `sim_dir` (as written by `epifeeds_sim.generate.generate`).
    Refuses to serve without a token: an empty one would let every request in."""
    if not token or not token.strip():
        raise ValueError(
            "the simulated district API needs a non-empty token (--token, EPIFEEDS_DISTRICT_API_TOKEN)"
        )
    sim_dir = Path(sim_dir)
    clock = now or (lambda: datetime.now(UTC))
    injector = _FaultInjector(
        failure_rate=failure_rate, fail_first_n=fail_first_n, failure_status=failure_status, seed=failure_seed
    )
    app = FastAPI(title="epifeeds simulated district API", docs_url=None, redoc_url=None)
    app.state.fault_injector = injector

    @app.middleware("http")
    async def inject_transient_failures(request: Request, call_next: Callable[..., Any]) -> Any:
        if request.url.path.startswith("/api/") and injector.should_fail():
            if stall_seconds > 0:  # a timeout: the answer comes, but after the client has given up
                await asyncio.sleep(stall_seconds)
                return await call_next(request)
            headers = {"Retry-After": "1"} if injector.failure_status == 429 else None
            message = "rate limited, retry later" if injector.failure_status == 429 else "simulated failure"
            return _error(injector.failure_status, f"{message} (injected by epifeeds_sim)", headers)
        return await call_next(request)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "feeds": [FEED], "sim_dir": str(sim_dir)}

    @app.get("/api/v1/district-reports", response_model=None)
    def district_reports(
        request: Request,
        report_date: date,
        page: int = Query(1, ge=1),
        page_size: int = Query(50, ge=1, le=MAX_PAGE_SIZE),
        as_of: datetime | None = None,
    ) -> dict[str, Any] | JSONResponse:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(presented.strip(), token):
            return _error(
                401,
                "missing or invalid token: send 'Authorization: Bearer <token>'",
                {"WWW-Authenticate": "Bearer"},
            )
        path = sim_dir / FEED_DIR / f"{report_date.isoformat()}.json"
        if not path.is_file():
            return _error(
                404,
                f"no district reports for report_date {report_date.isoformat()}: "
                "the date is outside the simulation",
            )
        cutoff = clock().astimezone(UTC)
        if as_of is not None:
            as_of_utc = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)
            cutoff = min(cutoff, as_of_utc)
        stored = json.loads(path.read_text(encoding="utf-8"))["items"]
        items = visible_items(stored, cutoff)
        first = (page - 1) * page_size
        return {
            "feed": FEED,
            "report_date": report_date.isoformat(),
            "page": page,
            "page_size": page_size,
            "total_items": len(items),
            "next_page": page + 1 if first + page_size < len(items) else None,
            "items": items[first : first + page_size],
        }

    return app


@contextmanager
def serve_in_background(
    sim_dir: Path,
    token: str,
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    now: Callable[[], datetime] | None = None,
    failure_rate: float = 0.0,
    fail_first_n: int = 0,
    failure_status: int = 500,
    stall_seconds: float = 0.0,
    startup_timeout_seconds: float = 10.0,
) -> Iterator[str]:
    """Run the API with uvicorn in a thread; yields its base URL (port 0: any free port)."""
    import uvicorn

    app = create_app(
        sim_dir,
        token,
        now,
        failure_rate=failure_rate,
        fail_first_n=fail_first_n,
        failure_status=failure_status,
        stall_seconds=stall_seconds,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="epifeeds-sim-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout_seconds
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulated district API did not start on {host}:{bound_port}")
            time.sleep(0.01)
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve_forever(
    sim_dir: Path, token: str, *, host: str = "127.0.0.1", port: int = 8765, **faults: Any
) -> None:
    """Blocking: the API on host:port until interrupted (what `epifeeds sim serve` runs)."""
    import uvicorn

    uvicorn.run(create_app(sim_dir, token, **faults), host=host, port=port, log_level="info")
