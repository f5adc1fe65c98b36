"""PagerDuty Events API v2 (``/v2/enqueue``, ``/v2/change/enqueue``, the pagerduty link): every
rule and answer, against a real Redis, and through a real worker into groups."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.api.errors import RETRY_AFTER_UNAVAILABLE
from ingest.embedded_redis import EmbeddedRedis
from ingest.settings import Settings
from ingest.store.change_events import ChangeEvents
from tests.conftest import AiohttpClient
from tests.queue_helpers import queued_jobs
from tests.test_links_durability import enqueue_failures, setup_link
from tests.worker_helpers import all_groups, drain

Client = TestClient[Any, Any]


async def make(client: Client, auth: dict[str, str], kind: str = "pagerduty", **extra: Any) -> Any:
    resp = await client.post("/api/v1/integrations/", json={"type": kind, **extra}, headers=auth)
    data = await resp.json()
    assert resp.status == 201, data
    data["token"] = data["link"].rstrip("/").rsplit("/", 1)[1]
    data["path"] = re.sub(r"^http://testserver", "", data["link"])
    return data


def trigger(key: str, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": "disk-h1",
        "payload": {"summary": "Disk full on h1", "source": "h1", "severity": "error"},
    }
    return {**event, **extra}


async def post(client: Client, body: Any, path: str = "/v2/enqueue") -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    resp = await client.post(path, data=raw, headers={"Content-Type": "application/json"})
    return resp.status, await resp.json()


async def test_trigger_is_queued_without_its_routing_key(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    pd = await make(client, auth)
    status, body = await post(client, trigger(pd["token"], client_url="http://prom/x"))
    assert (status, body) == (
        202,
        {"status": "success", "message": "Event processed", "dedup_key": "disk-h1"},
    )
    [job] = await queued_jobs(redis)
    assert job["integration_id"] == pd["id"]
    assert "routing_key" not in job["payload"]
    assert job["payload"]["dedup_key"] == "disk-h1"
    assert job["payload"]["client_url"] == "http://prom/x"


async def test_trigger_without_dedup_key_gets_one_and_is_told(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    pd = await make(client, auth)
    event = trigger(pd["token"])
    del event["dedup_key"]
    _, first = await post(client, event)
    _, second = await post(client, {**event, "dedup_key": ""})
    assert re.fullmatch(r"[0-9a-f]{32}", first["dedup_key"])
    assert first["dedup_key"] != second["dedup_key"]
    jobs = await queued_jobs(redis)
    assert [j["payload"]["dedup_key"] for j in jobs] == [first["dedup_key"], second["dedup_key"]]


async def test_alertmanager_body_with_escapes_and_newline(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    pd = await make(client, auth)
    raw = (
        b'{"routing_key":"' + pd["token"].encode() + b'","dedup_key":"9f2a","event_action":'
        b'"trigger","payload":{"summary":"[FIRING:1] a \\u003c b \\u0026 c ","source":'
        b'"Alertmanager","severity":"error","custom_details":{"num_firing":"1"}},'
        b'"client":"Alertmanager","client_url":"http://am:9093/#/alerts?receiver=pd"}\n'
    )
    status, _ = await post(client, raw)
    assert status == 202
    [job] = await queued_jobs(redis)
    assert job["payload"]["payload"]["summary"] == "[FIRING:1] a < b & c "


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
async def test_acknowledge_and_resolve_of_unknown_key_are_accepted(
    client: Client, auth: dict[str, str], action: str
) -> None:
    pd = await make(client, auth)
    body = {"routing_key": pd["token"], "event_action": action, "dedup_key": "never-seen"}
    assert await post(client, body) == (
        202,
        {"status": "success", "message": "Event processed", "dedup_key": "never-seen"},
    )


INVALID_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("no event_action", {"event_action": None}, "'event_action' must be one of"),
    ("bad event_action", {"event_action": "explode"}, "'event_action' must be one of"),
    ("no payload", {"payload": None}, "'payload' is missing"),
    ("payload not object", {"payload": "x"}, "'payload' must be an object"),
    (
        "no summary",
        {"payload": {"source": "h", "severity": "info"}},
        "'payload.summary' is missing",
    ),
    (
        "blank summary",
        {"payload": {"summary": " ", "source": "h", "severity": "info"}},
        "'payload.summary' is missing or blank",
    ),
    (
        "summary too long",
        {"payload": {"summary": "x" * 1025, "source": "h", "severity": "info"}},
        "'payload.summary' is longer than 1024 characters",
    ),
    ("no source", {"payload": {"summary": "s", "severity": "info"}}, "'payload.source' is missing"),
    (
        "bad severity",
        {"payload": {"summary": "s", "source": "h", "severity": "high"}},
        "'payload.severity' must be one of critical, error, warning, info",
    ),
    (
        "bad timestamp",
        {"payload": {"summary": "s", "source": "h", "severity": "info", "timestamp": "noon"}},
        "'payload.timestamp' must be an ISO 8601 date-time",
    ),
    (
        "component not a string",
        {"payload": {"summary": "s", "source": "h", "severity": "info", "component": 3}},
        "'payload.component' must be a string",
    ),
    (
        "custom_details not an object",
        {"payload": {"summary": "s", "source": "h", "severity": "info", "custom_details": [1]}},
        "'payload.custom_details' must be an object",
    ),
    ("dedup_key too long", {"dedup_key": "k" * 256}, "'dedup_key' is longer than 255 characters"),
    ("dedup_key not a string", {"dedup_key": 7}, "'dedup_key' must be a string"),
    ("images not a list", {"images": {"src": "https://i"}}, "'images' must be an array"),
    ("image without src", {"images": [{"alt": "a"}]}, "'images[0].src' is missing"),
    (
        "image over http",
        {"images": [{"src": "http://i/x.png"}]},
        "'images[0].src' must be an HTTPS",
    ),
    ("link without href", {"links": [{"text": "t"}]}, "'links[0].href' is missing"),
    ("link not an object", {"links": ["http://x"]}, "'links[0]' must be an object"),
    ("client_url not a string", {"client_url": 5}, "'client_url' must be a string"),
    ("routing_key missing", {"routing_key": None}, "'routing_key' is missing or blank"),
    ("routing_key not a string", {"routing_key": 12}, "'routing_key' must be a string"),
]


@pytest.mark.parametrize(
    ("change", "reason"), [c[1:] for c in INVALID_CASES], ids=[c[0] for c in INVALID_CASES]
)
async def test_invalid_events_are_400_naming_the_field(
    client: Client, auth: dict[str, str], redis: Redis, change: dict[str, Any], reason: str
) -> None:
    pd = await make(client, auth)
    event = {k: v for k, v in {**trigger(pd["token"]), **change}.items() if v is not None}
    status, body = await post(client, event)
    assert status == 400
    assert body["status"] == "invalid event"
    assert body["message"] == "Event object is invalid"
    assert any(e.startswith(reason) for e in body["errors"]), body["errors"]
    assert await queued_jobs(redis) == []


async def test_resolve_needs_a_dedup_key_but_no_payload(
    client: Client, auth: dict[str, str]
) -> None:
    pd = await make(client, auth)
    status, body = await post(client, {"routing_key": pd["token"], "event_action": "resolve"})
    assert status == 400
    assert body["errors"] == ["'dedup_key' is missing or blank"]


async def test_every_error_is_reported_at_once(client: Client, auth: dict[str, str]) -> None:
    pd = await make(client, auth)
    body = {"routing_key": pd["token"], "event_action": "trigger", "payload": {"severity": "x"}}
    _, answer = await post(client, body)
    assert len(answer["errors"]) == 3  # summary, source, severity


async def test_timestamps_as_pagerduty_documents_them(client: Client, auth: dict[str, str]) -> None:
    pd = await make(client, auth)
    for stamp in ("2015-07-17T08:42:58.315+0000", "2015-07-17T08:42:58Z"):
        event = trigger(pd["token"])
        event["payload"]["timestamp"] = stamp
        assert (await post(client, event))[0] == 202


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"", b"null"])
async def test_a_body_that_is_no_object_is_unrecognized(client: Client, raw: bytes) -> None:
    status, body = await post(client, raw)
    assert status == 400
    assert body == {
        "status": "Unrecognized object",
        "message": "Event object format is unrecognized",
        "errors": ["JSON parse error"],
    }


async def test_oversized_event_is_400(client: Client, auth: dict[str, str]) -> None:
    pd = await make(client, auth)
    event = trigger(pd["token"])
    event["payload"]["custom_details"] = {"blob": "x" * 600_000}
    status, body = await post(client, event)
    assert status == 400
    assert body["errors"] == ["Event is larger than 524288 bytes"]


async def test_unknown_or_foreign_routing_key_is_400(client: Client, auth: dict[str, str]) -> None:
    webhook = await make(client, auth, "webhook")
    status, body = await post(client, trigger("NoSuchKey0123456789"))
    assert (status, body["errors"]) == (400, ["'routing_key' is not the key of any integration"])
    status, body = await post(client, trigger(webhook["token"]))
    assert (status, body["errors"]) == (400, ["'routing_key' is the key of a Webhook integration"])


async def test_deleted_integration_key_stops_at_once(client: Client, auth: dict[str, str]) -> None:
    pd = await make(client, auth)
    assert (await post(client, trigger(pd["token"])))[0] == 202  # cached now
    await client.delete(f"/api/v1/integrations/{pd['id']}", headers=auth)
    status, body = await post(client, trigger(pd["token"]))
    assert (status, body["status"]) == (400, "invalid event")


async def test_rate_limit_is_429_with_retry_after(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    pd = await make(client, auth, rate_limit="2/1m")
    assert [(await post(client, trigger(pd["token"])))[0] for _ in range(2)] == [202, 202]
    resp = await client.post("/v2/enqueue", json=trigger(pd["token"]))
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    body = await resp.json()
    assert body["status"] == "throttle event" and "integration" in body["errors"][0]
    assert len(await queued_jobs(redis)) == 2


async def test_native_link_takes_the_same_body(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    pd = await make(client, auth)
    event = trigger(pd["token"])
    del event["routing_key"]
    status, body = await post(client, event, pd["path"])
    assert (status, body["dedup_key"]) == (202, "disk-h1")
    status, body = await post(client, {**event, "event_action": "pause"}, pd["path"])
    assert status == 400 and body["status"] == "invalid event"
    assert len(await queued_jobs(redis)) == 1


async def test_native_link_checks_token_and_type(client: Client, auth: dict[str, str]) -> None:
    webhook = await make(client, auth, "webhook")
    resp = await client.post(f"/integrations/v1/pagerduty/{webhook['token']}/", json={})
    assert resp.status == 400
    assert await resp.text() == "This url is for integration with PagerDuty. Key is for Webhook."
    resp = await client.post("/integrations/v1/pagerduty/NoSuchToken123/", json={})
    assert resp.status == 403
    pd = await make(client, auth)
    resp = await client.post(f"/integrations/v1/webhook/{pd['token']}/", json={})
    assert await resp.text() == "This url is for integration with Webhook. Key is for PagerDuty."


async def test_change_event_is_stored_on_the_integration_not_queued(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    pd = await make(client, auth)
    change = {
        "routing_key": pd["token"],
        "payload": {"summary": "Deployed v2", "source": "ci", "custom_details": {"sha": "abc"}},
        "links": [{"href": "https://ci/1", "text": "build"}],
    }
    status, body = await post(client, change, "/v2/change/enqueue")
    assert (status, body) == (202, {"status": "success", "message": "Change event processed"})
    assert await queued_jobs(redis) == []
    [stored] = await ChangeEvents(redis).recent(pd["id"])
    assert stored["payload"]["summary"] == "Deployed v2"
    assert stored["links"] == change["links"]
    assert "routing_key" not in stored and isinstance(stored["received_at"], float)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"payload": None}, "'payload' is missing"),
        ({"payload": {"source": "ci"}}, "'payload.summary' is missing or blank"),
        ({"payload": {"summary": "s" * 1025}}, "'payload.summary' is longer than 1024"),
        ({"payload": {"summary": "s", "timestamp": "x"}}, "'payload.timestamp' must be an ISO"),
        ({"routing_key": None}, "'routing_key' is missing or blank"),
        ({"routing_key": "NoSuchKey"}, "'routing_key' is not the key of any integration"),
    ],
)
async def test_invalid_change_events_are_400(
    client: Client, auth: dict[str, str], change: dict[str, Any], reason: str
) -> None:
    pd = await make(client, auth)
    body = {"routing_key": pd["token"], "payload": {"summary": "Deployed"}, **change}
    status, answer = await post(
        client, {k: v for k, v in body.items() if v is not None}, "/v2/change/enqueue"
    )
    assert status == 400
    assert any(e.startswith(reason) for e in answer["errors"]), answer["errors"]


async def test_change_events_are_rate_limited_too(client: Client, auth: dict[str, str]) -> None:
    pd = await make(client, auth, rate_limit="1/1m")
    change = {"routing_key": pd["token"], "payload": {"summary": "Deployed"}}
    assert (await post(client, change, "/v2/change/enqueue"))[0] == 202
    resp = await client.post("/v2/change/enqueue", json=change)
    assert resp.status == 429 and "Retry-After" in resp.headers


async def test_new_integration_has_the_expected_labels(
    client: Client, auth: dict[str, str]
) -> None:
    pd = await make(client, auth)
    keys = [label["key"]["name"] for label in pd["dynamic_labels"]]
    assert keys == ["severity", "source", "component", "group", "class"]
    own = await make(client, auth, dynamic_labels=[])
    assert own["dynamic_labels"] == []


def state(group: dict[str, str]) -> str:
    if group.get("resolved_at"):
        return "resolved"
    return "acknowledged" if group.get("acknowledged_at") else "firing"


async def test_trigger_ack_resolve_trigger_gives_two_groups(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    pd = await make(client, auth)
    key = pd["token"]
    event = trigger(key, client_url="http://prom/graph")
    event["payload"].update(component="disk", group="prod", custom_details={"free": "1%"})
    ack = {"routing_key": key, "dedup_key": "disk-h1"}
    steps = [
        (event, ["firing"]),
        (trigger(key), ["firing"]),
        ({**ack, "event_action": "acknowledge"}, ["acknowledged"]),
        ({**ack, "event_action": "resolve"}, ["resolved"]),
        (trigger(key), ["resolved", "firing"]),
    ]  # fmt: skip
    for body, states in steps:
        assert (await post(client, body))[0] == 202
        await drain(settings)
        assert [state(g) for g in await all_groups(redis)] == states
    first, second = await all_groups(redis)
    assert first["title"] == "Disk full on h1"
    assert first["alerts_count"] == "4" and second["alerts_count"] == "1"
    labels = {lb["key"]: lb["value"] for lb in orjson.loads(first["labels"])}
    assert labels == {"severity": "error", "source": "h1", "component": "disk", "group": "prod"}
    resp = await client.get(f"/api/v1/alert_groups/{first['id']}", headers=auth)
    assert (await resp.json())["resolved_by"] is None  # by the source


async def test_acknowledge_and_resolve_without_an_open_group_are_dropped(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    pd = await make(client, auth)
    key = pd["token"]
    for action in ("acknowledge", "resolve"):
        body = {"routing_key": key, "event_action": action, "dedup_key": "never-seen"}
        assert (await post(client, body))[0] == 202
    await drain(settings)
    assert await all_groups(redis) == []
    assert (await post(client, trigger(key)))[0] == 202
    assert (await post(client, {**trigger(key), "event_action": "resolve"}))[0] == 202
    await drain(settings)
    # after the resolve, an acknowledge of the same key neither reopens nor opens a group
    assert (await post(client, {**trigger(key), "event_action": "acknowledge"}))[0] == 202
    await drain(settings)
    [group] = await all_groups(redis)
    assert state(group) == "resolved" and group["alerts_count"] == "2"


PD_UNAVAILABLE = {
    "status": "unavailable",
    "message": "Temporarily unable to accept events; retry later.",
}


async def test_redis_down_answers_pagerdutys_503_and_counts_each_failure(
    aiohttp_client: AiohttpClient, own_redis_server: EmbeddedRedis
) -> None:
    client, link, redis = await setup_link(aiohttp_client, own_redis_server, "pagerduty")
    cached = link.rstrip("/").rsplit("/", 1)[1]
    assert (await post(client, trigger(cached)))[0] == 202  # the link cache now knows ``cached``
    _, never_looked_up, _ = await setup_link(aiohttp_client, own_redis_server, "pagerduty")
    uncached = never_looked_up.rstrip("/").rsplit("/", 1)[1]
    change = {"routing_key": cached, "payload": {"summary": "Deployed v2"}}
    own_redis_server.stop()
    failures = enqueue_failures()
    posts = [
        ("/v2/enqueue", trigger(cached)),  # the enqueue fails
        ("/v2/enqueue", trigger(uncached)),  # the key's lookup fails
        ("/v2/change/enqueue", change),
        (link, trigger(cached)),
        (never_looked_up, trigger(uncached)),
    ]
    for path, body in posts:
        resp = await client.post(path, json=body)
        assert (resp.status, await resp.json()) == (503, PD_UNAVAILABLE), path
        assert resp.headers["Retry-After"] == RETRY_AFTER_UNAVAILABLE, path
    assert enqueue_failures() == failures + len(posts)
    own_redis_server.start()
    assert (await post(client, trigger(cached)))[0] == 202
    await redis.aclose()
