"""How the arq worker for alert-ingest is built (the CLI and the tests use the same factory).

Tunables and why:

``max_jobs``        ``--concurrency`` (default 50): alerts processed at once per process.
``queue_read_limit`` ``2 * concurrency``: job ids read per poll; the worker's own jobs stay queued
                    until finished, so it reads past them.
claim batch         25 (``worker.runner.CLAIM_BATCH``): alert jobs claimed per script call; slots
                    are refilled as soon as a job ends while more wait (see ``worker.runner``).
``poll_delay``      0.01 s: arq sleeps this long between queue polls, which bounds the idle
                    latency of a new alert (arq's 0.5 s default would dominate p99).
``job_timeout``     20 s; arq re-runs a job whose worker died after ``job_timeout + 10`` s.
``keep_result``     0: nothing reads job results, so none are stored (memory stays flat).
``max_tries``       ``MAX_TRIES + 3``: our own policy dead-letters at ``MAX_TRIES``; the margin
                    covers re-runs after worker crashes, which also count as tries in arq.
serializer          orjson on both sides; never pickle (payloads are untrusted).
"""

from __future__ import annotations

from typing import Any

import orjson
from arq.connections import ArqRedis
from arq.worker import func

from ingest.queue import JOB_NAME
from ingest.settings import Settings
from worker.deps import DEPS, Deps
from worker.jobs import MAX_TRIES, process_alert
from worker.periodic import cron_jobs
from worker.runner import AlertWorker

JOB_TIMEOUT_S = 20
POLL_DELAY_S = 0.01


def serialize(value: Any) -> bytes:
    return orjson.dumps(value, default=repr)


def create_worker(
    settings: Settings,
    redis: ArqRedis,
    concurrency: int = 50,
    *,
    burst: bool = False,
    handle_signals: bool = True,
    completion_wait: int = 10,
    retry_base: float = 1.0,
    owner: str = "",
) -> AlertWorker:
    # arq enqueues cron jobs through the pool: it must serialize as the worker deserializes
    redis.job_serializer = serialize
    redis.job_deserializer = orjson.loads
    return AlertWorker(
        owner=owner,
        functions=[func(process_alert, name=JOB_NAME)],
        cron_jobs=cron_jobs(),
        redis_pool=redis,
        queue_name=settings.queue_name,
        burst=burst,
        handle_signals=handle_signals,
        job_completion_wait=completion_wait,
        max_jobs=concurrency,
        queue_read_limit=2 * concurrency,
        job_timeout=JOB_TIMEOUT_S,
        keep_result=0,
        poll_delay=POLL_DELAY_S,
        max_tries=MAX_TRIES + 3,
        health_check_interval=10,
        ctx={DEPS: Deps.create(redis, settings, retry_base)},
        job_serializer=serialize,
        job_deserializer=orjson.loads,
        log_results=False,
    )
