"""Prometheus metrics of the API: `GET /metrics`, behind a bearer token (README, "Metrics").

What is counted, and how:
- every answer, by method, route template (`/v1/groups/{group_id}`, never the path
  itself: no ids in labels) and status; its latency to the first byte, by method and route;
  answers refused by a rate limit (any 429), by route. Recorded in a `before_send` hook,
  which sees every answer as it leaves (those of the exception handlers included), from a
  start time the outermost middleware notes in the scope;
- requests in progress, and the database pool: connections in use, idle, and requests
  waiting for one, sampled every second and whenever /metrics is read.

With several worker processes (`aftercare serve --workers N`), each process writes its
numbers to files in PROMETHEUS_MULTIPROC_DIR (the serve command makes one) and a scrape
sums them: any process answers for all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import asyncpg
from litestar import get
from litestar.config.app import AppConfig
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.response import Response
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from api.deps import AnyRequest
from api.problems import problem

METRICS_PATH = "/metrics"
# Where the outermost middleware notes when a request arrived.
_STARTED = "aftercare.started"
# Route templates only from the route table; what matched none is one label.
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "aftercare_api_requests_total", "Answers sent, by method, route template and status.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "aftercare_api_request_duration_seconds",
    "Time from a request's arrival to its answer's first byte, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RATE_LIMITED = Counter(
    "aftercare_api_rate_limited_total", "Requests refused by a rate limit (429), by route template.", ["route"]
)
IN_PROGRESS = Gauge("aftercare_api_requests_in_progress", "Requests being answered now.", multiprocess_mode="livesum")
POOL = Gauge(
    "aftercare_api_db_pool_connections",
    "Database pool: connections in use and idle, and requests waiting for one.",
    ["state"],
    multiprocess_mode="livesum",
)
POOL_SAMPLE_S = 1.0


def note_arrival(app: ASGIApp) -> ASGIApp:
    """The outermost middleware (api/app.py puts it before the auth middleware): notes when a
    request arrived and keeps the count of those in progress."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        scope[_STARTED] = time.perf_counter()  # type: ignore[literal-required]  # our key in the scope
        IN_PROGRESS.inc()
        try:
            await app(scope, receive, send)
        finally:
            IN_PROGRESS.dec()

    return middleware


def outermost(app_config: AppConfig) -> AppConfig:
    """An `on_app_init` hook, listed after the auth's own: the auth middleware puts itself
    first, and a refused sign-in must be counted too."""
    app_config.middleware.insert(0, note_arrival)
    return app_config


async def count_answer(message: Message, scope: Scope) -> None:
    """A `before_send` hook: each answer, counted as its start leaves."""
    if message["type"] != "http.response.start" or scope.get("type") != ScopeType.HTTP:
        return
    method = scope.get("method", "")
    method = method if method in _METHODS else "other"
    route = scope.get("path_template") or UNMATCHED
    status = message["status"]
    REQUESTS.labels(method, route, str(status)).inc()
    started = cast("float | None", scope.get(_STARTED))  # our key, set by note_arrival
    if started is not None:
        LATENCY.labels(method, route).observe(time.perf_counter() - started)
    if status == 429:
        RATE_LIMITED.labels(route).inc()


def sample_pool(pool: asyncpg.Pool) -> None:
    size, idle = pool.get_size(), pool.get_idle_size()
    POOL.labels("in_use").set(size - idle)
    POOL.labels("idle").set(idle)
    POOL.labels("waiting").set(_waiting(pool))


def _waiting(pool: asyncpg.Pool) -> int:
    """Requests waiting for a connection. asyncpg has no public count: its pool hands
    connections out through an asyncio queue, whose waiting getters are these. Should a
    release change that, this reads 0 rather than failing (a test watches it)."""
    getters = getattr(getattr(pool, "_queue", None), "_getters", None)
    return sum(1 for waiter in getters if not waiter.done()) if getters is not None else 0


@contextlib.asynccontextmanager
async def pool_sampler(pool: asyncpg.Pool) -> AsyncIterator[None]:
    """Samples the pool every second while the app runs (each process its own pool)."""

    async def sample_forever() -> None:
        while True:
            sample_pool(pool)
            await asyncio.sleep(POOL_SAMPLE_S)

    task = asyncio.create_task(sample_forever())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def exposition() -> bytes:
    """Every metric in Prometheus' text format: this process's, or with several processes
    all of theirs, summed."""
    if folder := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        forget_dead_processes(Path(folder))
        registry = CollectorRegistry()
        # prometheus_client leaves these two unannotated, in a package marked typed.
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def forget_dead_processes(folder: Path) -> None:
    """A process uvicorn replaced (it crashed, or hung) leaves its gauges' files: its last
    "in use" and "in progress" would be summed for ever. Counters keep counting its past."""
    for path in folder.glob("gauge_live*_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, str(folder))  # type: ignore[no-untyped-call]  # as above
        except PermissionError:  # alive, another user's
            pass


def metrics_route(token: str) -> HTTPRouteHandler:
    """`GET /metrics` for whoever sends `Authorization: Bearer <AFTERCARE_METRICS_TOKEN>`."""
    expected = f"Bearer {token}".encode()

    @get(METRICS_PATH, opt={"public": True}, include_in_schema=False, sync_to_thread=False)
    def metrics(request: AnyRequest) -> Response[bytes]:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise problem(401, "not_authenticated", "Send the metrics token as `Authorization: Bearer <token>`.")
        sample_pool(request.app.state.pool)
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return metrics
