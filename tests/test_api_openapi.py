"""The OpenAPI document is served, is 3.1, and real responses validate against it."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import ValidationError

from tests.openapi_check import assert_valid

Client = TestClient[Any, Any]
URL = "/api/v1/integrations/"
LIST, DETAIL = "/api/v1/integrations/", "/api/v1/integrations/{id}/"


async def test_document_is_served_without_auth(client: Client) -> None:
    resp = await client.get("/api/v1/openapi.json")
    doc = await resp.json()
    assert resp.status == 200
    assert doc["openapi"].startswith("3.1")
    assert LIST in doc["paths"] and DETAIL in doc["paths"]


async def test_integration_responses_validate(client: Client, auth: dict[str, str]) -> None:
    body = {
        "type": "alertmanager",
        "labels": [{"key": {"name": "team"}, "value": {"name": "sre"}}],
        "templates": {"slack": {"title": "x"}},
    }
    created = await client.post(URL, json=body, headers=auth)
    data = await created.json()
    assert_valid(data, LIST, "post", 201)
    listed = await client.get(URL, headers=auth)
    assert_valid(await listed.json(), LIST, "get", 200)
    got = await client.get(URL + data["id"], headers=auth)
    assert_valid(await got.json(), DETAIL, "get", 200)
    put = await client.put(URL + data["id"], json={"name": "x"}, headers=auth)
    assert_valid(await put.json(), DETAIL, "put", 200)
    maint = await client.post(
        URL + data["id"] + "/maintenance_start",
        json={"mode": "debug", "duration": 60},
        headers=auth,
    )
    assert_valid(await maint.json(), "/api/v1/integrations/{id}/maintenance_start/", "post", 200)
    bad = await client.post(URL, json={"type": "webhook", "name": ""}, headers=auth)
    assert_valid(await bad.json(), LIST, "post", 400)
    missing = await client.get(URL + "CNOPE", headers=auth)
    assert_valid(await missing.json(), DETAIL, "get", 404)
    unauth = await client.get(URL)
    assert_valid(await unauth.json(), LIST, "get", 401)


async def test_the_check_can_fail(client: Client, auth: dict[str, str]) -> None:
    created = await client.post(URL, json={"type": "webhook"}, headers=auth)
    data = await created.json()
    del data["templates"]
    with pytest.raises(AssertionError):
        assert_valid(data, DETAIL, "get", 200)
    with pytest.raises((AssertionError, ValidationError)):
        assert_valid({**data, "templates": {}, "type": "nope"}, DETAIL, "get", 200)
