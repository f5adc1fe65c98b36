"""Concurrency, idempotency, retries and dead letters, heartbeats and retention."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import orjson
from aiohttp.test_utils import TestClient
from arq.connections import ArqRedis
from redis.asyncio import Redis

from ingest.api.app import create_app
from ingest.queue import ARQ_JOB_PREFIX
from ingest.settings import Rate, Settings
from ingest.store import dead_letters
from tests.conftest import AiohttpClient
from tests.test_pipeline import make, state
from tests.worker_helpers import all_groups, drain, events, group_alerts
from worker.deps import DEPS, Deps
from worker.heartbeat import check_heartbeats
from worker.retention import purge
from worker.settings import create_worker

Client = TestClient[Any, Any]


async def unlimited_client(aiohttp_client: AiohttpClient, settings: Settings) -> Client:
    big = Rate(1_000_000, 60)
    app = create_app(settings.replace(rate_limit_integration=big, rate_limit_organization=big))
    return await aiohttp_client(app)


async def test_500_alerts_of_one_key_on_two_workers_make_one_group(
    aiohttp_client: AiohttpClient, settings: Settings, auth: dict[str, str], redis: Redis
) -> None:
    client = await unlimited_client(aiohttp_client, settings)
    path = (await make(client, auth, "formatted_webhook"))["path"]
    posts = [client.post(path, json={"alert_uid": "hot", "n": n}) for n in range(500)]
    assert {r.status for r in await asyncio.gather(*posts)} == {200}
    pools = [ArqRedis.from_url(settings.redis_url) for _ in range(2)]
    workers = [
        create_worker(settings, pool, 50, burst=True, handle_signals=False) for pool in pools
    ]
    try:
        await asyncio.gather(*(w.async_run() for w in workers))
    finally:
        for w, pool in zip(workers, pools, strict=True):
            await w.close()
            await pool.aclose()
    groups = await all_groups(redis)
    assert len(groups) == 1
    assert groups[0]["alerts_count"] == "500"
    assert len(await group_alerts(redis, groups[0]["id"])) == 500
    assert await redis.get(groups[0]["open_key"]) == groups[0]["id"].encode()
    kinds = [e["type"] for e in await events(redis)]
    assert kinds.count("alert_group_created") == 1 and kinds.count("alert_added") == 499


async def test_a_job_run_twice_adds_the_alert_once(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    path = (await make(client, auth, "formatted_webhook"))["path"]
    assert (await client.post(path, json={"alert_uid": "i", "state": "x"})).status == 200
    [alert_id] = [a.decode() for a in await redis.zrange(settings.queue_name, 0, -1)]
    job = await redis.get(ARQ_JOB_PREFIX + alert_id)
    await drain(settings)
    # arq re-runs a job whose worker died before marking it done: same id, same body
    assert job is not None
    await redis.set(ARQ_JOB_PREFIX + alert_id, job)
    await redis.zadd(settings.queue_name, {alert_id: int(time.time() * 1000)})
    await drain(settings)
    [group] = await all_groups(redis)
    assert group["alerts_count"] == "1"
    assert len(await events(redis)) == 1


async def test_events_failing_after_the_group_commit_are_sent_once_on_retry(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    path = (await make(client, auth, "formatted_webhook"))["path"]
    await redis.set("ai:events", "not a stream")  # XADD now fails: WRONGTYPE
    assert (await client.post(path, json={"alert_uid": "e", "state": "x"})).status == 200

    async def heal() -> None:
        while await redis.type("ai:events") == b"string":
            if await redis.exists("ai:alert-marker-never"):  # pragma: no cover
                break
            groups = await all_groups(redis)
            if groups:  # the group was committed, the events failed: repair the stream
                await redis.delete("ai:events")
            await asyncio.sleep(0.005)

    await asyncio.gather(drain(settings), heal())
    [group] = await all_groups(redis)
    assert group["alerts_count"] == "1"
    assert [e["type"] for e in await events(redis)] == ["alert_group_created"]


async def cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alert_ingest.cli", *args, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    return await proc.wait(), out.decode()


async def test_failures_retry_then_dead_letter_then_replay(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    integration = await make(client, auth, "formatted_webhook")
    key = f"ai:integration:{integration['id']}"
    good = await redis.get(key)
    assert (await client.post(integration["path"], json={"alert_uid": "d"})).status == 200
    await redis.set(key, b"{corrupt")
    await drain(settings)
    [entry] = await dead_letters.entries(redis)
    assert entry["tries"] == 5 and "JSONDecodeError" in entry["error"]
    assert entry["payload"] == {"alert_uid": "d"}
    assert await all_groups(redis) == []
    env = {**os.environ, "ALERT_INGEST_REDIS_URL": settings.redis_url}
    code, listed = await cli(env, "dlq", "list")
    assert code == 0 and entry["alert_id"] in listed
    assert good is not None
    await redis.set(key, good)
    code, replayed = await cli(env, "dlq", "replay", entry["alert_id"])
    assert code == 0 and "re-queued 1" in replayed
    await drain(settings)
    assert await dead_letters.entries(redis) == []
    [group] = await all_groups(redis)
    assert group["alerts_count"] == "1"


async def test_heartbeat_expiry_opens_and_resumption_resolves(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    integration = await make(client, auth, "alertmanager", heartbeat_timeout=60)
    heartbeat = integration["path"] + "heartbeat/"
    assert (await client.post(heartbeat)).status == 200
    ctx = {DEPS: Deps.create(redis, settings)}
    await check_heartbeats(ctx)
    assert await all_groups(redis) == []
    await redis.zadd("ai:heartbeats", {integration["id"]: time.time() - 120})  # 2 minutes ago
    await check_heartbeats(ctx)
    await check_heartbeats(ctx)  # no second alert while still expired
    [group] = await all_groups(redis)
    assert state(group) == "firing" and group["alerts_count"] == "1"
    assert group["title"].startswith("Heartbeat expired")
    assert (await client.get(heartbeat)).status == 200
    await check_heartbeats(ctx)
    [group] = await all_groups(redis)
    assert state(group) == "resolved" and group["alerts_count"] == "2"
    kinds = [e["type"] for e in await events(redis)]
    assert kinds == ["alert_group_created", "alert_added", "alert_group_resolved"]
    first = orjson.loads((await events(redis))[0]["data"])
    assert first["channels"]["web"]["title"].startswith("Heartbeat expired")


async def test_retention_deletes_old_resolved_groups_only(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    path = (await make(client, auth, "formatted_webhook"))["path"]
    for body in ({"alert_uid": "old", "state": "x"}, {"alert_uid": "old", "state": "ok"},
                 {"alert_uid": "open", "state": "x"}):  # fmt: skip
        assert (await client.post(path, json=body)).status == 200
        await drain(settings)
    assert await purge(redis, retention_days=30) == 0
    assert await purge(redis, retention_days=30, now=time.time() + 31 * 86400) == 1
    [left] = await all_groups(redis)
    assert state(left) == "firing"
    assert await redis.zcard("ai:org:org1:alerts") == 1
    assert await redis.keys("ai:last-resolved:*") == []
    # a resolve for the purged key now opens (and resolves) a fresh group instead
    assert (await client.post(path, json={"alert_uid": "old", "state": "ok"})).status == 200
    await drain(settings)
    assert [state(g) for g in await all_groups(redis)] == ["firing", "resolved"]


async def test_jobs_of_a_dead_worker_come_back_within_job_timeout(settings: Settings) -> None:
    """arq derives the in-progress expiry from the LONGEST function timeout, crons included."""
    from worker.settings import JOB_TIMEOUT_S

    pool = ArqRedis.from_url(settings.redis_url)
    try:
        worker = create_worker(settings, pool, 5, burst=True, handle_signals=False)
        assert worker.in_progress_timeout_s == JOB_TIMEOUT_S + 10
    finally:
        await pool.aclose()


async def test_a_change_of_one_integration_leaves_others_cached(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    first = await make(client, auth, "formatted_webhook")
    second = await make(client, auth, "formatted_webhook")
    deps = Deps.create(redis, settings)
    cached = await deps.cache.get(first["id"])
    put = await client.put(f"/api/v1/integrations/{second['id']}", json={"name": "x"}, headers=auth)
    assert put.status == 200
    assert await redis.get(f"ai:integration:{first['id']}:version") == str(cached.version).encode()
    await client.put(f"/api/v1/integrations/{first['id']}", json={"name": "y"}, headers=auth)
    assert int(await redis.get(f"ai:integration:{first['id']}:version") or 0) > cached.version
