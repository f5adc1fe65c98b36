"""Inside an object the API knows, an unknown key is a 400 naming it, never a 200 that drops it;
at the top level of a body an unknown key is ignored, as OnCall does, so that an object read from
the API can be sent back whole.

The cases are not listed by hand: the test walks every request body in the OpenAPI document,
finds every nested object with declared properties (``templates``, each channel,
``default_route``, each destination, each label and its key and value, on every endpoint that
takes them), and sends a valid body with one extra key in that object. The same body without the
key must succeed, so each 400 is about the key. An endpoint whose body gains a nested object must
get a base body here, or the test fails. The top-level rule is checked on every documented
request body (flat ones included), and the round trip on an integration and on routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ingest.api.openapi import document
from ingest.settings import Settings
from tests.group_helpers import fire, webhook

Client = TestClient[Any, Any]
Step = str | int
UNKNOWN = "zz_not_a_field"
LABEL = {"key": {"name": "x"}, "value": {"name": "x"}}
# A valid body per endpoint; ``{integration}`` and ``{route}`` are replaced by ids made per test.
BASES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/integrations/"): {"type": "webhook"},
    ("put", "/api/v1/integrations/{id}/"): {},
    ("patch", "/api/v1/integrations/{id}/"): {},
    ("post", "/api/v1/integrations/{id}/preview/"): {"payload": {}},
    ("post", "/api/v1/routes/"): {
        "integration_id": "{integration}",
        "escalation_chain_id": None,
        "routing_type": "labels",
        "labels": [LABEL],
    },
    ("put", "/api/v1/routes/{id}/"): {},
    ("patch", "/api/v1/routes/{id}/"): {},
}


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    variants = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    return _resolve(variants[0], components) if len(variants) == 1 else schema


def _nested_objects(
    schema: dict[str, Any], components: dict[str, Any], at: tuple[Step, ...] = ()
) -> Iterator[tuple[tuple[Step, ...], dict[str, Any]]]:
    schema = _resolve(schema, components)
    if schema.get("type") == "array":
        yield from _nested_objects(schema["items"], components, (*at, 0))
        return
    if "properties" not in schema:
        return
    if at:
        yield at, schema
    for name, prop in schema["properties"].items():
        yield from _nested_objects(prop, components, (*at, name))


def _cases() -> Iterator[tuple[str, str, tuple[Step, ...]]]:
    doc = document()
    components = doc["components"]["schemas"]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is None:
                continue
            for at, _ in _nested_objects(body["schema"], components):
                yield method, path, at


CASES = sorted(set(_cases()), key=repr)


def _minimal(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    schema = _resolve(schema, components)
    kind = schema.get("type")
    if kind == "array":
        return [_minimal(schema["items"], components)]
    if "properties" in schema:
        props = schema["properties"]
        return {name: _minimal(props[name], components) for name in schema.get("required", [])}
    if kind == "boolean":
        return False
    return "x"


def _with_unknown(base: dict[str, Any], method: str, path: str, at: tuple[Step, ...]) -> Any:
    """``base`` with the objects along ``at`` filled in minimally and ``UNKNOWN`` in the last."""
    doc = document()
    components = doc["components"]["schemas"]
    op = doc["paths"][path][method]
    schema = _resolve(op["requestBody"]["content"]["application/json"]["schema"], components)
    node: Any = base
    for step in at:
        schema = _resolve(
            schema["items"] if isinstance(step, int) else schema["properties"][step], components
        )
        if isinstance(step, int):
            if len(node) <= step:
                node.append(_minimal(schema, components))
        elif node.get(step) is None:
            node[step] = _minimal(schema, components)
        node = node[step]
    node[UNKNOWN] = "x"
    return base


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return ids.get(value, value) if isinstance(value, str) else value


async def _ids(client: Client, auth: dict[str, str]) -> dict[str, str]:
    resp = await client.post("/api/v1/integrations/", json={"type": "webhook"}, headers=auth)
    integration = (await resp.json())["id"]
    body = _fill(BASES[("post", "/api/v1/routes/")], {"{integration}": integration})
    route = (await (await client.post("/api/v1/routes/", json=body, headers=auth)).json())["id"]
    return {"{integration}": integration, "{route}": route}


def test_the_walk_finds_every_kind_of_nested_object() -> None:
    """A guard on the walk itself: the objects named by the rule are all among the cases."""
    found = {(method, path, at) for method, path, at in CASES}
    for expected in [
        ("put", "/api/v1/integrations/{id}/", ("templates",)),
        ("put", "/api/v1/integrations/{id}/", ("templates", "webhook")),
        ("post", "/api/v1/integrations/", ("default_route",)),
        ("post", "/api/v1/integrations/", ("default_route", "mobile_app_critical")),
        ("patch", "/api/v1/integrations/{id}/", ("labels", 0, "key")),
        ("post", "/api/v1/routes/", ("mobile_app",)),
        ("put", "/api/v1/routes/{id}/", ("labels", 0)),
        ("post", "/api/v1/integrations/{id}/preview/", ("templates", "slack")),
        ("put", "/api/v1/integrations/{id}/", ("heartbeat",)),
    ]:
        assert expected in found, expected
    assert {(m, p) for m, p, _ in CASES} <= set(BASES), "add a base body for the new endpoint"


@pytest.mark.parametrize(("method", "path", "at"), CASES, ids=lambda v: repr(v))
async def test_unknown_nested_key_is_a_400_naming_it(
    client: Client, auth: dict[str, str], method: str, path: str, at: tuple[Step, ...]
) -> None:
    ids = await _ids(client, auth)
    target = "{integration}" if path.startswith("/api/v1/integrations/") else "{route}"
    url = path.replace("{id}", ids[target])
    base = _fill(BASES[(method, path)], ids)

    control = await client.request(method, url, json=base, headers=auth)
    assert control.status in (200, 201), await control.text()
    bad = _with_unknown(_fill(BASES[(method, path)], ids), method, path, at)
    resp = await client.request(method, url, json=bad, headers=auth)
    errors = await resp.json()
    assert resp.status == 400, (bad, errors)
    node: Any = errors
    for step in at:  # the error sits at the object's own path (labels: in the list's messages)
        if isinstance(step, int) or isinstance(node, list):
            break
        node = node[step]
    if isinstance(node, dict):
        [message] = node[UNKNOWN]
        assert "accepts:" in message
    else:
        assert any(UNKNOWN in message for message in node), node


WEBHOOK = {"name": "w", "url": "https://example.com/x", "http_method": "POST",
           "trigger_type": "acknowledge"}  # fmt: skip
# A valid body for every documented request body, with the object its URL names (made per test).
TOP_LEVEL: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    **{key: ("{integration}", body) for key, body in BASES.items() if "/integrations/" in key[1]},
    **{key: ("{route}", body) for key, body in BASES.items() if "/routes/" in key[1]},
    ("post", "/api/v1/integrations/{id}/maintenance_start/"): (
        "{integration}",
        {"mode": "maintenance", "duration": 60},
    ),
    ("post", "/api/v1/escalation_chains/"): ("", {"name": "other"}),
    ("put", "/api/v1/escalation_chains/{id}/"): ("{chain}", {"name": "renamed"}),
    ("patch", "/api/v1/escalation_chains/{id}/"): ("{chain}", {"name": "renamed"}),
    ("post", "/api/v1/webhooks/"): ("", {**WEBHOOK, "name": "other"}),
    ("put", "/api/v1/webhooks/{id}/"): ("{webhook}", {"name": "renamed"}),
    ("patch", "/api/v1/webhooks/{id}/"): ("{webhook}", {"name": "renamed"}),
    ("post", "/api/v1/alert_groups/{id}/silence/"): ("{group}", {"delay": 60}),
    ("delete", "/api/v1/alert_groups/{id}/"): ("{group}", {"mode": "wipe"}),
}


def _bodies() -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, operations in document()["paths"].items()
        for method, op in operations.items()
        if "requestBody" in op
    }


def test_every_request_body_has_a_top_level_case() -> None:
    assert _bodies() == set(TOP_LEVEL), "add a valid body for the endpoint to TOP_LEVEL"


@pytest.mark.parametrize(("method", "path"), sorted(TOP_LEVEL), ids=lambda v: str(v))
async def test_unknown_top_level_key_is_ignored(
    client: Client, auth: dict[str, str], settings: Settings, method: str, path: str
) -> None:
    ids = await _ids(client, auth)
    target, base = TOP_LEVEL[(method, path)]
    if target == "{chain}":
        made = await client.post("/api/v1/escalation_chains/", json={"name": "c"}, headers=auth)
        ids[target] = (await made.json())["id"]
    elif target == "{webhook}":
        made = await client.post("/api/v1/webhooks/", json=WEBHOOK, headers=auth)
        ids[target] = (await made.json())["id"]
    elif target == "{group}":
        integration = await webhook(client, auth)
        await fire(client, settings, integration, {"k": "a"})
        listed = await client.get("/api/v1/alert_groups/", headers=auth)
        ids[target] = (await listed.json())["results"][0]["id"]
    url = path.replace("{id}", ids.get(target, ""))
    body = {**_fill(base, ids), UNKNOWN: {"anything": [1]}}
    resp = await client.request(method, url, json=body, headers=auth)
    assert resp.status in (200, 201, 204), await resp.text()
    if resp.status != 204:
        assert UNKNOWN not in await resp.text()


async def _round_trip(client: Client, auth: dict[str, str], url: str) -> None:
    """GET, then PUT the whole answer back: accepted, and nothing changes."""
    before = await (await client.get(url, headers=auth)).json()
    resp = await client.put(url, json=before, headers=auth)
    assert resp.status == 200, await resp.text()
    assert await resp.json() == before
    assert await (await client.get(url, headers=auth)).json() == before


async def test_a_whole_get_body_sent_back_changes_nothing(
    client: Client, auth: dict[str, str]
) -> None:
    label = [{"key": {"name": "team"}, "value": {"name": "db"}}]
    body = {
        "type": "alertmanager",
        "team_id": "T1",
        "description_short": "d",
        "labels": label,
        "dynamic_labels": [{"key": {"name": "env"}, "value": {"name": "{{ payload.env }}"}}],
        "templates": {"grouping_key": "{{ payload.k }}", "webhook": {"title": "t"}},
        "default_route": {"mobile_app": {"id": None, "enabled": True}},
        "heartbeat_timeout": 120,
        "rate_limit": "10/1m",
        "auto_resolve_after": 3600,
    }
    made = await client.post("/api/v1/integrations/", json=body, headers=auth)
    integration = await made.json()
    url = f"/api/v1/integrations/{integration['id']}/"
    start = {"mode": "debug", "duration": 600}
    assert (await client.post(url + "maintenance_start/", json=start, headers=auth)).ok
    await _round_trip(client, auth, url)
    routes: list[dict[str, Any]] = [
        {"routing_regex": "db", "email": {"id": None, "enabled": True}},
        {"routing_type": "labels", "labels": label, "mobile_app_critical": {"enabled": True}},
    ]
    for route in routes:
        route = {**route, "integration_id": integration["id"], "escalation_chain_id": None}
        made = await client.post("/api/v1/routes/", json=route, headers=auth)
        assert made.status == 201, await made.text()
        await _round_trip(client, auth, f"/api/v1/routes/{(await made.json())['id']}/")
