"""Reading what the api put on the queue, for assertions."""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.queue import ARQ_JOB_PREFIX


async def queued_jobs(redis: Redis, queue: str = "alert-ingest:queue") -> list[dict[str, Any]]:
    """Every queued job's keyword arguments, in queue order."""
    ids = [i.decode() for i in await redis.zrange(queue, 0, -1)]
    jobs = []
    for alert_id in ids:
        raw = await redis.get(ARQ_JOB_PREFIX + alert_id)
        assert raw is not None, f"queue entry {alert_id} has no job document"
        job = orjson.loads(raw)
        assert job["f"] == "process_alert"
        kwargs: dict[str, Any] = job["k"]
        jobs.append(kwargs)
    return jobs
