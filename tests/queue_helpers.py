"""Reading what the api put on the queue, for assertions."""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.queue import ARQ_JOB_PREFIX


async def queued_jobs(redis: Redis, queue: str = "alert-ingest:queue") -> list[dict[str, Any]]:
    """Every queued job's keyword arguments, in queue order.

    The queue's score is arq's, in milliseconds, and alert ids are random: two alerts received in
    the same millisecond tie, and Redis lists ties by id. Ties are put in order of receipt.
    """
    entries = await redis.zrange(queue, 0, -1, withscores=True)
    jobs: list[tuple[float, float, dict[str, Any]]] = []
    for member, score in entries:
        alert_id = member.decode()
        raw = await redis.get(ARQ_JOB_PREFIX + alert_id)
        assert raw is not None, f"queue entry {alert_id} has no job document"
        job = orjson.loads(raw)
        assert job["f"] == "process_alert"
        kwargs: dict[str, Any] = job["k"]
        jobs.append((score, kwargs["received_at"], kwargs))
    jobs.sort(key=lambda entry: entry[:2])
    return [kwargs for _, _, kwargs in jobs]
