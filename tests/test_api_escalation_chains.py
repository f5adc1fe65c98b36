"""Escalation chains API: CRUD, unique names, filters, tenancy, scopes, and detaching on delete."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.store import keys
from tests.conftest import TokenFactory
from tests.openapi_check import assert_valid

Client = TestClient[Any, Any]
URL = "/api/v1/escalation_chains/"
LIST, DETAIL = "/api/v1/escalation_chains/", "/api/v1/escalation_chains/{id}/"
TAKEN = {"name": ["An escalation chain with this name already exists."]}


async def send(
    client: Client, auth: dict[str, str], method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    resp = await client.request(method, path, json=body, headers=auth)
    data = await resp.json() if resp.status != 204 else None
    bare = path.split("?")[0]
    if data is not None and bare.startswith(URL):
        assert_valid(data, LIST if bare == URL else DETAIL, method, resp.status)
    return resp.status, data


async def make_chain(client: Client, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    status, data = await send(client, auth, "POST", URL, body)
    assert status == 201, data
    result: dict[str, Any] = data
    return result


async def test_crud(client: Client, auth: dict[str, str]) -> None:
    chain = await make_chain(client, auth, name="primary", team_id=None)
    assert list(chain) == ["id", "name", "team_id"]
    assert re.fullmatch(r"F[A-NP-Z1-9]{12}", chain["id"])
    assert chain["name"] == "primary" and chain["team_id"] is None
    status, listed = await send(client, auth, "GET", URL)
    assert status == 200 and listed["results"] == [chain]
    assert listed["page_size"] == 50 and listed["count"] == 1
    status, got = await send(client, auth, "GET", URL + chain["id"])
    assert status == 200 and got == chain
    status, put = await send(client, auth, "PUT", URL + chain["id"], {"name": "changed"})
    assert status == 200 and put == {**chain, "name": "changed"}
    status, patched = await send(client, auth, "PATCH", URL + chain["id"], {"team_id": "TABC"})
    assert status == 200 and patched == {**chain, "name": "changed", "team_id": "TABC"}
    status, _ = await send(client, auth, "DELETE", URL + chain["id"])
    assert status == 204
    status, missing = await send(client, auth, "GET", URL + chain["id"])
    assert status == 404 and missing == {"detail": "Not found."}


async def test_name_rules(client: Client, auth: dict[str, str]) -> None:
    chain = await make_chain(client, auth, name="a")
    cases = [
        ({}, {"name": ["This field is required."]}),
        ({"name": None}, {"name": ["This field may not be null."]}),
        ({"name": " "}, {"name": ["This field may not be blank."]}),
        ({"name": "x" * 101}, {"name": ["Ensure this field has no more than 100 characters."]}),
        ({"name": "a"}, TAKEN),
    ]
    for body, expected in cases:
        assert await send(client, auth, "POST", URL, body) == (400, expected), body
    assert await send(client, auth, "PUT", URL + chain["id"], {}) == (
        400,
        {"name": ["This field is required."]},
    )
    assert (await send(client, auth, "PATCH", URL + chain["id"], {}))[0] == 200
    assert (await send(client, auth, "PUT", URL + chain["id"], {"name": "a"}))[0] == 200
    other = await make_chain(client, auth, name="b")
    assert await send(client, auth, "PUT", URL + other["id"], {"name": "a"}) == (400, TAKEN)
    # a rename frees the old name; a delete frees the name
    await send(client, auth, "PUT", URL + chain["id"], {"name": "renamed"})
    assert (await send(client, auth, "PUT", URL + other["id"], {"name": "a"}))[0] == 200
    await send(client, auth, "DELETE", URL + other["id"])
    await make_chain(client, auth, name="a")


async def test_concurrent_creates_of_one_name(client: Client, auth: dict[str, str]) -> None:
    results = await asyncio.gather(
        *(send(client, auth, "POST", URL, {"name": "same"}) for _ in range(8))
    )
    assert sorted(status for status, _ in results) == [201] + [400] * 7


async def test_filters(client: Client, auth: dict[str, str]) -> None:
    first = await make_chain(client, auth, name="one", team_id="null")
    second = await make_chain(client, auth, name="two", team_id="T1")
    assert first["team_id"] is None

    async def ids(query: str) -> list[str]:
        status, body = await send(client, auth, "GET", URL + query)
        assert status == 200
        return [c["id"] for c in body["results"]]

    assert await ids("") == [first["id"], second["id"]]
    assert await ids("?name=two") == [second["id"]]
    assert await ids("?team_id=T1") == [second["id"]]
    assert await ids("?team_id=null") == [first["id"]]
    assert await ids("?name=nope") == []


async def test_tenancy_and_scopes(
    client: Client, auth: dict[str, str], make_token: TokenFactory
) -> None:
    chain = await make_chain(client, auth, name="mine")
    other = await make_token(org="org2")
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        status, _ = await send(client, other, method, URL + chain["id"], {"name": "x"})
        assert status == 404, method
    assert (await send(client, other, "GET", URL))[1]["count"] == 0
    await make_chain(client, other, name="mine")  # names are unique per organization only
    reader = await make_token(scopes=["integrations:read"])
    assert (await send(client, reader, "GET", URL))[0] == 200
    assert (await send(client, reader, "POST", URL, {"name": "n"}))[0] == 403
    assert (await send(client, reader, "DELETE", URL + chain["id"]))[0] == 403
    groups_only = await make_token(scopes=["alert_groups:read"])
    assert (await send(client, groups_only, "GET", URL))[0] == 403
    assert (await client.get(URL)).status == 401


async def test_delete_detaches_routes(client: Client, auth: dict[str, str], redis: Redis) -> None:
    chain = await make_chain(client, auth, name="c")
    keep = await make_chain(client, auth, name="keep")
    status, integration = await send(
        client,
        auth,
        "POST",
        "/api/v1/integrations/",
        {"type": "webhook", "default_route": {"escalation_chain_id": chain["id"]}},
    )
    assert status == 201 and integration["default_route"]["escalation_chain_id"] == chain["id"]
    routes = []
    for chain_id in (chain["id"], keep["id"]):
        body = {"integration_id": integration["id"], "routing_regex": "x"}
        status, route = await send(
            client, auth, "POST", "/api/v1/routes/", {**body, "escalation_chain_id": chain_id}
        )
        assert status == 201
        routes.append(route["id"])
    version_key = keys.integration_version(integration["id"])
    before = int(await redis.get(version_key) or 0)
    assert (await send(client, auth, "DELETE", URL + chain["id"]))[0] == 204
    assert int(await redis.get(version_key) or 0) > before
    got = [await send(client, auth, "GET", f"/api/v1/routes/{r}") for r in routes]
    assert [r["escalation_chain_id"] for _, r in got] == [None, keep["id"]]
    _, shown = await send(client, auth, "GET", f"/api/v1/integrations/{integration['id']}")
    assert shown["default_route"]["escalation_chain_id"] is None


async def test_unknown_chain_on_an_integration_default_route(
    client: Client, auth: dict[str, str], make_token: TokenFactory
) -> None:
    expected = {"default_route": {"escalation_chain_id": ["Object does not exist"]}}
    body = {"type": "webhook", "default_route": {"escalation_chain_id": "FNOPE"}}
    resp = await client.post("/api/v1/integrations/", json=body, headers=auth)
    assert resp.status == 400 and await resp.json() == expected
    listed = await (await client.get("/api/v1/integrations/", headers=auth)).json()
    assert listed["count"] == 0  # nothing was written
    resp = await client.post("/api/v1/integrations/", json={"type": "webhook"}, headers=auth)
    integration = await resp.json()
    foreign = await make_chain(client, await make_token(org="org2"), name="theirs")
    change: dict[str, Any] = {
        "name": "renamed",
        "default_route": {"escalation_chain_id": foreign["id"]},
    }
    resp = await client.put(f"/api/v1/integrations/{integration['id']}", json=change, headers=auth)
    assert resp.status == 400 and await resp.json() == expected
    resp = await client.get(f"/api/v1/integrations/{integration['id']}", headers=auth)
    assert (await resp.json())["name"] == integration["name"]
    mine = await make_chain(client, auth, name="mine")
    change["default_route"]["escalation_chain_id"] = mine["id"]
    resp = await client.put(f"/api/v1/integrations/{integration['id']}", json=change, headers=auth)
    assert resp.status == 200
    assert (await resp.json())["default_route"]["escalation_chain_id"] == mine["id"]


async def test_every_route_and_chain_endpoint_is_documented(client: Client) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    served = {
        (r.method.lower(), r.resource.canonical + "/")
        for r in client.app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith(("/api/v1/routes", "/api/v1/escalation_chains"))
        and not r.resource.canonical.endswith("/")
    }
    assert len(served) == 12
    for method, path in served:
        assert method in doc["paths"][path], (method, path)
