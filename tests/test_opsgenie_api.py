"""Opsgenie Alert API (``/v2/alerts`` create, close, acknowledge, message/description updates,
and the opsgenie link): every rule and answer, against a real Redis and a real worker."""

from __future__ import annotations

import re
import uuid
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.api.errors import RETRY_AFTER_UNAVAILABLE
from ingest.embedded_redis import EmbeddedRedis
from ingest.settings import Settings
from tests.conftest import AiohttpClient
from tests.queue_helpers import queued_jobs
from tests.test_links_durability import enqueue_failures, setup_link
from tests.test_pagerduty_api import make, state
from tests.worker_helpers import all_groups, drain, group_alerts

Client = TestClient[Any, Any]


def genie(key: str) -> dict[str, str]:
    return {"Authorization": f"GenieKey {key}", "Content-Type": "application/json"}


async def call(
    client: Client, key: str, body: Any, path: str = "/v2/alerts", method: str = "POST"
) -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    resp = await client.request(method, path, data=raw, headers=genie(key))
    answer = await resp.json()
    assert answer["requestId"] == resp.headers["X-Request-ID"]
    assert uuid.UUID(answer["requestId"]) and isinstance(answer["took"], float)
    return resp.status, answer


def accepted(answer: tuple[int, Any]) -> bool:
    return answer[0] == 202 and answer[1]["result"] == "Request will be processed"


async def test_create_is_queued_with_action_alias_and_priority(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    og = await make(client, auth, "opsgenie")
    body = {"message": "CPU high", "alias": "cpu-h1", "details": {"host": "h1"}}
    assert accepted(await call(client, og["token"], body))
    [job] = await queued_jobs(redis)
    assert job["integration_id"] == og["id"]
    assert job["payload"] == {**body, "action": "create", "priority": "P3"}


async def test_create_without_alias_gets_a_unique_one(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    og = await make(client, auth, "opsgenie")
    for _ in range(2):
        assert accepted(await call(client, og["token"], {"message": "m"}))
    aliases = [j["payload"]["alias"] for j in await queued_jobs(redis)]
    assert len(set(aliases)) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", a) for a in aliases)


async def test_overlong_and_untidy_fields_are_normalised_not_refused(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    og = await make(client, auth, "opsgenie")
    body = {
        "message": "m" * 200,
        "description": "d" * 20000,
        "tags": ["a", " b", "", "  "] + [f"t{i}" for i in range(30)],
        "actions": ["x" * 80],
        "details": {"count": 3, "ok": True, "text": "s"},
        "priority": "p1",
        "source": "http://am/" + "s" * 3000,
    }
    assert accepted(await call(client, og["token"], body))
    [job] = await queued_jobs(redis)
    payload = job["payload"]
    assert len(payload["message"]) == 130 and len(payload["description"]) == 15000
    assert payload["tags"][:3] == ["a", "b", "t0"] and len(payload["tags"]) == 20
    assert payload["actions"] == ["x" * 50]
    assert payload["details"] == {"count": "3", "ok": "true", "text": "s"}
    assert payload["priority"] == "P1" and len(payload["source"]) == 2048


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "message"),
        ({"message": ""}, "message"),
        ({"message": "  "}, "message"),
        ({"message": 5}, "message"),
        ({"message": "m", "alias": 3}, "alias"),
        ({"message": "m", "tags": "a,b"}, "tags"),
        ({"message": "m", "tags": [1]}, "tags"),
        ({"message": "m", "details": ["x"]}, "details"),
        ({"message": "m", "responders": {"type": "team"}}, "responders"),
        ({"message": "m", "priority": 1}, "priority"),
        ([{"message": "m"}], "body"),
    ],
)
async def test_semantic_errors_are_422_naming_the_field(
    client: Client, auth: dict[str, str], redis: Redis, body: Any, field: str
) -> None:
    og = await make(client, auth, "opsgenie")
    status, answer = await call(client, og["token"], body)
    assert status == 422
    assert answer["message"] == "Request body is not processable. Please check the errors."
    assert list(answer["errors"]) == [field]
    assert await queued_jobs(redis) == []


async def test_unparsable_json_is_400(client: Client, auth: dict[str, str]) -> None:
    og = await make(client, auth, "opsgenie")
    status, answer = await call(client, og["token"], b'{"message": ')
    assert status == 400 and answer["message"].startswith("Invalid JSON body")


@pytest.mark.parametrize(
    "authorization", [None, "", "GenieKey", "Bearer {key}", "GenieKey NoSuchKey123", "{key}"]
)
async def test_missing_or_unknown_key_is_401(
    client: Client, auth: dict[str, str], redis: Redis, authorization: str | None
) -> None:
    og = await make(client, auth, "opsgenie")
    headers = (
        {} if authorization is None else {"Authorization": authorization.format(key=og["token"])}
    )
    for path in ("/v2/alerts", "/v2/alerts/a1/close?identifierType=alias"):
        resp = await client.post(path, json={"message": "m"}, headers=headers)
        assert resp.status == 401
        answer = await resp.json()
        assert answer["message"].startswith("Could not authenticate") and "requestId" in answer
    assert await queued_jobs(redis) == []


async def test_key_of_another_type_is_401(client: Client, auth: dict[str, str]) -> None:
    webhook = await make(client, auth, "webhook")
    status, _ = await call(client, webhook["token"], {"message": "m"})
    assert status == 401


async def test_scheme_is_case_insensitive(client: Client, auth: dict[str, str]) -> None:
    og = await make(client, auth, "opsgenie")
    resp = await client.post(
        "/v2/alerts", json={"message": "m"}, headers={"Authorization": f"geniekey {og['token']}"}
    )
    assert resp.status == 202


@pytest.mark.parametrize("action", ["close", "acknowledge"])
async def test_action_by_alias_is_queued_even_for_an_unknown_alias(
    client: Client, auth: dict[str, str], redis: Redis, action: str
) -> None:
    og = await make(client, auth, "opsgenie")
    path = f"/v2/alerts/never-seen/{action}?identifierType=alias"
    assert accepted(await call(client, og["token"], {"source": "am", "note": "n", "x": 1}, path))
    [job] = await queued_jobs(redis)
    assert job["payload"] == {"action": action, "alias": "never-seen", "source": "am", "note": "n"}


@pytest.mark.parametrize("id_type", [None, "id", "tiny"])
async def test_action_by_unknown_id_is_accepted_and_does_nothing(
    client: Client, auth: dict[str, str], redis: Redis, id_type: str | None
) -> None:
    og = await make(client, auth, "opsgenie")
    query = f"?identifierType={id_type}" if id_type else ""
    assert accepted(await call(client, og["token"], {}, f"/v2/alerts/INOSUCHGROUP/close{query}"))
    assert await queued_jobs(redis) == []


async def test_bad_identifier_type_is_422(client: Client, auth: dict[str, str]) -> None:
    og = await make(client, auth, "opsgenie")
    status, answer = await call(client, og["token"], {}, "/v2/alerts/a/close?identifierType=name")
    assert status == 422 and list(answer["errors"]) == ["identifierType"]


async def test_updates_need_their_field_except_an_empty_description(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    og = await make(client, auth, "opsgenie")
    base = "/v2/alerts/a1/{}?identifierType=alias"
    status, answer = await call(client, og["token"], {}, base.format("message"), "PUT")
    assert status == 422 and list(answer["errors"]) == ["message"]
    status, answer = await call(client, og["token"], {"message": 1}, base.format("message"), "PUT")
    assert status == 422
    assert accepted(await call(client, og["token"], {}, base.format("description"), "PUT"))
    new = {"message": "new text"}
    assert accepted(await call(client, og["token"], new, base.format("message"), "PUT"))
    payloads = [j["payload"] for j in await queued_jobs(redis)]
    assert payloads == [
        {"description": "", "action": "description", "alias": "a1"},
        {"message": "new text", "action": "message", "alias": "a1"},
    ]


async def test_other_actions_are_not_found(client: Client, auth: dict[str, str]) -> None:
    og = await make(client, auth, "opsgenie")
    resp = await client.post("/v2/alerts/a1/snooze", json={}, headers=genie(og["token"]))
    assert resp.status == 404
    resp = await client.put("/v2/alerts/a1/close", json={}, headers=genie(og["token"]))
    assert resp.status == 405


async def test_rate_limit_is_429_with_retry_after(client: Client, auth: dict[str, str]) -> None:
    og = await make(client, auth, "opsgenie", rate_limit="1/1m")
    assert accepted(await call(client, og["token"], {"message": "m"}))
    resp = await client.post("/v2/alerts", json={"message": "m"}, headers=genie(og["token"]))
    assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60
    assert "Rate limit of this integration" in (await resp.json())["message"]


async def test_native_link_takes_a_create(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    og = await make(client, auth, "opsgenie")
    resp = await client.post(og["path"], json={"message": "via link", "alias": "l1"})
    assert resp.status == 202
    [job] = await queued_jobs(redis)
    assert job["payload"]["alias"] == "l1" and job["payload"]["action"] == "create"
    resp = await client.post(og["path"], json={"alias": "l2"})
    assert resp.status == 422


async def test_new_integration_has_the_expected_labels(
    client: Client, auth: dict[str, str]
) -> None:
    og = await make(client, auth, "opsgenie")
    assert [lb["key"]["name"] for lb in og["dynamic_labels"]] == ["priority", "tags", "entity"]


async def test_create_update_ack_close_create_gives_two_groups(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    og = await make(client, auth, "opsgenie")
    key = og["token"]
    create = {
        "message": "CPU high on h1",
        "alias": "cpu-h1",
        "tags": ["prod", "cpu"],
        "entity": "h1",
        "priority": "P2",
        "source": "http://am:9093/#/alerts?receiver=og",
    }
    by_alias = "/v2/alerts/cpu-h1/{}?identifierType=alias"
    assert accepted(await call(client, key, create))
    update = {"message": "CPU very high"}  # processed beside the create: waits for its group
    assert accepted(await call(client, key, update, by_alias.format("message"), "PUT"))
    await drain(settings)
    [group] = await all_groups(redis)
    assert (state(group), group["title"], group["alerts_count"]) == (
        "firing",
        "CPU high on h1",
        "2",
    )
    labels = {lb["key"]: lb["value"] for lb in orjson.loads(group["labels"])}
    assert labels == {"priority": "P2", "tags": "prod,cpu", "entity": "h1"}
    newest = (await group_alerts(redis, group["id"]))[0]
    assert newest["payload"]["message"] == "CPU very high"

    # acknowledge by the group's id: applied through its alias
    assert accepted(await call(client, key, {}, f"/v2/alerts/{group['id']}/acknowledge"))
    await drain(settings)
    assert [state(g) for g in await all_groups(redis)] == ["acknowledged"]
    assert accepted(await call(client, key, {"source": "am"}, by_alias.format("close")))
    await drain(settings)
    assert [state(g) for g in await all_groups(redis)] == ["resolved"]
    # closing it again by id changes nothing; a new create opens a new group
    assert accepted(
        await call(client, key, {}, f"/v2/alerts/{group['id']}/close?identifierType=tiny")
    )
    assert await queued_jobs(redis) == []
    assert accepted(await call(client, key, create))
    await drain(settings)
    assert [state(g) for g in await all_groups(redis)] == ["resolved", "firing"]


async def test_id_of_another_integrations_group_does_nothing(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    first = await make(client, auth, "opsgenie")
    second = await make(client, auth, "opsgenie")
    assert accepted(await call(client, first["token"], {"message": "m", "alias": "a"}))
    await drain(settings)
    [group] = await all_groups(redis)
    path = f"/v2/alerts/{group['id']}/close"
    assert accepted(await call(client, second["token"], {}, path))
    assert await queued_jobs(redis) == []


async def test_actions_on_an_unknown_alias_open_no_group(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    og = await make(client, auth, "opsgenie")
    for action, method in (("close", "POST"), ("acknowledge", "POST"), ("message", "PUT")):
        path = f"/v2/alerts/nobody/{action}?identifierType=alias"
        assert accepted(await call(client, og["token"], {"message": "m"}, path, method))
    await drain(settings)
    assert await all_groups(redis) == []
    assert await queued_jobs(redis) == []


async def test_redis_down_answers_opsgenies_503_and_counts_each_failure(
    aiohttp_client: AiohttpClient, own_redis_server: EmbeddedRedis
) -> None:
    client, link, redis = await setup_link(aiohttp_client, own_redis_server, "opsgenie")
    cached = link.rstrip("/").rsplit("/", 1)[1]
    assert accepted(await call(client, cached, {"message": "m"}))  # the link cache knows it
    _, never_looked_up, _ = await setup_link(aiohttp_client, own_redis_server, "opsgenie")
    uncached = never_looked_up.rstrip("/").rsplit("/", 1)[1]
    own_redis_server.stop()
    failures = enqueue_failures()
    calls = [
        (cached, "/v2/alerts", "POST"),  # the enqueue fails
        (uncached, "/v2/alerts", "POST"),  # the key's lookup fails
        (cached, "/v2/alerts/123/close", "POST"),  # the group's lookup fails
        (cached, "/v2/alerts/a/message?identifierType=alias", "PUT"),
        (cached, link, "POST"),
        (uncached, never_looked_up, "POST"),
    ]
    for key, path, method in calls:
        resp = await client.request(method, path, json={"message": "m"}, headers=genie(key))
        status, answer = resp.status, await resp.json()
        assert status == 503, path
        assert answer.pop("requestId") == resp.headers["X-Request-ID"], path
        assert isinstance(answer.pop("took"), float), path
        assert answer == {"message": "Temporarily unable to accept requests; retry later."}, path
        assert resp.headers["Retry-After"] == RETRY_AFTER_UNAVAILABLE, path
    assert enqueue_failures() == failures + len(calls)
    own_redis_server.start()
    assert accepted(await call(client, cached, {"message": "m"}))
    await redis.aclose()
