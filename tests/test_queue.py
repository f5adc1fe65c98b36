"""The queue contract (``ingest.queue``): arq's job layout, and dead-letter replay through it."""

from __future__ import annotations

import asyncio
import time

import orjson
from arq.constants import job_key_prefix
from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis
from ingest.queue import ARQ_JOB_PREFIX, JOB_EXPIRES_MS, JOB_NAME, AlertJob
from ingest.settings import Settings
from ingest.store import dead_letters
from ingest.store.dead_letters import Replay
from tests.queue_helpers import queued_jobs
from tests.test_api_visibility import cli

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
    assert await dead_letters.replay(redis, settings.queue_name) == Replay(queued=["A1"])
    assert await queued_jobs(redis, settings.queue_name) == [JOB.kwargs()]
    assert 0 < await redis.pttl(ARQ_JOB_PREFIX + "A1") <= JOB_EXPIRES_MS
    assert await dead_letters.size(redis) == 0


async def test_replay_never_overwrites_a_job_that_is_still_there(
    redis: Redis, settings: Settings
) -> None:
    """As a link post: ``SET NX``; a job queued, running or retrying under that id is left as it
    is, its retry time (queue score) too, and its dead-letter entry stays: nothing was queued."""
    retrying = AlertJob("A1", "C1", 1.0, {"newer": True})
    await redis.set(ARQ_JOB_PREFIX + "A1", retrying.body(1))
    retry_at = time.time() * 1000 + 60_000
    await redis.zadd(settings.queue_name, {"A1": retry_at})
    await dead_letters.add(redis, JOB, "RuntimeError: boom", 5)
    await dead_letters.add(redis, AlertJob("A2", "C1", 2.0, {}), "RuntimeError: boom", 5)
    assert await dead_letters.replay(redis, settings.queue_name, "A1") == Replay(kept=["A1"])
    assert orjson.loads(await redis.get(ARQ_JOB_PREFIX + "A1") or b"")["k"]["payload"] == {
        "newer": True
    }
    assert await redis.zscore(settings.queue_name, "A1") == retry_at
    assert [e["alert_id"] for e in await dead_letters.entries(redis)] == ["A1", "A2"]
    assert await dead_letters.replay(redis, settings.queue_name) == Replay(["A2"], ["A1"])
    assert await redis.zscore(settings.queue_name, "A1") == retry_at
    assert [e["alert_id"] for e in await dead_letters.entries(redis)] == ["A1"]


async def test_dlq_replay_names_what_it_kept_and_exits_3(
    redis: Redis, redis_server: EmbeddedRedis, settings: Settings
) -> None:
    await redis.set(ARQ_JOB_PREFIX + "A1", JOB.body(1))  # still retrying under its id
    await dead_letters.add(redis, JOB, "RuntimeError: boom", 5)
    done = await asyncio.to_thread(
        cli, "dlq", "replay", "A1", ALERT_INGEST_REDIS_URL=redis_server.url
    )
    assert done.returncode == 3, done
    assert done.stdout.splitlines() == [
        "re-queued 0 alert(s)",
        "kept 1 alert(s) in the dead-letter list (a job with the same alert id is still queued,"
        " running or retrying): A1",
    ]
    assert [e["alert_id"] for e in await dead_letters.entries(redis)] == ["A1"]
