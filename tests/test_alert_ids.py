"""Alert ids are OnCall-shaped; time order comes from the index scores; old ids keep working."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest import ids
from ingest.queue import ARQ_JOB_PREFIX, AlertJob
from ingest.settings import Settings
from ingest.store import keys
from tests.fuzz_helpers import make_integration
from tests.group_helpers import get_json
from tests.queue_helpers import queued_jobs
from tests.worker_helpers import drain

Client = TestClient[Any, Any]
ONCALL_ALERT_ID = re.compile(r"A[A-NP-Z1-9]{12}")  # e.g. "AMJMKX45NDRZR", as OnCall answered
OLD_ALERT_ID = "A01JQ3Z8RW3TF8XK2M7QPV4D9H"  # "A" + 22 characters: ids made before this change


async def test_new_alerts_get_oncall_shaped_ids(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    _, link = await make_integration(client, auth)
    assert (await client.post(link, json={"n": 1})).status == 200
    [job] = await queued_jobs(redis)
    assert ONCALL_ALERT_ID.fullmatch(job["alert_id"])
    await drain(settings)
    listed = await get_json(client, "/api/v1/alerts/", auth)
    assert [a["id"] for a in listed["results"]] == [job["alert_id"]]


async def test_order_comes_from_received_time_not_from_ids(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    """Eight alerts in one group: listed newest first and ``last_alert`` the newest, although
    their random ids sort any which way (8! orders: an id-based order passes by chance 1 in
    40320) and the worker runs them concurrently."""
    _, link = await make_integration(client, auth, templates={"grouping_key": "one"})
    for n in range(8):
        assert (await client.post(link, json={"n": n})).status == 200
        await asyncio.sleep(0.003)  # a later millisecond for each
    await drain(settings)
    [group] = (await get_json(client, "/api/v1/alert_groups/", auth))["results"]
    alerts = await get_json(client, f"/api/v1/alerts/?alert_group_id={group['id']}", auth)
    assert [a["payload"]["n"] for a in alerts["results"]] == list(range(7, -1, -1))
    assert group["last_alert"]["payload"] == {"n": 7}
    everything = await get_json(client, "/api/v1/alerts/?perpage=3&page=2", auth)
    assert [a["payload"]["n"] for a in everything["results"]] == [4, 3, 2]


async def test_alert_queued_with_an_old_id_keeps_working(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    """A job queued by the previous version (a rolling upgrade) is processed, listed in time
    order among new alerts, and found by its id."""
    integration_id, link = await make_integration(client, auth, templates={"grouping_key": "one"})
    received = time.time() - 5
    old_job = AlertJob(OLD_ALERT_ID, integration_id, received, {"n": "old"}).body(
        int(received * 1000)
    )
    await redis.set(ARQ_JOB_PREFIX + OLD_ALERT_ID, old_job)
    await redis.zadd(settings.queue_name, {OLD_ALERT_ID: int(received * 1000)})
    assert (await client.post(link, json={"n": "new"})).status == 200
    await drain(settings)
    listed = await get_json(client, "/api/v1/alerts/", auth)
    assert [a["payload"]["n"] for a in listed["results"]] == ["new", "old"]
    assert listed["results"][1]["id"] == OLD_ALERT_ID
    found = await get_json(client, f"/api/v1/alerts/?id={OLD_ALERT_ID}", auth)
    assert [a["id"] for a in found["results"]] == [OLD_ALERT_ID]
    assert (await get_json(client, f"/api/v1/alerts/{OLD_ALERT_ID}/", auth))["payload"] == {
        "n": "old"
    }


async def test_an_id_in_use_is_never_reused(
    client: Client,
    auth: dict[str, str],
    redis: Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When a drawn id is taken (a stored alert, or a queued job), the api draws a longer one
    instead of overwriting or losing an alert; nothing is spent for the refused draw."""
    _, link = await make_integration(client, auth)
    assert (await client.post(link, json={"n": "first"})).status == 200
    [first] = await queued_jobs(redis)
    await drain(settings)
    assert await redis.exists(keys.alert(first["alert_id"]))
    real = ids.alert_id
    drawn: list[int] = []

    def taken_first(length: int = 12) -> str:
        drawn.append(length)
        return first["alert_id"] if length == 12 else real(length)

    monkeypatch.setattr(ids, "alert_id", taken_first)
    assert (await client.post(link, json={"n": "second"})).status == 200
    [second] = await queued_jobs(redis)
    assert drawn == [12, 13] and re.fullmatch(r"A[A-NP-Z1-9]{13}", second["alert_id"])
    await drain(settings)
    listed = await get_json(client, "/api/v1/alerts/", auth)
    assert [a["payload"]["n"] for a in listed["results"]] == ["second", "first"]
    assert listed["results"][1]["id"] == first["alert_id"]
