"""The worker process: an arq worker plus a small HTTP server for ``/metrics`` and health.

SIGTERM/SIGINT (``worker.shutdown``, heard in every state): the worker stops taking jobs, waits
up to ``completion_wait`` seconds for the jobs in flight, releases the rest, then exits with 0;
the metrics server closes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from ingest.metrics import metrics_app, serve
from ingest.redis_conn import connect, failing_over, primary_generation
from ingest.settings import Settings
from worker.runner import AlertWorker
from worker.settings import create_worker
from worker.shutdown import Shutdown, cancel_and_wait
from worker.webhooks import WebhookService

log = logging.getLogger("worker.service")
CLOSE_WITHIN_S = 2.0  # arq's close clears its health key; the key expires by itself anyway
RELEASE_WITHIN_S = 1.0  # jobs cancelled at shutdown release their claims, else the claims expire


async def _ping(pool: ArqRedis) -> None:
    """``PING``; once more when the first one only found a new primary: the worker's pool fails
    the first command there on purpose (``refuse_new_primary``), which says nothing of Redis."""
    generation = primary_generation(pool)
    try:
        await pool.ping()
    except (RedisError, OSError):
        if primary_generation(pool) == generation:
            raise
        await pool.ping()


@dataclass
class JobLoop:
    """Whether the arq job loop runs: off from a lost connection until it has restarted."""

    running: bool = False


def _ready(pool: ArqRedis, loop: JobLoop) -> Any:
    """``/health/ready``: the job loop runs and reaches the primary through the worker's own pool
    (it follows failovers); 503 while the loop waits to restart after an outage and while a
    Sentinel failover holds commands."""

    async def ready(request: web.Request) -> web.Response:
        if not loop.running:
            return web.json_response({"status": "unavailable", "jobs": "restarting"}, status=503)
        if failing_over(pool):
            return web.json_response(
                {"status": "unavailable", "redis": "failover in progress"}, status=503
            )
        try:
            async with asyncio.timeout(1.0):
                await _ping(pool)
        except Exception as exc:
            return web.json_response(
                {"status": "unavailable", "redis": type(exc).__name__}, status=503
            )
        return web.json_response({"status": "ok", "redis": "ok"})

    return ready


async def start_metrics_server(
    host: str, port: int, pool: ArqRedis | None = None, loop: JobLoop | None = None
) -> web.AppRunner:
    app = metrics_app()
    if pool is not None:
        app.router.add_get("/health/ready", _ready(pool, loop or JobLoop(running=True)))
    return await serve(app, host, port)


async def run_worker(
    settings: Settings, concurrency: int, metrics_port: int, completion_wait: int = 10
) -> None:
    """Run until SIGTERM/SIGINT; a lost Redis connection restarts the arq worker, not the process.

    While Redis is unreachable the worker retries every 0.5 s to 10 s (doubling) and logs once per
    outage, and ``/health/ready`` answers 503; the restarted loop first frees the claims this
    process still holds for jobs it no longer runs (``AlertWorker._release_own_claims``), so they
    run at once instead of after their in-progress marks expire. A signal is heard
    in every state (``worker.shutdown``): connecting, retrying and idle stop at once; jobs in
    flight get up to ``completion_wait`` seconds to finish (a second signal ends that wait), and
    the ones still running are released for another worker.
    """
    shutdown = Shutdown()
    shutdown.install()
    # a failover in progress holds commands up to 10 s rather than failing the jobs in flight;
    # the first command on a new primary fails, so a job that began before it runs again
    pool = connect(settings.redis_url, ArqRedis, failover_wait=10.0, refuse_new_primary=True)
    job_loop = JobLoop()
    runner = (
        await start_metrics_server(settings.host, metrics_port, pool, job_loop)
        if metrics_port
        else None
    )
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
        while not shutdown.stopping:
            worker = create_worker(
                settings,
                pool,
                concurrency,
                handle_signals=False,
                completion_wait=completion_wait,
                owner=owner,
            )
            try:
                job_loop.running = True
                await _run_until_stopped(worker, shutdown, completion_wait)
                return
            except (RedisError, OSError) as exc:
                if not outage:
                    log.error("redis unreachable; retrying", extra={"error": repr(exc)})
                outage = True
            finally:
                job_loop.running = False
                if shutdown.stopping:  # first: arq's close below closes the pool they share
                    await webhooks.stop()
                if not shutdown.urgent.is_set():
                    await _close(worker)
            if await shutdown.sleep(delay):
                return
            delay = min(delay * 2, 10.0)
            with contextlib.suppress(RedisError, OSError):
                if (await shutdown.unless_stopped(_ping(pool)))[0]:
                    log.warning("redis reachable again; worker restarting")
                    outage, delay = False, 0.5
    finally:
        shutdown.uninstall()
        await webhooks.stop()
        if runner is not None:
            await runner.cleanup()
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(CLOSE_WITHIN_S):  # Redis may be what does not answer
                await pool.aclose()
        log.info("worker stopped", extra={"signal": shutdown.reason})


async def _run_until_stopped(worker: AlertWorker, shutdown: Shutdown, completion_wait: int) -> None:
    """Run one arq worker until it fails (raises) or a stop request has drained it."""
    run = asyncio.ensure_future(worker.async_run())
    if not await shutdown.first(run, shutdown.requested):
        worker.allow_pick_jobs = False
        drained = asyncio.ensure_future(_drained(worker))
        await shutdown.within(drained, completion_wait)
        drained.cancel()
        in_flight = [task for task in worker.tasks.values() if not task.done()]
        if in_flight:
            log.warning("jobs still running at shutdown released", extra={"jobs": len(in_flight)})
        for task in in_flight:
            task.cancel()  # a cancelled alert job releases its claim (worker.runner)
        if in_flight and not shutdown.urgent.is_set():  # a release waits on Redis: bounded
            await asyncio.wait(in_flight, timeout=RELEASE_WITHIN_S)
        if not await cancel_and_wait([run], CLOSE_WITHIN_S):
            log.warning("the arq loop did not stop when cancelled; exiting without it")
            return
    if not run.cancelled():
        run.result()  # a lost Redis connection raises here


async def _drained(worker: AlertWorker) -> None:
    """Until no claim is under way (its jobs become tasks) and no job runs."""
    await worker.stop_picking()
    while pending := [task for task in worker.tasks.values() if not task.done()]:
        await asyncio.wait(pending)  # again: a claim under way may have added jobs


async def _close(worker: AlertWorker) -> None:
    """arq's close (it clears its health key): bounded, Redis may be the reason we stop."""
    with contextlib.suppress(RedisError, OSError, TimeoutError, asyncio.CancelledError):
        async with asyncio.timeout(CLOSE_WITHIN_S):
            await worker.close()
