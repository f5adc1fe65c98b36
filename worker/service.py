"""The worker process: an arq worker plus a small HTTP server for ``/metrics`` and health.

SIGTERM/SIGINT: arq stops taking jobs, waits up to ``completion_wait`` seconds for the jobs in
flight, then exits; the metrics server closes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from aiohttp import web
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from ingest.metrics import metrics_handler
from ingest.redis_conn import connect
from ingest.settings import Settings
from worker.settings import create_worker
from worker.webhooks import WebhookService

log = logging.getLogger("worker.service")


async def _live(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _ready(pool: ArqRedis) -> Any:
    """``/health/ready``: Redis answers through the worker's own pool (it follows failovers)."""

    async def ready(request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(1.0):
                await pool.ping()
        except Exception as exc:
            return web.json_response(
                {"status": "unavailable", "redis": type(exc).__name__}, status=503
            )
        return web.json_response({"status": "ok", "redis": "ok"})

    return ready


async def start_metrics_server(host: str, port: int, pool: ArqRedis | None = None) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/health/live", _live)
    if pool is not None:
        app.router.add_get("/health/ready", _ready(pool))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def run_worker(
    settings: Settings, concurrency: int, metrics_port: int, completion_wait: int = 10
) -> None:
    """Run until SIGTERM/SIGINT; a lost Redis connection restarts the arq worker, not the process.

    While Redis is unreachable the worker retries every 0.5 s to 10 s (doubling) and logs once per
    outage; jobs it held are re-run by arq once their in-progress marks expire.
    """
    # a failover in progress holds commands up to 10 s rather than failing the jobs in flight
    pool = connect(settings.redis_url, ArqRedis, failover_wait=10.0)
    runner = await start_metrics_server(settings.host, metrics_port, pool) if metrics_port else None
    log.info(
        "worker started",
        extra={
            "concurrency": concurrency,
            "metrics_port": metrics_port,
            "queue": settings.queue_name,
        },
    )
    delay = 0.5
    outage = False
    owner = secrets.token_hex(8)  # marks this process's claims across arq loop restarts
    webhooks = WebhookService(pool, settings)
    await webhooks.start()
    try:
        while True:
            worker = create_worker(
                settings, pool, concurrency, completion_wait=completion_wait, owner=owner
            )
            try:
                with contextlib.suppress(asyncio.CancelledError):  # arq cancels it on SIGTERM
                    await worker.async_run()
                return
            except (RedisError, OSError) as exc:
                if not outage:
                    log.error("redis unreachable; retrying", extra={"error": repr(exc)})
                outage = True
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await worker.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            with contextlib.suppress(RedisError, OSError):
                await pool.ping()
                log.warning("redis reachable again; worker restarting")
                outage, delay = False, 0.5
    finally:
        await webhooks.stop()
        if runner is not None:
            await runner.cleanup()
        with contextlib.suppress(RedisError, OSError):
            await pool.aclose()
        log.info("worker stopped")
