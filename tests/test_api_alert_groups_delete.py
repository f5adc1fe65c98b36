"""Alert groups API: DELETE in its two modes (wipe, delete) and its body errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from ingest.settings import Settings
from tests.group_helpers import (
    ALERTS,
    GROUPS,
    Client,
    act,
    fire,
    get_json,
    list_groups,
    only_group,
    webhook,
)
from tests.openapi_check import assert_valid
from tests.worker_helpers import events

DETAIL = "/api/v1/alert_groups/{id}/"


async def test_wipe(client: Client, auth: dict[str, str], redis: Redis, settings: Settings) -> None:
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a", "secret": 1}, {"k": "a", "secret": 2})
    gid = (await only_group(client, auth))["id"]
    before = len(await events(redis))
    resp = await client.delete(GROUPS + gid, headers=auth)
    assert resp.status == 204
    group = await get_json(client, GROUPS + gid, auth)
    assert group["state"] == "resolved" and group["resolved_by"] is None
    assert group["title"] is None and group["alerts_count"] == 2
    assert group["last_alert"]["payload"] == {}
    alerts = (await get_json(client, ALERTS, auth, alert_group_id=gid))["results"]
    assert [a["payload"] for a in alerts] == [{}, {}]
    assert "secret" not in orjson.dumps(alerts).decode()
    [event] = (await events(redis))[before:]
    assert event["type"] == "alert_group_resolved" and orjson.loads(event["data"])["wiped"]
    resp = await client.delete(GROUPS + gid, json={"mode": "wipe"}, headers=auth)
    assert resp.status == 204 and len(await events(redis)) == before + 1
    message = "Can't unresolve a wiped alert group"
    assert await act(client, auth, gid, "unresolve") == (400, {"detail": message})
    await fire(client, settings, integration, {"k": "a", "state": "ok"})
    assert len(await list_groups(client, auth)) == 2  # nothing joins a wiped group


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"mode": "random"}, "Invalid mode"),
        ("delete", "A dict with a `mode` key is expected"),
        ([1], "A dict with a `mode` key is expected"),
    ],
)
async def test_delete_bad_bodies(
    client: Client, auth: dict[str, str], settings: Settings, body: Any, message: str
) -> None:
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"})
    gid = (await only_group(client, auth))["id"]
    resp = await client.delete(GROUPS + gid, json=body, headers=auth)
    assert (resp.status, await resp.json()) == (400, {"detail": message})
    assert_valid(await resp.json(), DETAIL, "delete", 400)


async def test_delete_removes_group_alerts_and_indexes(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"}, {"k": "a"}, {"k": "b"})
    keep, gone = await list_groups(client, auth)
    assert gone["alerts_count"] == 2
    resp = await client.delete(GROUPS + gone["id"], json={"mode": "delete"}, headers=auth)
    assert resp.status == 204
    assert (await client.get(GROUPS + gone["id"], headers=auth)).status == 404
    assert [g["id"] for g in await list_groups(client, auth)] == [keep["id"]]
    alerts = await get_json(client, ALERTS, auth)
    assert [a["alert_group_id"] for a in alerts["results"]] == [keep["id"]]
    assert not await redis.exists(f"ai:group:{gone['id']}", f"ai:group:{gone['id']}:alerts")
    assert await redis.zscore("ai:resolved-groups", gone["id"]) is None
    await fire(client, settings, integration, {"k": "a"})
    newest = (await list_groups(client, auth))[0]
    assert newest["id"] != gone["id"] and newest["alerts_count"] == 1


async def test_deleting_a_maintenance_group_detaches_its_groups(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration = await webhook(client, auth)
    url = f"/api/v1/integrations/{integration['id']}/maintenance_start/"
    resp = await client.post(url, json={"mode": "maintenance", "duration": 60}, headers=auth)
    assert resp.status == 200
    await fire(client, settings, integration, {"k": "a"})
    groups = {g["title"]: g["id"] for g in await list_groups(client, auth)}
    resp = await client.delete(
        GROUPS + groups[f"Maintenance of {integration['name']} for 60"],
        json={"mode": "delete"},
        headers=auth,
    )
    assert resp.status == 204
    status, body = await act(client, auth, groups["Alert a"], "acknowledge")
    assert status == 200 and body["state"] == "acknowledged"
