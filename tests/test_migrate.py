"""Upgrade: a store written before the group indexes gets them (resumable, one builder at a time).

The old store is made the way the previous version wrote it: groups and the org's list (score =
first alert's receipt) but ``created_at`` = when a worker committed the group, no ``started_ms``,
no index keys and no schema version.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient
from redis.asyncio import Redis

from ingest.api import indexes
from ingest.api.app import create_app
from ingest.embedded_redis import EmbeddedRedis
from ingest.settings import Settings
from ingest.store import keys, migrate
from ingest.store.aio import aw
from tests.group_helpers import GROUPS, Client, act, fire, get_json, labelled_pair
from tests.test_group_indexes import everything, reference, stamp


async def make_old_store(redis: Redis) -> dict[str, float]:
    """Rewrite the current store as the version before indexes left it; ids -> receipt (s)."""
    receipts: dict[str, float] = {}
    async for raw in redis.scan_iter(match=keys.ORG_PREFIX + "*"):
        key = raw.decode()
        if key.endswith(keys.ORG_GROUPS_SUFFIX):
            for gid, score in await redis.zrange(key, 0, -1, withscores=True):
                receipts[gid.decode()] = score / 1000
        elif any(f":{part}:" in key for part in ("gs", "gi", "gr", "gsi", "gsr")) or key.endswith(
            keys.INDEX_LAYOUT["silence"]
        ):
            await redis.delete(key)
    for gid, received in receipts.items():
        await aw(redis.hdel(keys.group(gid), "ix", "started_ms"))
        await aw(
            redis.hset(keys.group(gid), "created_at", repr(received + 0.25))
        )  # committed later
    await redis.delete(keys.SCHEMA_VERSION_KEY)
    return receipts


async def populate(client: Client, auth: dict[str, str], settings: Settings) -> None:
    plain, teamed = await labelled_pair(client, auth)
    await fire(client, settings, plain, *({"k": f"p{i}", "env": "prod"} for i in range(6)))
    await fire(client, settings, teamed, *({"k": f"t{i}", "env": "dev"} for i in range(5)))
    await fire(client, settings, plain, {"k": "p0", "state": "ok"}, {"k": "p1", "state": "ack"})
    ids = {g["title"][-2:]: g["id"] for g in await everything(client, auth)}
    await act(client, auth, ids["t0"], "silence", json={"delay": -1})
    await act(client, auth, ids["t1"], "resolve")


async def test_old_store_is_indexed_resumably_by_one_of_many(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    await populate(client, auth, settings)
    before = await everything(client, auth)
    receipts = await make_old_store(redis)
    assert await migrate.schema_version(redis) == 1
    said: list[str] = []
    assert not await migrate.build_indexes(redis, said.append, batch=2, max_batches=2)
    assert await redis.get(keys.MIGRATION_CURSOR) is not None  # where the next run resumes
    assert "stopped after 2 batches" in said[-1]
    said.clear()
    done = await asyncio.gather(*(migrate.build_indexes(redis, said.append, 3) for _ in range(3)))
    assert done == [True, True, True]  # three replicas at once: one builds, two wait
    assert sum("resuming at cursor" in line for line in said) == 1
    assert sum("waiting for it" in line for line in said) == 2
    assert await migrate.schema_version(redis) == keys.SCHEMA_VERSION
    assert await redis.get(keys.MIGRATION_CURSOR) is None
    after = await everything(client, auth)
    assert [g["id"] for g in after] == [g["id"] for g in before]
    for group in after:  # created_at is the receipt again, not the commit
        assert abs(stamp(group["created_at"]) - receipts[group["id"]]) < 0.001
    plain_id = after[-1]["integration_id"]
    for params in (
        {"state": "new"},
        {"state": "resolved"},
        {"state": "silenced", "integration_id": after[0]["integration_id"]},
        {"state": "acknowledged", "route_id": after[-1]["route_id"]},
        {"integration_id": plain_id, "label": "env:prod"},
        {"team_id": "T1", "state": "new"},
    ):
        listed = [g["id"] for g in (await get_json(client, GROUPS, auth, **params))["results"]]
        assert listed == reference(after, **params) and listed, params


async def test_lists_answer_503_until_the_indexes_are_built(
    aiohttp_client: AiohttpClient,
    client: Client,
    auth: dict[str, str],
    redis: Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await populate(client, auth, settings)
    await make_old_store(redis)
    await redis.set(migrate.LOCK, "another replica", px=60_000)  # someone else is building
    monkeypatch.setattr(indexes, "START_WAIT", 0.1)
    upgraded: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    resp = await upgraded.get(GROUPS, headers=auth)
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    assert "being built" in (await resp.json())["detail"]
    link = (await upgraded.get("/api/v1/integrations/", headers=auth)).status
    assert link == 200  # nothing else waits
    await redis.delete(migrate.LOCK)  # that replica died: this one takes over
    for _ in range(100):
        resp = await upgraded.get(GROUPS, headers=auth, params={"state": "resolved"})
        if resp.status == 200:
            break
        await asyncio.sleep(0.1)
    assert resp.status == 200 and (await resp.json())["count"] == 2


async def test_migrate_command_prints_progress(
    client: Client,
    auth: dict[str, str],
    redis: Redis,
    settings: Settings,
    redis_server: EmbeddedRedis,
) -> None:
    await populate(client, auth, settings)
    await make_old_store(redis)
    env = {**os.environ, "ALERT_INGEST_REDIS_URL": redis_server.url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alert_ingest.cli", "migrate", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith("building group indexes (schema 1 -> 2)")
    assert lines[-1].startswith("group indexes built: 11 groups")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alert_ingest.cli", "migrate", env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0 and out.decode().strip() == "schema version 2: nothing to do"
