"""Prometheus metrics of the api process, and the ``/metrics`` handler shared with the worker.

Naming follows Prometheus conventions: counters end in ``_total``, durations are ``_seconds``
histograms, sizes ``_bytes``. No ids in labels; every labelled series that a dashboard reads is
pre-initialised so it exists (at 0) before the first event.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from ingest.models import INTEGRATION_TYPES

NS = "alert_ingest"
LINK_CODES = ("200", "400", "403", "404", "405", "413", "415", "429", "503")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

HTTP_REQUESTS = Counter(
    f"{NS}_http_requests_total",
    "HTTP requests answered, by handler, integration type (link handlers) and status code.",
    ["handler", "integration_type", "code"],
)
HTTP_DURATION = Histogram(
    f"{NS}_http_request_duration_seconds",
    "Time to answer an HTTP request, by handler.",
    ["handler"],
    buckets=LATENCY_BUCKETS,
)
BODY_BYTES = Histogram(
    f"{NS}_link_request_body_bytes",
    "Size of bodies posted to integration links.",
    buckets=(256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304),
)
ALERTS_ACCEPTED = Counter(
    f"{NS}_alerts_accepted_total",
    "Alerts durably enqueued by the link endpoints, by integration type.",
    ["integration_type"],
)
RATE_LIMITED = Counter(
    f"{NS}_rate_limited_total",
    "Link requests refused by a rate limit, by scope (integration or organization).",
    ["scope"],
)
ENQUEUE_FAILURES = Counter(
    f"{NS}_enqueue_failures_total",
    "Link, heartbeat, PagerDuty and Opsgenie requests answered 503 because Redis was "
    "unreachable or did not answer.",
)
QUEUE_DEPTH = Gauge(
    f"{NS}_queue_depth",
    "Alert jobs in the queue, waiting or in progress; the worker's periodic jobs are not counted"
    " (sampled by each process every few seconds).",
)

HANDLERS = ("link", "heartbeat", "api", "other")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _preinit() -> None:
    for kind in INTEGRATION_TYPES:
        ALERTS_ACCEPTED.labels(kind)
        for code in LINK_CODES:
            HTTP_REQUESTS.labels("link", kind, code)
    for scope in ("integration", "organization"):
        RATE_LIMITED.labels(scope)
    for handler in HANDLERS:
        HTTP_DURATION.labels(handler)


_preinit()


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric in this process, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


async def metrics_handler(request: web.Request) -> web.Response:
    body, content_type = exposition()
    # prometheus-client's content type carries a charset, which web.Response(content_type=) rejects
    return web.Response(body=body, headers={"Content-Type": content_type})


async def live(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def metrics_app() -> web.Application:
    """``/metrics`` and ``/health/live`` alone, for a listener of their own."""
    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/health/live", live)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start ``app`` on ``host:port`` in this process (the same metrics registry)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


# The PagerDuty and Opsgenie dialects' paths, counted as links of those types.
DIALECT_PATHS = (
    ("/v2/enqueue", "pagerduty"),
    ("/v2/change/", "pagerduty"),
    ("/v2/alerts", "opsgenie"),
)


def handler_kind(request: web.Request) -> str:
    path = request.path
    if path.startswith("/integrations/v1/"):
        return "heartbeat" if path.rstrip("/").endswith("/heartbeat") else "link"
    if path.startswith("/v2/") and any(path.startswith(p) for p, _ in DIALECT_PATHS):
        return "link"
    if path.startswith("/api/"):
        return "api"
    return "other"


def link_type(request: web.Request) -> str:
    """The integration type a link or dialect URL names; ``unknown`` when it names none."""
    named = request.match_info.get("type") or next(
        (kind for p, kind in DIALECT_PATHS if request.path.startswith(p)), ""
    )
    return named if named in INTEGRATION_TYPES else "unknown"


_REQUEST_CHILDREN: dict[tuple[str, str, int], Any] = {}
_DURATION_CHILDREN = {kind: HTTP_DURATION.labels(kind) for kind in HANDLERS}


def count_request(kind: str, integration_type: str, status: int, seconds: float) -> None:
    """Record one answered request (children cached: ``.labels()`` is costly on the hot path)."""
    key = (kind, integration_type, status)
    child = _REQUEST_CHILDREN.get(key)
    if child is None:
        child = _REQUEST_CHILDREN[key] = HTTP_REQUESTS.labels(kind, integration_type, str(status))
    child.inc()
    _DURATION_CHILDREN[kind].observe(seconds)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        kind = handler_kind(request)
        integration_type = link_type(request) if kind == "link" or kind == "heartbeat" else ""
        count_request(kind, integration_type, status, time.perf_counter() - started)
