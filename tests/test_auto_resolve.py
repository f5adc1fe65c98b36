"""Auto-resolve (``auto_resolve_after``): the API field, the deadlines the worker arms, and the
periodic job, with a real Redis, the real app and a real worker."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.settings import Settings
from ingest.store import keys
from tests.test_pagerduty_api import make, state
from tests.worker_helpers import all_groups, drain, events
from worker.auto_resolve import auto_resolve
from worker.deps import DEPS, Deps
from worker.periodic import cron_jobs

Client = TestClient[Any, Any]


async def run_job(redis: Redis, settings: Settings, at: float | None = None) -> int:
    return await auto_resolve({DEPS: Deps.create(redis, settings)}, at)


async def one_group(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> tuple[dict[str, Any], dict[str, str]]:
    """An integration auto-resolving after 60 s, with one group of one alert."""
    made = await make(client, auth, "formatted_webhook", auto_resolve_after=60)
    await post(client, made["path"])
    await drain(settings)
    [group] = await all_groups(redis)
    return made, group


async def newest_received(redis: Redis, group_id: str) -> float:
    """When the group's newest alert was received (s): deadlines count from it."""
    [(_, ms)] = await redis.zrevrange(keys.group_alerts(group_id), 0, 0, withscores=True)
    return float(ms) / 1000


async def post(client: Client, path: str, uid: str = "disk-h1") -> None:
    resp = await client.post(
        path, json={"alert_uid": uid, "title": f"Disk full ({uid})", "state": "alerting"}
    )
    assert resp.status == 200


@pytest.mark.parametrize("value", [0, -5, 10**9, 1.5, "600", True])
async def test_bad_auto_resolve_after_is_a_field_error(
    client: Client, auth: dict[str, str], value: Any
) -> None:
    resp = await client.post(
        "/api/v1/integrations/",
        json={"type": "webhook", "auto_resolve_after": value},
        headers=auth,
    )
    assert resp.status == 400
    error = "Must be whole seconds from 1 to 7776000 (90 days), or null."
    assert await resp.json() == {"auto_resolve_after": [error]}


async def test_auto_resolve_after_is_null_by_default_and_can_be_set_and_cleared(
    client: Client, auth: dict[str, str]
) -> None:
    plain = await make(client, auth, "webhook")
    assert plain["auto_resolve_after"] is None
    made = await make(client, auth, "webhook", auto_resolve_after=600)
    assert made["auto_resolve_after"] == 600
    url = f"/api/v1/integrations/{made['id']}/"
    resp = await client.patch(url, json={"auto_resolve_after": None}, headers=auth)
    assert (await resp.json())["auto_resolve_after"] is None
    resp = await client.get(url, headers=auth)
    assert (await resp.json())["auto_resolve_after"] is None


async def test_quiet_group_is_resolved_by_auto_resolve(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    made, group = await one_group(client, auth, redis, settings)
    last = await newest_received(redis, group["id"])
    assert await redis.zscore(keys.AUTO_RESOLVE, group["id"]) == pytest.approx(last + 60)
    assert await run_job(redis, settings, last + 59.9) == 0  # not yet due
    assert await run_job(redis, settings, last + 60.1) == 1
    resp = await client.get(f"/api/v1/alert_groups/{group['id']}/", headers=auth)
    body = await resp.json()
    assert (body["state"], body["resolved_by"]) == ("resolved", "auto-resolve")
    resolved = [e for e in await events(redis) if e["type"] == "alert_group_resolved"]
    assert [orjson.loads(e["data"])["actor"] for e in resolved] == ["auto-resolve"]
    assert await redis.zcard(keys.AUTO_RESOLVE) == 0
    await post(client, made["path"])  # the key was closed for grouping: a new group
    await drain(settings)
    assert [state(g) for g in await all_groups(redis)] == ["resolved", "firing"]


async def test_group_that_keeps_receiving_alerts_is_not_resolved(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    made, group = await one_group(client, auth, redis, settings)
    first = await newest_received(redis, group["id"])
    for _ in range(5):  # alerts keep coming: each moves the deadline past the previous one's
        await asyncio.sleep(0.05)
        await post(client, made["path"])
        await drain(settings)
        last = await newest_received(redis, group["id"])
        assert await run_job(redis, settings, last + 59.99) == 0
    assert last + 59.99 > first + 60  # the first alert's deadline had passed
    [group] = await all_groups(redis)
    assert state(group) == "firing" and group["alerts_count"] == "6"
    assert await run_job(redis, settings, last + 60.01) == 1
    assert [state(g) for g in await all_groups(redis)] == ["resolved"]


async def test_alert_received_after_a_stale_deadline_wins(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    _, group = await one_group(client, auth, redis, settings)
    armed = await redis.zscore(keys.AUTO_RESOLVE, group["id"])
    await redis.zadd(keys.AUTO_RESOLVE, {group["id"]: 1.0})  # a deadline long past
    assert await run_job(redis, settings) == 0
    assert state((await all_groups(redis))[0]) == "firing"
    deadline = await redis.zscore(keys.AUTO_RESOLVE, group["id"])
    assert deadline == pytest.approx(armed, abs=0.01)  # re-armed from the newest alert


async def test_only_due_deadlines_are_read(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    # 60 s, not 1: a drain's burst worker runs the periodic auto-resolve job when one is due, and
    # must not resolve these groups before the test's own run
    made = await make(client, auth, "formatted_webhook", auto_resolve_after=60)
    for uid in ("a", "b", "c"):
        await post(client, made["path"], uid)
    await drain(settings)
    far = 4_000_000_000.0
    for start in range(0, 100_000, 10_000):  # 100,000 other open groups, none due
        await redis.zadd(
            keys.AUTO_RESOLVE, {f"G{n}": far + n for n in range(start, start + 10_000)}
        )
    before = (await redis.info("commandstats")).get("cmdstat_hgetall", {}).get("calls", 0)
    assert await run_job(redis, settings, time.time() + 61) == 3
    after = (await redis.info("commandstats"))["cmdstat_hgetall"]["calls"]
    assert after - before == 3  # one group read per due deadline, none for the others
    assert await redis.zcard(keys.AUTO_RESOLVE) == 100_000


async def test_deadlines_of_groups_it_must_not_resolve_are_dropped(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    made = await make(client, auth, "formatted_webhook", auto_resolve_after=60)  # see above
    await post(client, made["path"], "by-source")
    await post(client, made["path"], "turned-off")
    await drain(settings)
    by_title = {g["title"]: g for g in await all_groups(redis)}  # both made in one drain
    by_source, turned_off = by_title["Disk full (by-source)"], by_title["Disk full (turned-off)"]
    resp = await client.post(made["path"], json={"alert_uid": "by-source", "state": "OK"})
    assert resp.status == 200
    await drain(settings)
    url = f"/api/v1/integrations/{made['id']}/"
    await client.patch(url, json={"auto_resolve_after": None}, headers=auth)
    await redis.zadd(keys.AUTO_RESOLVE, {"INOSUCHGROUP": 1.0})
    assert await run_job(redis, settings, time.time() + 61) == 0
    assert await redis.zcard(keys.AUTO_RESOLVE) == 0
    groups = {g["id"]: g for g in await all_groups(redis)}
    assert groups[by_source["id"]]["resolved_by"] == "source"
    assert state(groups[turned_off["id"]]) == "firing"


def test_the_worker_runs_it_every_five_seconds() -> None:
    [job] = [job for job in cron_jobs() if job.coroutine is auto_resolve]
    assert job.second == set(range(0, 60, 5)) and job.unique
