"""Routes API: shapes, routing types, validation, positions, the default route, tenancy, scopes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.store import keys
from tests.conftest import TokenFactory
from tests.openapi_check import assert_valid

Client = TestClient[Any, Any]
URL = "/api/v1/routes/"
LIST, DETAIL = "/api/v1/routes/", "/api/v1/routes/{id}/"
KEYS = [
    "position", "id", "integration_id", "escalation_chain_id", "routing_type", "routing_regex",
    "is_the_last_route", "slack", "telegram", "mobile_app", "mobile_app_critical", "email",
    "webhook", "msteams", "labels",
]  # fmt: skip
OFF = {"id": None, "enabled": False}


def labels(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"key": {"name": k}, "value": {"name": v}} for k, v in pairs]


async def make_integration(client: Client, auth: dict[str, str], **extra: Any) -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/integrations/", json={"type": "webhook", **extra}, headers=auth
    )
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def make_chain(client: Client, auth: dict[str, str], name: str) -> str:
    resp = await client.post("/api/v1/escalation_chains/", json={"name": name}, headers=auth)
    assert resp.status == 201, await resp.text()
    chain_id: str = (await resp.json())["id"]
    return chain_id


async def post(client: Client, auth: dict[str, str], iid: str, /, **body: Any) -> Any:
    body = {"integration_id": iid, "escalation_chain_id": None, **body}
    if "routing_regex" not in body and body.get("routing_type") != "labels":
        body["routing_regex"] = "x"
    resp = await client.post(URL, json=body, headers=auth)
    data = await resp.json()
    assert_valid(data, LIST, "post", resp.status)
    return resp.status, data


async def create(client: Client, auth: dict[str, str], integration_id: str, **body: Any) -> str:
    status, data = await post(client, auth, integration_id, **body)
    assert status == 201, data
    route_id: str = data["id"]
    return route_id


async def change(client: Client, auth: dict[str, str], route_id: str, **body: Any) -> Any:
    resp = await client.put(URL + route_id, json=body, headers=auth)
    data = await resp.json()
    assert_valid(data, DETAIL, "put", resp.status)
    return resp.status, data


async def positions(client: Client, auth: dict[str, str], integration_id: str) -> list[Any]:
    resp = await client.get(URL, params={"integration_id": integration_id}, headers=auth)
    body = await resp.json()
    assert_valid(body, LIST, "get", 200)
    return [(r["id"], r["position"]) for r in body["results"]]


async def test_default_route_shape_and_list(client: Client, auth: dict[str, str]) -> None:
    integration = await make_integration(client, auth)
    default_id = integration["default_route"]["id"]
    resp = await client.get(URL + default_id, headers=auth)
    data = await resp.json()
    assert resp.status == 200
    assert_valid(data, DETAIL, "get", 200)
    assert list(data) == KEYS
    assert data == {
        "position": 0, "id": default_id, "integration_id": integration["id"],
        "escalation_chain_id": None, "routing_type": "regex", "routing_regex": None,
        "is_the_last_route": True, "slack": {"channel_id": None, "enabled": True},
        "telegram": OFF, "mobile_app": OFF, "mobile_app_critical": OFF, "email": OFF,
        "webhook": OFF, "msteams": OFF, "labels": [],
    }  # fmt: skip
    listed = await (await client.get(URL, headers=auth)).json()
    assert listed["results"] == [data] and listed["page_size"] == 25 and listed["count"] == 1


async def test_create_regex_route(client: Client, auth: dict[str, str]) -> None:
    integration = await make_integration(client, auth)
    chain = await make_chain(client, auth, "primary")
    status, data = await post(
        client, auth, integration["id"], routing_regex="  testreg  ", escalation_chain_id=chain
    )
    assert status == 201
    assert list(data) == KEYS
    assert data["position"] == 0 and data["routing_regex"] == "testreg"
    assert data["routing_type"] == "regex" and data["is_the_last_route"] is False
    assert data["escalation_chain_id"] == chain
    assert data["slack"] == {"channel_id": None, "enabled": True}
    assert data["telegram"] == data["msteams"] == {"id": None, "enabled": False}
    got = await (await client.get(URL + data["id"], headers=auth)).json()
    assert got == data


async def test_create_jinja2_route(client: Client, auth: dict[str, str]) -> None:
    integration = await make_integration(client, auth)
    template = '{{ payload.severity == "critical" }}'
    status, data = await post(
        client, auth, integration["id"], routing_type="jinja2", routing_regex=template
    )
    assert status == 201 and data["routing_type"] == "jinja2"
    assert data["routing_regex"] == template
    status, data = await post(
        client, auth, integration["id"], routing_type="jinja2", routing_regex="{{ payload."
    )
    assert status == 400
    [message] = data["non_field_errors"]
    assert message.startswith("Jinja template is incorrect: line 1")


async def test_create_labels_route(client: Client, auth: dict[str, str]) -> None:
    integration = await make_integration(client, auth)
    pairs = labels(("team", "sre"), ("env", "prod"))
    status, data = await post(
        client, auth, integration["id"], routing_type="labels", labels=pairs, routing_regex=None
    )
    assert status == 201
    assert data["routing_type"] == "labels" and data["labels"] == pairs
    assert data["routing_regex"] is None
    status, errors = await post(client, auth, integration["id"], routing_type="labels")
    assert status == 400 and "non-empty" in errors["labels"][0]
    status, errors = await post(
        client, auth, integration["id"], routing_type="labels", labels=labels(("9x", "a"))
    )
    assert status == 400 and "'9x'" in errors["labels"][0]
    status, errors = await post(
        client, auth, integration["id"], routing_type="labels", labels=pairs, routing_regex="a"
    )
    assert status == 400 and "routing_regex" in errors
    status, errors = await post(client, auth, integration["id"], labels=pairs)
    assert status == 400 and "Only used" in errors["labels"][0]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"routing_regex": None}, {"routing_regex": ["This field may not be null."]}),
        ({"routing_regex": "  "}, {"routing_regex": ["This field may not be blank."]}),
        ({"routing_regex": 5}, {"routing_regex": ["Must be a string, got integer."]}),
        ({"routing_type": "bogus"}, {"detail": "Invalid route type"}),
        ({"position": "first"}, {"position": ["A valid integer is required."]}),
        ({"position": -2}, {"detail": "Invalid value for position field"}),
        ({"position": 2147483648}, {"detail": "Invalid value for position field"}),
        ({"position": -1, "manual_order": True}, {"detail": "Invalid value for position field"}),
        ({"escalation_chain_id": "FNOPE"}, {"escalation_chain_id": ["Object does not exist"]}),
        ({"integration_id": "CNOPE"}, {"integration_id": ["Object does not exist"]}),
    ],
)
async def test_invalid_route_data(
    client: Client, auth: dict[str, str], body: dict[str, Any], expected: dict[str, Any]
) -> None:
    integration = await make_integration(client, auth)
    status, data = await post(client, auth, integration["id"], **body)
    assert status == 400 and data == expected
    assert len(await positions(client, auth, integration["id"])) == 1  # nothing was saved


async def test_required_fields_and_expression_errors(client: Client, auth: dict[str, str]) -> None:
    integration = await make_integration(client, auth)
    resp = await client.post(URL, json={}, headers=auth)
    assert await resp.json() == {
        "integration_id": ["This field is required."],
        "escalation_chain_id": ["This field is required."],
        "routing_regex": ["This field is required."],
    }
    status, data = await post(client, auth, integration["id"], routing_regex="a(b")
    assert status == 400
    assert data["non_field_errors"][0].startswith("Regular expression is incorrect: ")
    status, data = await post(client, auth, integration["id"], routing_regex="a" * 1025)
    assert data == {
        "non_field_errors": [
            "Expression is too long. Maximum length: 1024 characters, current length: 1025"
        ]
    }
    route_id = await create(client, auth, integration["id"])
    status, data = await change(client, auth, route_id, routing_regex="a" * 1025)
    assert status == 400 and "Expression is too long" in data["non_field_errors"][0]


async def test_update_route(client: Client, auth: dict[str, str]) -> None:
    integration = await make_integration(client, auth)
    chain = await make_chain(client, auth, "c")
    await create(client, auth, integration["id"])
    route_id = await create(client, auth, integration["id"], routing_regex="{{")
    status, data = await change(
        client, auth, route_id, routing_regex="testreg_updated", escalation_chain_id=chain,
        slack={"channel_id": "C01", "enabled": False}, telegram={"enabled": True},
        integration_id="ignored",
    )  # fmt: skip
    assert status == 200 and data["position"] == 1
    assert data["routing_regex"] == "testreg_updated" and data["escalation_chain_id"] == chain
    assert data["slack"] == {"channel_id": "C01", "enabled": False}
    assert data["telegram"] == {"id": None, "enabled": True}
    assert data["integration_id"] == integration["id"]
    status, data = await change(client, auth, route_id, escalation_chain_id=None)
    assert status == 200 and data["escalation_chain_id"] is None


async def test_type_change_checks_the_stored_expression(
    client: Client, auth: dict[str, str]
) -> None:
    integration = await make_integration(client, auth)
    route_id = await create(client, auth, integration["id"], routing_regex="{{")
    status, data = await change(client, auth, route_id, routing_type="jinja2")
    assert status == 400 and data["non_field_errors"][0].startswith("Jinja template is incorrect")
    status, data = await change(
        client, auth, route_id, routing_type="jinja2", routing_regex="{{ 1 }}"
    )
    assert status == 200 and data["routing_type"] == "jinja2"
    status, data = await change(
        client, auth, route_id, routing_type="labels", labels=labels(("a", "b"))
    )
    assert status == 200 and data["routing_regex"] is None
    status, data = await change(client, auth, route_id, routing_type="regex")
    assert status == 400 and data == {"routing_regex": ["This field is required."]}


async def test_echoing_a_route_back_changes_nothing(client: Client, auth: dict[str, str]) -> None:
    integration = await make_integration(client, auth)
    regex_id = await create(client, auth, integration["id"], routing_regex="disk")
    labels_id = await create(
        client, auth, integration["id"], routing_type="labels", labels=labels(("a", "b"))
    )
    for route_id in (regex_id, labels_id, integration["default_route"]["id"]):
        got = await (await client.get(URL + route_id, headers=auth)).json()
        status, data = await change(client, auth, route_id, **got)
        assert status == 200 and data == got


async def test_position_shifting(client: Client, auth: dict[str, str], redis: Redis) -> None:
    integration = await make_integration(client, auth)
    iid = integration["id"]
    r1, r2 = await create(client, auth, iid), await create(client, auth, iid)
    r3 = await create(client, auth, iid, position=0)
    r4 = await create(client, auth, iid, position=10)
    r5 = await create(client, auth, iid, position=-1)
    default = (integration["default_route"]["id"], 0)
    assert await positions(client, auth, iid) == [
        (r3, 0), (r1, 1), (r2, 2), (r4, 10), (r5, 11), default,
    ]  # fmt: skip
    assert (await client.delete(URL + r3, headers=auth)).status == 204
    r6 = await create(client, auth, iid)
    assert await positions(client, auth, iid) == [
        (r1, 1), (r2, 2), (r4, 10), (r5, 11), (r6, 12), default,
    ]  # fmt: skip
    status, data = await change(client, auth, r2, position=-1)
    assert status == 200 and data["position"] == 12
    assert await positions(client, auth, iid) == [
        (r1, 1), (r4, 9), (r5, 10), (r6, 11), (r2, 12), default,
    ]  # fmt: skip
    await change(client, auth, r2, position=1)
    assert await positions(client, auth, iid) == [
        (r2, 1), (r1, 2), (r4, 10), (r5, 11), (r6, 12), default,
    ]  # fmt: skip
    # the worker matches in the same order
    stored = await redis.zrange(keys.integration_routes(iid), 0, -1)
    assert [s.decode() for s in stored] == [r2, r1, r4, r5, r6]


async def test_manual_order_swaps(client: Client, auth: dict[str, str]) -> None:
    integration = await make_integration(client, auth)
    iid = integration["id"]
    r1, r2, r3 = [await create(client, auth, iid) for _ in range(3)]
    await change(client, auth, r3, position=0, manual_order=True)
    assert (await positions(client, auth, iid))[:3] == [(r3, 0), (r2, 1), (r1, 2)]
    await change(client, auth, r2, position=7, manual_order=True)
    assert (await positions(client, auth, iid))[:3] == [(r3, 0), (r1, 2), (r2, 7)]
    status, data = await change(client, auth, r2, position=2**63 - 1, manual_order=True)
    assert status == 400 and data == {"detail": "Invalid value for position field"}


async def test_concurrent_creates_keep_distinct_positions(
    client: Client, auth: dict[str, str]
) -> None:
    integration = await make_integration(client, auth)
    created = await asyncio.gather(*(create(client, auth, integration["id"]) for _ in range(12)))
    listed = (await positions(client, auth, integration["id"]))[:-1]
    assert sorted(p for _, p in listed) == list(range(12))
    assert {r for r, _ in listed} == set(created)
    inserted = await asyncio.gather(
        *(create(client, auth, integration["id"], position=0) for _ in range(5))
    )
    listed = (await positions(client, auth, integration["id"]))[:-1]
    assert sorted(p for _, p in listed) == list(range(17))
    assert {r for r, _ in listed[:5]} == set(inserted)


async def test_default_route_rules(client: Client, auth: dict[str, str]) -> None:
    integration = await make_integration(client, auth)
    default_id = integration["default_route"]["id"]
    other = await create(client, auth, integration["id"])
    chain = await make_chain(client, auth, "c")
    status, data = await change(
        client, auth, default_id, position=5, routing_regex="x", escalation_chain_id=chain
    )
    assert status == 200 and data["position"] == 5 and data["routing_regex"] == "x"
    assert data["is_the_last_route"] is True and data["escalation_chain_id"] == chain
    assert await positions(client, auth, integration["id"]) == [(other, 0), (default_id, 5)]
    resp = await client.delete(URL + default_id, headers=auth)
    assert resp.status == 400
    assert await resp.json() == {"detail": "Unable to delete default filter"}
    assert (await client.get(URL + default_id, headers=auth)).status == 200
    shown = await (
        await client.get(f"/api/v1/integrations/{integration['id']}", headers=auth)
    ).json()
    assert shown["default_route"]["escalation_chain_id"] == chain


async def test_delete_route(client: Client, auth: dict[str, str]) -> None:
    integration = await make_integration(client, auth)
    r1, r2 = (
        await create(client, auth, integration["id"]),
        await create(client, auth, integration["id"]),
    )
    resp = await client.delete(URL + r1, headers=auth)
    assert resp.status == 204
    missing = await client.get(URL + r1, headers=auth)
    assert missing.status == 404
    assert_valid(await missing.json(), DETAIL, "get", 404)
    assert (await positions(client, auth, integration["id"]))[0] == (r2, 1)
    assert (await client.delete(URL + r1, headers=auth)).status == 404


async def test_every_write_bumps_the_integration_version(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    integration = await make_integration(client, auth)

    async def version() -> int:
        return int(await redis.get(keys.integration_version(integration["id"])) or 0)

    before = await version()
    route_id = await create(client, auth, integration["id"])
    assert await version() > before
    before = await version()
    await change(client, auth, route_id, routing_regex="y")
    assert await version() > before
    before = await version()
    await change(client, auth, integration["default_route"]["id"], routing_regex="y")
    assert await version() > before
    before = await version()
    await client.delete(URL + route_id, headers=auth)
    assert await version() > before


async def test_filters_and_pagination(client: Client, auth: dict[str, str]) -> None:
    first = await make_integration(client, auth, name="a")
    second = await make_integration(client, auth, name="b")
    r1 = await create(client, auth, first["id"], routing_regex="disk")
    await create(client, auth, second["id"], routing_regex="disk")
    await create(client, auth, second["id"], routing_regex="cpu")
    everything = await (await client.get(URL, headers=auth)).json()
    order = [r["id"] for r in everything["results"]]
    assert order[:2] == [r1, first["default_route"]["id"]] and len(order) == 5
    only = await (
        await client.get(URL, params={"integration_id": first["id"]}, headers=auth)
    ).json()
    assert [r["id"] for r in only["results"]] == order[:2]
    disk = await (await client.get(URL, params={"routing_regex": "disk"}, headers=auth)).json()
    assert disk["count"] == 2 and {r["routing_regex"] for r in disk["results"]} == {"disk"}
    page = await (await client.get(URL + "?perpage=2&page=2", headers=auth)).json()
    assert_valid(page, LIST, "get", 200)
    assert [r["id"] for r in page["results"]] == order[2:4]
    assert page["next"] == "http://testserver/api/v1/routes/?page=3&perpage=2"
    none = await (await client.get(URL, params={"integration_id": "CNOPE"}, headers=auth)).json()
    assert none["count"] == 0 and none["results"] == []


async def test_tenancy(client: Client, auth: dict[str, str], make_token: TokenFactory) -> None:
    integration = await make_integration(client, auth)
    route_id = await create(client, auth, integration["id"])
    other = await make_token(org="org2")
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        resp = await client.request(method, URL + route_id, json={}, headers=other)
        assert resp.status == 404, method
    assert (await (await client.get(URL, headers=other)).json())["count"] == 0
    status, data = await post(client, other, integration["id"])
    assert status == 400 and data == {"integration_id": ["Object does not exist"]}
    foreign_chain = await make_chain(client, other, "theirs")
    status, data = await post(client, auth, integration["id"], escalation_chain_id=foreign_chain)
    assert status == 400 and data == {"escalation_chain_id": ["Object does not exist"]}
    # a deleted integration's routes are gone from view
    await client.delete(f"/api/v1/integrations/{integration['id']}", headers=auth)
    assert (await client.get(URL + route_id, headers=auth)).status == 404
    assert (await (await client.get(URL, headers=auth)).json())["count"] == 0
    status, data = await post(client, auth, integration["id"])
    assert status == 400 and data == {"integration_id": ["Object does not exist"]}


async def test_scopes(client: Client, auth: dict[str, str], make_token: TokenFactory) -> None:
    integration = await make_integration(client, auth)
    route_id = await create(client, auth, integration["id"])
    reader = await make_token(scopes=["integrations:read"])
    groups_only = await make_token(scopes=["alert_groups:read", "alert_groups:write"])
    assert (await client.get(URL + route_id, headers=reader)).status == 200
    for method, path in (("POST", URL), ("PUT", URL + route_id), ("DELETE", URL + route_id)):
        resp = await client.request(method, path, json={}, headers=reader)
        assert resp.status == 403, method
        assert_valid(await resp.json(), LIST if path == URL else DETAIL, method, 403)
    assert (await client.get(URL, headers=groups_only)).status == 403
    unauth = await client.get(URL)
    assert unauth.status == 401
    assert_valid(await unauth.json(), LIST, "get", 401)
    wrong = await client.post(URL + route_id, json={}, headers=auth)
    assert wrong.status == 405
