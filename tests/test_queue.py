"""The queue contract (``ingest.queue``): arq's job layout, and dead-letter replay through it."""

from __future__ import annotations

import orjson
from arq.constants import job_key_prefix
from redis.asyncio import Redis

from ingest.queue import ARQ_JOB_PREFIX, JOB_EXPIRES_MS, JOB_NAME, AlertJob
from ingest.settings import Settings
from ingest.store import dead_letters
from tests.queue_helpers import queued_jobs

JOB = AlertJob("A1", "C1", 1700000000.5, {"alert_uid": "x", "n": 1})


def test_jobs_use_arqs_key_prefix_and_document_layout() -> None:
    assert ARQ_JOB_PREFIX is job_key_prefix
    doc = orjson.loads(JOB.body(123))
    assert (doc["f"], doc["a"], doc["et"]) == (JOB_NAME, [], 123)
    assert doc["k"] == {
        "alert_id": "A1",
        "integration_id": "C1",
        "received_at": 1700000000.5,
        "payload": {"alert_uid": "x", "n": 1},
    }


async def test_replay_queues_the_dead_letter_again_under_its_alert_id(
    redis: Redis, settings: Settings
) -> None:
    await dead_letters.add(redis, JOB, "RuntimeError: boom", 5)
    assert await dead_letters.replay(redis, settings.queue_name) == ["A1"]
    assert await queued_jobs(redis, settings.queue_name) == [JOB.kwargs()]
    assert 0 < await redis.pttl(ARQ_JOB_PREFIX + "A1") <= JOB_EXPIRES_MS
    assert await dead_letters.size(redis) == 0


async def test_replay_never_overwrites_a_job_that_is_still_there(
    redis: Redis, settings: Settings
) -> None:
    """As a link post: ``SET NX``; a job queued or running under that id is left as it is."""
    running = AlertJob("A1", "C1", 1.0, {"newer": True})
    await redis.set(ARQ_JOB_PREFIX + "A1", running.body(1))
    await dead_letters.add(redis, JOB, "RuntimeError: boom", 5)
    await dead_letters.add(redis, AlertJob("A2", "C1", 2.0, {}), "RuntimeError: boom", 5)
    assert await dead_letters.replay(redis, settings.queue_name, "A1") == ["A1"]
    assert orjson.loads(await redis.get(ARQ_JOB_PREFIX + "A1") or b"")["k"]["payload"] == {
        "newer": True
    }
    assert [e["alert_id"] for e in await dead_letters.entries(redis)] == ["A2"]
