"""The arq job functions of the worker, and their failure policy.

``process_alert`` runs ``worker.pipeline`` for one alert. An unexpected exception (Redis trouble,
a bug; never a template error, which degrades inside the pipeline) is retried with exponential
backoff (1 s, 2 s, 4 s, ...) up to ``MAX_TRIES`` tries; after the last one the job goes to the
dead-letter list with its error (``alert-ingest dlq list`` / ``dlq replay``). An alert that
only acts on an open group and finds none is tried again shortly (``WAIT_FOR_GROUP_TRIES``),
then dropped.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from arq import Retry

from ingest.queue import AlertJob
from ingest.store import dead_letters
from worker import metrics
from worker.deps import DEPS, Deps
from worker.grouping import NO_GROUP
from worker.pipeline import process

log = logging.getLogger("worker.jobs")
MAX_TRIES = 5
# An alert that only acts on an open group and finds none is tried this many times in all, the
# first retry delay apart (1 s), before it is dropped: a PagerDuty resolve or an Opsgenie update
# sent right after the event that opens the group can reach a worker slot first.
WAIT_FOR_GROUP_TRIES = 3


def backoff(job_try: int, base: float) -> float:
    return min(60.0, base * 2.0 ** (job_try - 1))


async def process_alert(
    ctx: dict[str, Any],
    *,
    alert_id: str,
    integration_id: str,
    received_at: float,
    payload: Any,
    notes: list[str] | None = None,
) -> None:
    started = time.time()
    enqueue_time = ctx.get("enqueue_time")
    if enqueue_time is not None:
        metrics.QUEUE_WAIT.observe(max(0.0, started - enqueue_time.timestamp()))
    deps: Deps = ctx[DEPS]
    job = AlertJob(alert_id, integration_id, received_at, payload, tuple(notes or ()))
    job_try = int(ctx.get("job_try", 1))
    context = {"alert_id": alert_id, "integration_id": integration_id, "job_try": job_try}
    try:
        group = await process(deps, job)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if job_try < MAX_TRIES:
            metrics.JOBS_BY_OUTCOME["retried"].inc()
            log.warning("alert failed, will retry", extra={**context, "error": error})
            raise Retry(defer=backoff(job_try, deps.retry_base)) from exc
        await dead_letters.add(deps.redis, job, error, job_try)
        metrics.JOBS_BY_OUTCOME["dead_lettered"].inc()
        log.error("alert dead-lettered", extra={**context, "error": error})
        return
    if group is not None and group.result == NO_GROUP and job_try < WAIT_FOR_GROUP_TRIES:
        # its group may be opened by an alert received just before it and processed beside it
        raise Retry(defer=deps.retry_base)
    metrics.PROCESSING.observe(time.time() - started)
    if group is None or group.result == NO_GROUP:
        metrics.JOBS_BY_OUTCOME["dropped"].inc()
        if group is None:
            log.info("alert dropped: integration deleted", extra=context)
        else:
            metrics.ALERTS_BY_RESULT["dropped"].inc()
            log.info("alert dropped: no open group to act on", extra=context)
    elif group.result == "duplicate":
        metrics.JOBS_BY_OUTCOME["duplicate"].inc()
    else:
        metrics.JOBS_BY_OUTCOME["processed"].inc()
        log.debug(
            "alert processed",
            extra={**context, "alert_group_id": group.group_id, "result": group.result},
        )
