"""The dead-letter list: alert jobs that failed every try, kept with their error for replay.

``replay`` queues an entry's job again exactly as a link post queues one (``ingest.queue``:
same job document, same alert id, never over a job still there), then removes the entry. When a
job with that alert id is still there (queued, running, or waiting for a retry), nothing is
written and the entry stays, so it can be replayed once that job is done; the replay says which
entries it kept (``Replay.kept``, and a warning in the log).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.queue import AlertJob, Enqueuer
from ingest.store import keys
from ingest.store.aio import aw

log = logging.getLogger("ingest.dead_letters")


@dataclass
class Replay:
    """The alert ids a replay queued again, and those it kept: a job was still there."""

    queued: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


async def add(redis: Redis, job: AlertJob, error: str, tries: int) -> None:
    entry = {**job.kwargs(), "error": error, "tries": tries, "failed_at": time.time()}
    await aw(redis.rpush(keys.DEAD_LETTERS, orjson.dumps(entry)))


async def entries(redis: Redis) -> list[dict[str, Any]]:
    raw = await aw(redis.lrange(keys.DEAD_LETTERS, 0, -1))
    return [orjson.loads(item) for item in raw]


async def size(redis: Redis) -> int:
    return int(await aw(redis.llen(keys.DEAD_LETTERS)))


async def replay(redis: Redis, queue_name: str, alert_id: str | None = None) -> Replay:
    """Re-queue one entry (by alert id) or all, removing those whose job was written."""
    enqueuer = Enqueuer(redis, queue_name)
    replayed = Replay()
    for raw in await aw(redis.lrange(keys.DEAD_LETTERS, 0, -1)):
        entry = orjson.loads(raw)
        if alert_id is not None and entry.get("alert_id") != alert_id:
            continue
        job = AlertJob(
            entry["alert_id"],
            entry["integration_id"],
            entry["received_at"],
            entry["payload"],
            tuple(entry.get("notes") or ()),
        )
        if await enqueuer.requeue([job]) == 0:
            log.warning(
                "dead letter kept: a job with its alert id is still queued, running or retrying",
                extra={"alert_id": job.alert_id},
            )
            replayed.kept.append(job.alert_id)
            continue
        await aw(redis.lrem(keys.DEAD_LETTERS, 1, raw))
        replayed.queued.append(job.alert_id)
    return replayed
