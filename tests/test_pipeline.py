"""End to end: real HTTP app -> Redis queue -> real arq worker -> groups, alerts and events."""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.settings import Settings
from tests.conftest import FIXTURES
from tests.worker_helpers import all_groups, drain, events, group_alerts

Client = TestClient[Any, Any]
FIRING = orjson.loads((FIXTURES / "alertmanager" / "firing.json").read_bytes())
RESOLVED = orjson.loads((FIXTURES / "alertmanager" / "resolved.json").read_bytes())


async def make(client: Client, auth: dict[str, str], kind: str, **extra: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/integrations/", json={"type": kind, **extra}, headers=auth)
    data: dict[str, Any] = await resp.json()
    assert resp.status == 201, data
    data["path"] = re.sub(r"^http://testserver", "", data["link"])
    return data


async def post_and_drain(client: Client, settings: Settings, path: str, *bodies: Any) -> None:
    for body in bodies:
        resp = await client.post(path, json=body)
        assert resp.status == 200, await resp.text()
        await drain(settings)


def state(group: dict[str, str]) -> str:
    if group.get("resolved_at"):
        return "resolved"
    if group.get("acknowledged_at"):
        return "acknowledged"
    if group.get("silenced_at"):
        return "silenced"
    return "firing"


async def test_alertmanager_cycle(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    integration = await make(client, auth, "alertmanager")
    path = integration["path"]
    await post_and_drain(client, settings, path, FIRING)
    [g1] = await all_groups(redis)
    assert state(g1) == "firing" and g1["alerts_count"] == "1"
    await post_and_drain(client, settings, path, FIRING)
    [g1] = await all_groups(redis)
    assert g1["alerts_count"] == "2"
    await post_and_drain(client, settings, path, RESOLVED)
    [g1] = await all_groups(redis)
    assert state(g1) == "resolved" and g1["alerts_count"] == "3"
    await post_and_drain(client, settings, path, FIRING)
    first, second = await all_groups(redis)
    assert first["id"] == g1["id"] and state(first) == "resolved"
    assert state(second) == "firing" and second["alerts_count"] == "1"
    types = [e["type"] for e in await events(redis)]
    assert types == [
        "alert_group_created", "alert_added", "alert_added", "alert_group_resolved",
        "alert_group_created",
    ]  # fmt: skip


async def test_trace_and_event_content(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    integration = await make(client, auth, "alertmanager")
    await post_and_drain(client, settings, integration["path"], FIRING)
    [group] = await all_groups(redis)
    [alert] = await group_alerts(redis, group["id"])
    trace = alert["trace"]
    assert trace["grouping_key"] == FIRING["groupKey"]
    assert trace["resolve_signal"] is False
    assert trace["route"]["route_id"] == integration["default_route"]["id"]
    assert alert["result"] == "new_group" and alert["group_id"] == group["id"]
    assert alert["payload"]["groupKey"] == FIRING["groupKey"]
    [event] = await events(redis)
    data = orjson.loads(event["data"])
    assert event["alert_group_id"] == group["id"] and event["alert_id"] == alert["id"]
    assert data["route_id"] == integration["default_route"]["id"]
    assert data["escalate"] is False  # no escalation chain on the default route
    assert set(data["channels"]) == {"web", "slack"}
    assert data["channels"]["slack"]["title"]
    assert data["channels"]["web"]["title"]
