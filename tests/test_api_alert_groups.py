"""Alert groups API: shape, actions with their preconditions, filters, events, tenancy, wipe."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.api.group_filters import STATE_MESSAGE
from ingest.domain import groups as domain_groups
from ingest.domain.groups import Action
from ingest.settings import Settings
from ingest.store import groups as store_groups
from ingest.store.group_actions import Outcome
from tests.conftest import TokenFactory
from tests.group_helpers import (
    GROUPS,
    Client,
    act,
    fire,
    get_json,
    labelled_pair,
    list_groups,
    named_token,
    one_fired_group,
    only_group,
    webhook,
)
from tests.openapi_check import assert_valid
from tests.worker_helpers import events

DETAIL = "/api/v1/alert_groups/{id}/"
KEYS = [
    "id", "integration_id", "team_id", "route_id", "alerts_count", "state", "created_at",
    "resolved_at", "resolved_by", "acknowledged_at", "acknowledged_by", "labels", "title",
    "permalinks", "silenced_at", "last_alert", "silenced_until",
]  # fmt: skip


async def test_group_object_list_and_retrieve(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration = await webhook(
        client, auth, labels=[{"key": {"name": "team"}, "value": {"name": "sre"}}]
    )
    await fire(client, settings, integration, {"k": "a", "n": 1}, {"k": "a", "n": 2})
    page = await get_json(client, GROUPS, auth)
    assert_valid(page, GROUPS, "get", 200)
    assert page["count"] == 1 and page["page_size"] == 50 and page["next"] is None
    [group] = page["results"]
    assert list(group) == KEYS
    assert group["integration_id"] == integration["id"]
    assert group["route_id"] == integration["default_route"]["id"]
    assert group["team_id"] is None and group["alerts_count"] == 2
    assert group["state"] == "firing" and group["title"] == "Alert a"
    assert group["created_at"].endswith("Z")
    assert group["labels"] == [
        {"key": {"id": "team", "name": "team"}, "value": {"id": "sre", "name": "sre"}}
    ]
    assert group["permalinks"] == {
        "slack": None,
        "slack_app": None,
        "telegram": None,
        "web": f"http://testserver/console/groups/{group['id']}",
    }
    last = group["last_alert"]
    assert list(last) == ["id", "alert_group_id", "created_at", "payload"]
    assert last["payload"] == {"k": "a", "n": 2} and last["alert_group_id"] == group["id"]
    detail = await get_json(client, GROUPS + group["id"], auth)
    assert_valid(detail, DETAIL, "get", 200)
    assert detail == group


async def test_order_and_pagination(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"}, {"k": "b"}, {"k": "c"})
    page = await get_json(client, GROUPS, auth, perpage=2)
    assert [g["title"] for g in page["results"]] == ["Alert c", "Alert b"]
    assert page["next"] == "http://testserver/api/v1/alert_groups/?page=2&perpage=2"
    second = await get_json(client, GROUPS, auth, perpage=2, page=2)
    assert [g["title"] for g in second["results"]] == ["Alert a"]
    assert second["previous"] == "http://testserver/api/v1/alert_groups/?perpage=2"


async def test_acknowledge_resolve_cycle_and_messages(
    client: Client, redis: Redis, settings: Settings
) -> None:
    auth = await named_token(redis, "alice")
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"})
    gid = (await only_group(client, auth))["id"]

    status, body = await act(client, auth, gid, "acknowledge")
    assert status == 200 and body["state"] == "acknowledged"
    assert body["acknowledged_by"] == "alice" and body["acknowledged_at"]
    assert_valid(body, "/api/v1/alert_groups/{id}/acknowledge/", "post", 200)
    refusals = [
        ("acknowledge", "Can't acknowledge an acknowledged alert group"),
        ("silence", "Can't silence an acknowledged alert group"),
        ("unsilence", "Can't unsilence an unsilenced alert group"),
        ("unresolve", "Can't unresolve an unresolved alert group"),
    ]
    for verb, message in refusals:
        kwargs: dict[str, Any] = {"json": {"delay": 60}} if verb == "silence" else {}
        assert await act(client, auth, gid, verb, **kwargs) == (400, {"detail": message})
    status, body = await act(client, auth, gid, "unacknowledge")
    assert status == 200 and body["state"] == "firing" and body["acknowledged_by"] is None
    message = "Can't unacknowledge an unacknowledged alert group"
    assert await act(client, auth, gid, "unacknowledge") == (400, {"detail": message})

    status, body = await act(client, auth, gid, "resolve")
    assert status == 200 and body["state"] == "resolved" and body["resolved_by"] == "alice"
    refusals = [
        ("resolve", "Can't resolve a resolved alert group"),
        ("acknowledge", "Can't acknowledge a resolved alert group"),
        ("unacknowledge", "Can't unacknowledge an unacknowledged alert group"),
        ("silence", "Can't silence a resolved alert group"),
        ("unsilence", "Can't unsilence an unsilenced alert group"),
    ]
    for verb, message in refusals:
        kwargs = {"json": {"delay": 60}} if verb == "silence" else {}
        status, body = await act(client, auth, gid, verb, **kwargs)
        assert (status, body) == (400, {"detail": message}), verb
    assert_valid(body, "/api/v1/alert_groups/{id}/unsilence/", "post", 400)
    status, body = await act(client, auth, gid, "unresolve")
    assert status == 200 and body["state"] == "firing" and body["resolved_at"] is None

    await act(client, auth, gid, "acknowledge")
    status, body = await act(client, auth, gid, "resolve")
    assert body["state"] == "resolved" and body["acknowledged_by"] == "alice"  # ack is kept
    message = "Can't unacknowledge a resolved alert group"
    assert await act(client, auth, gid, "unacknowledge") == (400, {"detail": message})
    status, body = await act(client, auth, gid, "unresolve")
    assert status == 200 and body["state"] == "firing"
    assert body["resolved_at"] is None and body["acknowledged_at"] is None


async def test_silence_delay_parsing_and_unsilence(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"})
    gid = (await only_group(client, auth))["id"]
    invalid = [
        ({}, "delay is required"),
        ({"delay": None}, "delay is required"),
        ({"delay": -2}, "invalid delay value"),
        ({"delay": "fuzz"}, "invalid delay value"),
        ({"delay": "60.5"}, "invalid delay value"),
        ({"delay": [1]}, "invalid delay value"),
        ({"delay": {"a": 1}}, "invalid delay value"),
        ({"delay": 10**12}, "invalid delay value"),
    ]
    for body, message in invalid:
        assert await act(client, auth, gid, "silence", json=body) == (400, {"detail": message})
    message = "Can't unsilence an unsilenced alert group"
    assert await act(client, auth, gid, "unsilence") == (400, {"detail": message})

    before = time.time()
    status, body = await act(client, auth, gid, "silence", json={"delay": 60.7})
    assert status == 200 and body["state"] == "silenced" and body["silenced_at"]
    until = datetime.fromisoformat(body["silenced_until"]).timestamp()
    assert before + 59 <= until <= time.time() + 61
    status, body = await act(client, auth, gid, "silence", data={"delay": "30"})  # form body
    assert status == 200 and body["state"] == "silenced"
    status, body = await act(client, auth, gid, "unsilence")
    assert status == 200 and body["state"] == "firing" and body["silenced_at"] is None
    for delay, forever in ((True, False), (-1, True), (0, True)):
        status, body = await act(client, auth, gid, "silence", json={"delay": delay})
        assert status == 200 and body["state"] == "silenced"
        assert (body["silenced_until"] is None) is forever
    status, body = await act(client, auth, gid, "acknowledge")
    assert status == 200 and body["state"] == "acknowledged" and body["silenced_at"] is None


async def test_expired_silence_reads_as_not_silenced(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"})
    gid = (await only_group(client, auth))["id"]
    await act(client, auth, gid, "silence", json={"delay": 1})
    assert [g["id"] for g in await list_groups(client, auth, state="silenced")] == [gid]
    await asyncio.sleep(1.05)  # the silence ends by time alone: no write marks it
    group = await get_json(client, GROUPS + gid, auth)
    assert group["state"] == "firing" and group["silenced_at"] is None
    assert await list_groups(client, auth, state="silenced") == []
    assert [g["id"] for g in await list_groups(client, auth, state="new")] == [gid]
    message = "Can't unsilence an unsilenced alert group"
    assert await act(client, auth, gid, "unsilence") == (400, {"detail": message})


async def test_attached_and_maintenance_groups(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration = await webhook(client, auth)
    url = f"/api/v1/integrations/{integration['id']}/"
    start = {"mode": "maintenance", "duration": 3600}
    resp = await client.post(url + "maintenance_start/", json=start, headers=auth)
    assert resp.status == 200
    await fire(client, settings, integration, {"k": "a"})
    groups = {g["title"]: g for g in await list_groups(client, auth)}
    name = integration["name"]
    maint, child = groups[f"Maintenance of {name} for 3600"]["id"], groups["Alert a"]["id"]
    refusals = [
        (child, "acknowledge", "Can't acknowledge an attached alert group"),
        (child, "silence", "Can't silence an attached alert group"),
        (child, "resolve", "Can't resolve an attached alert group"),
        (maint, "acknowledge", "Can't acknowledge a maintenance alert group"),
        (maint, "unacknowledge", "Can't unacknowledge an unacknowledged alert group"),
        (maint, "unresolve", "Can't unresolve an unresolved alert group"),
    ]
    for gid, verb, message in refusals:
        kwargs: dict[str, Any] = {"json": {"delay": 60}} if verb == "silence" else {}
        assert await act(client, auth, gid, verb, **kwargs) == (400, {"detail": message}), verb
    status, body = await act(client, auth, maint, "resolve")
    assert status == 200 and body["state"] == "resolved"
    assert (await get_json(client, url, auth))["maintenance_mode"] is None
    assert (await get_json(client, GROUPS + child, auth))["state"] == "resolved"
    message = "Can't unresolve a maintenance alert group"
    assert await act(client, auth, maint, "unresolve") == (400, {"detail": message})
    message = "Can't unresolve an attached alert group"
    assert await act(client, auth, child, "unresolve") == (400, {"detail": message})


async def test_actions_emit_events(client: Client, redis: Redis, settings: Settings) -> None:
    auth = await named_token(redis, "bob")
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"})
    gid = (await only_group(client, auth))["id"]
    before = len(await events(redis))
    for verb in ("acknowledge", "unacknowledge", "silence", "unsilence", "resolve", "unresolve"):
        kwargs: dict[str, Any] = {"json": {"delay": 60}} if verb == "silence" else {}
        assert (await act(client, auth, gid, verb, **kwargs))[0] == 200
    sent = (await events(redis))[before:]
    assert [e["type"] for e in sent] == [
        "alert_group_acknowledged", "alert_group_unacknowledged", "alert_group_silenced",
        "alert_group_unsilenced", "alert_group_resolved", "alert_group_unresolved",
    ]  # fmt: skip
    for event in sent:
        data = orjson.loads(event["data"])
        assert event["alert_group_id"] == gid and event["alert_id"] == ""
        assert event["integration_id"] == integration["id"] and event["org_id"] == "org1"
        assert data["actor"] == "bob"
        assert data["route_id"] == integration["default_route"]["id"]
        assert data["escalation_chain_id"] is None and data["escalate"] is False
    assert orjson.loads(sent[2]["data"])["silenced_until"].endswith("Z")
    assert orjson.loads(sent[5]["data"])["reopened"] is True
    failed = await act(client, auth, gid, "unresolve")
    assert failed[0] == 400 and len(await events(redis)) == before + 6


async def test_unresolve_reopens_the_group_for_grouping(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"})
    gid = (await only_group(client, auth))["id"]
    await act(client, auth, gid, "resolve")
    await act(client, auth, gid, "unresolve")
    await fire(client, settings, integration, {"k": "a"})
    group = await only_group(client, auth)
    assert group["id"] == gid and group["alerts_count"] == 2 and group["state"] == "firing"
    # a source resolve after a user resolve lands in the same group (its last resolved one)
    await act(client, auth, gid, "resolve")
    await fire(client, settings, integration, {"k": "a", "state": "ok"})
    group = await only_group(client, auth)
    assert group["alerts_count"] == 3 and group["resolved_by"] is not None


async def test_unresolve_does_not_steal_an_open_key(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"})
    first = (await only_group(client, auth))["id"]
    await act(client, auth, first, "resolve")
    await fire(client, settings, integration, {"k": "a"})
    second, old = await list_groups(client, auth)
    assert old["id"] == first and second["id"] != first
    await act(client, auth, first, "unresolve")
    await fire(client, settings, integration, {"k": "a"})
    newest, oldest = await list_groups(client, auth)
    assert newest["alerts_count"] == 2 and oldest["alerts_count"] == 1
    assert oldest["state"] == "firing"


async def test_filters(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    plain, teamed = await labelled_pair(client, auth)
    await fire(client, settings, plain, {"k": "p1", "env": "prod"}, {"k": "p2", "env": "dev"})
    await fire(client, settings, teamed, {"k": "t1", "env": "prod"})
    by_title = {g["title"]: g for g in await list_groups(client, auth)}
    ids = {title[-2:]: g["id"] for title, g in by_title.items()}

    async def titles(**params: Any) -> list[str]:
        return [g["title"][-2:] for g in await list_groups(client, auth, **params)]

    assert await titles() == ["t1", "p2", "p1"]
    assert await titles(id=ids["p2"]) == ["p2"]
    assert await titles(integration_id=plain["id"]) == ["p2", "p1"]
    assert await titles(integration_id="CNOPE") == []
    assert await titles(route_id=teamed["default_route"]["id"]) == ["t1"]
    assert await titles(route_id="impossible_route") == []
    assert await titles(team_id="T1") == ["t1"]
    assert await titles(team_id="null") == ["p2", "p1"]
    assert await titles(label="env:prod") == ["t1", "p1"]
    assert await titles(label=["env:prod", "a:b"]) == ["p1"]
    assert await titles(label=["a:b", "junk", "x:y:z"]) == ["p2", "p1"]
    await act(client, auth, ids["p1"], "acknowledge")
    await act(client, auth, ids["p2"], "silence", json={"delay": 0})
    assert await titles(state="new") == ["t1"]
    assert await titles(state="Acknowledged") == ["p1"]
    assert await titles(state="silenced") == ["p2"]
    await act(client, auth, ids["p1"], "resolve")
    assert await titles(state="resolved") == ["p1"]
    assert await titles(state="acknowledged") == []
    for word in ("unknown", "firing"):  # firing, the word groups show, is a 400 in OnCall too
        resp = await client.get(GROUPS, params={"state": word}, headers=auth)
        body = await resp.json()
        assert resp.status == 400
        assert body == {
            "state": "Must be one of the following: new, acknowledged, resolved, silenced"
        }  # OnCall's answer, a plain string
        assert body == {"state": STATE_MESSAGE}
        assert_valid(body, GROUPS, "get", 400)

    # started_at windows over real receipt times: tests/test_group_indexes.py
    assert await titles(started_at="") == ["t1", "p2", "p1"]
    good = "2020-01-01T00:00:00"
    for bad in (good, f"{good}Z_{good}", f"{good}.5_{good}", f"{good}_{good}_{good}",
                "2020-01-02T00:00:00_2020-01-01T00:00:00"):  # fmt: skip
        resp = await client.get(GROUPS, params={"started_at": bad}, headers=auth)
        assert (resp.status, await resp.json()) == (400, {"detail": "Invalid range value"}), bad


async def test_tenancy_and_scopes(
    client: Client, auth: dict[str, str], make_token: TokenFactory, settings: Settings
) -> None:
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"})
    gid = (await only_group(client, auth))["id"]
    other = await make_token(org="org2")
    assert await list_groups(client, other) == []
    resp = await client.get(GROUPS + gid, headers=other)
    assert (resp.status, await resp.json()) == (404, {"detail": "Not found."})
    assert_valid(await resp.json(), DETAIL, "get", 404)
    for verb in ("acknowledge", "resolve", "silence"):
        assert (await act(client, other, gid, verb, json={"delay": 1}))[0] == 404
    assert (await client.delete(GROUPS + gid, headers=other)).status == 404
    assert (await act(client, auth, "INOPE", "acknowledge"))[0] == 404

    reader = await make_token(scopes=["alert_groups:read"])
    assert len(await list_groups(client, reader)) == 1
    for verb in ("acknowledge", "unacknowledge", "resolve", "unresolve", "silence", "unsilence"):
        status, body = await act(client, reader, gid, verb)
        assert status == 403 and "lacks the 'alert_groups:write' scope" in body["detail"]
    resp = await client.delete(GROUPS + gid, headers=reader)
    assert resp.status == 403
    writer_only = await make_token(scopes=["integrations:read"])
    assert (await client.get(GROUPS, headers=writer_only)).status == 403
    resp = await client.get(GROUPS)
    assert resp.status == 401
    assert (await only_group(client, auth))["state"] == "firing"


async def test_unmapped_methods_are_405(client: Client, auth: dict[str, str]) -> None:
    resp = await client.post(GROUPS, json={}, headers=auth)
    assert resp.status == 405 and (await resp.json())["detail"] == 'Method "POST" not allowed.'
    resp = await client.get(GROUPS + "IX/acknowledge", headers=auth)
    assert resp.status == 405


async def test_action_outcomes_keep_refusal_text_apart_from_their_detail(
    client: Client, auth: dict[str, str], settings: Settings, redis: Redis
) -> None:
    """Code reads ``Outcome.detail`` (a closed set); ``message`` is only ever text for people."""
    gid = await one_fired_group(client, auth, settings)

    async def apply(action: Action) -> Outcome:
        group = await store_groups.get_group(redis, gid)
        assert group is not None
        return await domain_groups.act(redis, group, action, "alice", time.time())

    assert await apply("resolve") == Outcome("ok")
    assert await apply("resolve") == Outcome("refused", "Can't resolve a resolved alert group")
    assert await apply("unresolve") == Outcome("ok", detail="reopened")
    group = await store_groups.get_group(redis, gid)
    assert group is not None
    wiped = await domain_groups.wipe(redis, group, "alice", time.time())
    assert wiped == Outcome("ok", detail="resolved")
