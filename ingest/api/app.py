"""The api process's aiohttp application: integration links, public API, health, OpenAPI.

One ``Application``; the Redis pool lives in a ``cleanup_ctx`` so it is created once and closed at
shutdown. Every path answers with and without a trailing slash (no redirect).

``settings.serve`` picks what one process serves, so links and the public API can run in
separate processes from the same code: ``links`` (integration links, the PagerDuty and Opsgenie
endpoints), ``api`` (the public API, the OpenAPI document; it also builds the group indexes of an
older store, see ``ingest.api.indexes``) or ``all``. Health and metrics are always served; with
``settings.metrics_port`` set, ``/metrics`` moves to a listener of its own on that port.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from ingest import console
from ingest.api import (
    alert_groups,
    alerts,
    context,
    escalation_chains,
    health,
    indexes,
    integrations,
    links,
    openapi,
    opsgenie,
    pagerduty,
    preview,
    routes,
    webhooks,
)
from ingest.api.errors import UNAVAILABLE_LOG, UnavailableLog, error_middleware
from ingest.api.rejections import (
    REJECTION_LOG,
    RejectionLog,
    rejection_middleware,
    report_at_shutdown,
)
from ingest.link_cache import LinkCache
from ingest.metrics import QUEUE_DEPTH, metrics_app, metrics_handler, metrics_middleware, serve
from ingest.queue import Enqueuer, alert_queue_depth
from ingest.ratelimit import RateLimiter
from ingest.redis_conn import connect
from ingest.settings import Settings
from ingest.store.change_events import ChangeEvents


def add_route(app: web.Application, method: str, path: str, handler: Any) -> None:
    """Register ``path`` and ``path + '/'`` for ``method``."""
    app.router.add_route(method, path.rstrip("/"), handler)
    app.router.add_route(method, path.rstrip("/") + "/", handler)


async def sample_queue_depth(redis: Redis, queue_name: str, every: float = 5.0) -> None:
    """Keep ``alert_ingest_queue_depth`` (alert jobs only) current; Redis trouble only skips a
    sample."""
    while True:
        with contextlib.suppress(Exception):
            QUEUE_DEPTH.set(await alert_queue_depth(redis, queue_name))
        await asyncio.sleep(every)


async def metrics_listener(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx``: ``/metrics`` on ``METRICS_PORT`` (same process, same registry)."""
    settings = app[context.SETTINGS]
    runner = await serve(metrics_app(), settings.host, settings.metrics_port)
    yield
    await runner.cleanup()


def create_app(settings: Settings, redis: Redis | None = None) -> web.Application:
    """Build the app; with ``redis`` given (tests), the caller owns and closes that client."""
    app = web.Application(
        middlewares=[metrics_middleware, rejection_middleware, error_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[context.SETTINGS] = settings
    app[UNAVAILABLE_LOG] = UnavailableLog()
    app[REJECTION_LOG] = RejectionLog()
    app.on_cleanup.append(report_at_shutdown)

    async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
        own = redis is None
        client = connect(settings.redis_url) if redis is None else redis
        app[context.REDIS] = client
        app[context.LIMITER] = RateLimiter(client)
        app[links.LINK_CACHE] = LinkCache(client)
        app[links.ENQUEUER] = Enqueuer(
            client,
            settings.queue_name,
            replicas=settings.redis_min_replicas,
            replica_timeout_ms=settings.redis_replica_timeout_ms,
        )
        replicated = settings.redis_min_replicas, settings.redis_replica_timeout_ms
        app[pagerduty.CHANGE_EVENTS] = ChangeEvents(
            client, replicated if settings.redis_min_replicas else None
        )
        sampler = asyncio.create_task(sample_queue_depth(client, settings.queue_name))
        yield
        sampler.cancel()
        if own:
            await client.aclose()

    app.cleanup_ctx.append(redis_ctx)
    add_route(app, "GET", "/health/live", health.live)
    add_route(app, "GET", "/health/ready", health.ready)
    if settings.metrics_port:  # its own listener; the public port answers 404 for /metrics
        app.cleanup_ctx.append(metrics_listener)
    else:
        add_route(app, "GET", "/metrics", metrics_handler)
    if settings.serve in ("all", "api"):
        app.cleanup_ctx.append(indexes.index_builder)
        add_route(app, "GET", "/api/v1/openapi.json", openapi.serve)
        integrations.add_routes(app, add_route)
        routes.add_routes(app, add_route)
        escalation_chains.add_routes(app, add_route)
        alert_groups.add_routes(app, add_route)
        alerts.add_routes(app, add_route)
        preview.add_routes(app, add_route)
        webhooks.add_routes(app, add_route)
        console.setup(app, add_route)
    if settings.serve in ("all", "links"):
        pagerduty.add_routes(app, add_route)
        opsgenie.add_routes(app, add_route)
        links.add_routes(app, add_route)
    return app
