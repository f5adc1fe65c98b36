"""Regressions from schemathesis (``test_fuzz_api``): the document says what the API accepts.

Each case is input the API answers with success, which the OpenAPI document used to call invalid,
or input the document calls invalid that the API used to accept.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from redis.asyncio import Redis

from ingest.api.openapi import document
from ingest.settings import Settings
from tests.fuzz_helpers import assert_clear_error, make_integration, post_raw
from tests.worker_helpers import all_groups, drain

Client = TestClient[Any, Any]


def validates(schema_name: str, value: Any) -> bool:
    doc = document()
    schema = {**doc["components"]["schemas"][schema_name], "components": doc["components"]}
    return bool(Draft202012Validator(schema).is_valid(value))


def query_schema(path: str, name: str) -> dict[str, Any]:
    params = document()["paths"][path]["get"]["parameters"]
    schema: dict[str, Any] = next(p["schema"] for p in params if p["name"] == name)
    return schema


async def new_group(client: Client, auth: dict[str, str], settings: Settings, redis: Redis) -> str:
    _, link = await make_integration(client, auth)
    assert (await client.post(link, json={"title": "x"})).status == 200
    await drain(settings)
    return (await all_groups(redis))[-1]["id"]


@pytest.mark.parametrize("delay", [True, False, "30", " 30 ", 60.7, -1.5, -1, 0])
async def test_silence_delays_the_api_accepts_are_documented(
    client: Client, auth: dict[str, str], settings: Settings, redis: Redis, delay: Any
) -> None:
    group_id = await new_group(client, auth, settings, redis)
    resp = await client.post(
        f"/api/v1/alert_groups/{group_id}/silence/", json={"delay": delay}, headers=auth
    )
    assert resp.status == 200, await resp.text()
    assert validates("SilenceInput", {"delay": delay})


@pytest.mark.parametrize("delay", [None, [1], {"a": 1}, -2, -2.5, 10**12])
async def test_silence_delays_the_document_refuses_are_refused(
    client: Client, auth: dict[str, str], settings: Settings, redis: Redis, delay: Any
) -> None:
    group_id = await new_group(client, auth, settings, redis)
    resp = await client.post(
        f"/api/v1/alert_groups/{group_id}/silence/", json={"delay": delay}, headers=auth
    )
    assert resp.status == 400, await resp.text()
    assert not validates("SilenceInput", {"delay": delay})


async def test_delete_mode_null_is_documented_as_wipe(
    client: Client, auth: dict[str, str], settings: Settings, redis: Redis
) -> None:
    group_id = await new_group(client, auth, settings, redis)
    resp = await client.delete(
        f"/api/v1/alert_groups/{group_id}/", json={"mode": None}, headers=auth
    )
    assert resp.status == 204
    assert validates("DeleteGroupInput", {"mode": None})
    assert not validates("DeleteGroupInput", {"mode": "nope"})


@pytest.mark.parametrize("name", ["page", "perpage"])
async def test_lenient_paging_values_are_documented(
    client: Client, auth: dict[str, str], name: str
) -> None:
    for value in ("null", "-3", "x"):
        resp = await client.get("/api/v1/integrations/", params={name: value}, headers=auth)
        assert resp.status == 200
        schema = query_schema("/api/v1/integrations/", name)
        assert Draft202012Validator(schema).is_valid(value)


async def test_whitespace_is_not_an_empty_json_body(
    client: Client, auth: dict[str, str], settings: Settings, redis: Redis
) -> None:
    """Only a truly empty body means ``{}``; blank text is malformed JSON, as on the links."""
    integration_id, link = await make_integration(client, auth)
    group_id = await new_group(client, auth, settings, redis)
    for method, path in [
        ("PATCH", f"/api/v1/integrations/{integration_id}/"),
        ("POST", "/api/v1/escalation_chains/"),
        ("DELETE", f"/api/v1/alert_groups/{group_id}/"),
    ]:
        resp = await client.request(
            method, path, data=b" \n", headers={**auth, "Content-Type": "application/json"}
        )
        answer = resp.status, resp.content_type, await resp.read()
        assert_clear_error(*answer, 400, "JSON parse error - ")
    assert_clear_error(*await post_raw(client, link, b" \n"), 400, "JSON parse error - ")
    resp = await client.patch(f"/api/v1/integrations/{integration_id}/", headers=auth)
    assert resp.status == 200  # no body at all is still fine
