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


async def test_group_and_its_created_event_carry_one_title(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    """The web title is rendered once, with labels and the group's id in its context: the group
    and its alert_group_created event show the same text; a later alert's event has its own."""
    templates = {
        "grouping_key": "{{ payload.team }}",
        "source_link": "https://source.example/{{ payload.n }}",
        "web": {
            "title": "{{ labels.team }} #{{ grafana_oncall_alert_group_id }} {{ source_link }}"
        },
    }
    dynamic = [{"key": {"name": "team"}, "value": {"name": "{{ payload.team }}"}}]
    integration = await make(client, auth, "webhook", templates=templates, dynamic_labels=dynamic)
    await post_and_drain(client, settings, integration["path"], {"team": "sre", "n": 1})
    await post_and_drain(client, settings, integration["path"], {"team": "sre", "n": 2})
    [group] = await all_groups(redis)
    created, added = await events(redis)
    assert (created["type"], added["type"]) == ("alert_group_created", "alert_added")
    title = f"sre #{group['id']} https://source.example/1"
    assert group["title"] == title
    assert orjson.loads(created["data"])["channels"]["web"]["title"] == title
    later = orjson.loads(added["data"])["channels"]["web"]["title"]
    assert later == f"sre #{group['id']} https://source.example/2"
    shown = await client.get(f"/api/v1/alert_groups/{group['id']}", headers=auth)
    assert (await shown.json())["title"] == title


async def test_a_joining_alert_shows_its_own_title_and_the_group_it_joined(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    """A web title that cannot see the group is rendered before grouping and carried over to
    the group the alert joined; the channels that do read the group see that group's id."""
    templates = {
        "grouping_key": "{{ payload.team }}",
        "web": {"title": "{{ payload.team }} {{ payload.n }}"},
        "slack": {"title": "{{ web_title }} in {{ grafana_oncall_alert_group_id }}"},
    }
    integration = await make(client, auth, "webhook", templates=templates)
    await post_and_drain(client, settings, integration["path"], {"team": "sre", "n": 1})
    await post_and_drain(client, settings, integration["path"], {"team": "sre", "n": 2})
    [group] = await all_groups(redis)
    created, added = await events(redis)
    first = orjson.loads(created["data"])["channels"]
    later = orjson.loads(added["data"])["channels"]
    assert group["title"] == first["web"]["title"] == "sre 1"
    assert later["web"]["title"] == "sre 2"
    assert later["slack"]["title"] == f"sre 2 in {group['id']}"


async def test_failing_web_title_is_the_same_on_the_group_and_its_event(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    templates = {"web": {"title": "{{ 1 / payload.zero }}"}}
    integration = await make(client, auth, "webhook", templates=templates)
    await post_and_drain(client, settings, integration["path"], {"zero": 0})
    [group] = await all_groups(redis)
    [created] = await events(redis)
    shown = orjson.loads(created["data"])["channels"]["web"]["title"]
    assert shown.startswith("Template Error: ") and group["title"] == shown
