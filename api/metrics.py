"""Prometheus metrics of the API process (request counts and latencies, runs by status)."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "forgeyard_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "forgeyard_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
)
RUNS_SUBMITTED = Counter("forgeyard_runs_submitted_total", "Runs accepted.", ["workflow"])
# Every API process sets it from the database at scrape: in multiprocess mode the
# most recent value is the truth, not a sum over processes.
RUNS = Gauge(
    "forgeyard_runs",
    "Runs in the database by status (at scrape time).",
    ["status"],
    multiprocess_mode="mostrecent",
)


class RequestMetrics:
    """Counts each request under its route template, not its raw path (bounded labels)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        code = 500

        async def capture(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], route, str(code)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)
