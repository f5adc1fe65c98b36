"""Template preview: the worker's trace and every channel's rendering, creating nothing."""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.models import Label, Route
from ingest.store import keys
from templates_engine import CHANNEL_FIELDS
from tests.conftest import TokenFactory
from tests.group_helpers import Client
from tests.openapi_check import assert_valid
from tests.test_pipeline import FIRING, RESOLVED, make

PATH = "/api/v1/integrations/{id}/preview/"


async def preview(
    client: Client, auth: dict[str, str], integration_id: str, body: Any, status: int = 200
) -> Any:
    resp = await client.post(
        f"/api/v1/integrations/{integration_id}/preview/", json=body, headers=auth
    )
    data = await resp.json()
    assert resp.status == status, data
    assert_valid(data, PATH, "post", status)
    return data


async def add_route(redis: Redis, integration: dict[str, Any], position: int, **fields: Any) -> str:
    route = Route(id=f"RTEST{position}", org_id="org1", integration_id=integration["id"], **fields)
    route.position = position
    await redis.set(keys.route(route.id), orjson.dumps(route.to_doc()))
    await redis.zadd(keys.integration_routes(integration["id"]), {route.id: position})
    await redis.incr(keys.integration_version(integration["id"]))
    return route.id


async def test_alertmanager_fixture_preview(
    client: Client, auth: dict[str, str], redis: Redis, settings: Any
) -> None:
    integration = await make(client, auth, "alertmanager")
    data = await preview(client, auth, integration["id"], {"payload": FIRING})
    trace = data["trace"]
    assert trace["grouping_key"] == FIRING["groupKey"]
    assert trace["resolve_signal"] is False and trace["own_group"] is False
    assert trace["route"]["route_id"] == integration["default_route"]["id"]
    assert trace["route"]["tried"][-1]["reason"] == "default route"
    assert trace["maintenance_mode"] is None and trace["issues"] == []
    assert set(data["channels"]) == set(CHANNEL_FIELDS)
    for channel, fields in CHANNEL_FIELDS.items():
        assert set(data["channels"][channel]) == {"title", "message", "image_url"}, channel
        assert set(fields) <= {"title", "message", "image_url"}
    assert data["channels"]["web"]["title"] and data["channels"]["slack"]["title"]
    assert "HighCPU" in data["channels"]["web"]["title"]
    assert data["source_link"] == FIRING["alerts"][0]["generatorURL"]
    resolved = await preview(client, auth, integration["id"], {"payload": RESOLVED})
    assert resolved["trace"]["resolve_signal"] is True
    assert await redis.keys("ai:group:*") == [] and await redis.keys("ai:alert:*") == []
    assert await redis.zcard(settings.queue_name) == 0


async def test_routes_and_labels_are_decided_like_the_worker(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    integration = await make(
        client,
        auth,
        "alertmanager",
        dynamic_labels=[
            {"key": {"name": "sev"}, "value": {"name": "{{ payload.commonLabels.severity }}"}}
        ],
    )
    bad = await add_route(redis, integration, 0, routing_type="regex", routing_regex="NoSuchAlert")
    by_label = await add_route(
        redis, integration, 1, routing_type="labels", labels=[Label("sev", "critical")]
    )
    data = await preview(client, auth, integration["id"], {"payload": FIRING})
    route = data["trace"]["route"]
    assert route["route_id"] == by_label
    assert [(t["route_id"], t["matched"]) for t in route["tried"]] == [
        (bad, False),
        (by_label, True),
    ]
    assert data["trace"]["labels"] == [{"key": "sev", "value": "critical", "source": "dynamic"}]


async def test_template_overrides(client: Client, auth: dict[str, str]) -> None:
    integration = await make(client, auth, "webhook")
    body = {
        "payload": {"svc": "db", "status": "down"},
        "templates": {
            "grouping_key": "{{ payload.svc }}",
            "resolve_signal": "{{ payload.status == 'up' }}",
            "slack": {"title": "Slack: {{ payload.svc }}"},
            "web": {"title": "{{ payload.missing.deeper }}"},
        },
    }
    data = await preview(client, auth, integration["id"], body)
    assert data["trace"]["grouping_key"] == "db"
    assert data["channels"]["slack"]["title"] == "Slack: db"
    assert data["channels"]["web"]["title"].startswith("Template ")
    assert [i["template"] for i in data["channel_issues"]] == ["web.title"]
    stored = await client.get(f"/api/v1/integrations/{integration['id']}/", headers=auth)
    assert (await stored.json())["templates"]["grouping_key"] is None  # nothing saved


async def test_label_template_overrides(client: Client, auth: dict[str, str]) -> None:
    integration = await make(client, auth, "webhook")
    label = {"key": {"name": "team"}, "value": {"name": "{{ payload.svc }}"}}
    body = {
        "payload": {"svc": "db"},
        "dynamic_labels": [label],
        "alert_group_labels_template": '{"env": "prod"}',
    }
    data = await preview(client, auth, integration["id"], body)
    labels = {(x["key"], x["value"], x["source"]) for x in data["trace"]["labels"]}
    assert labels == {("team", "db", "dynamic"), ("env", "prod", "multi")}
    bad = {"payload": {}, "dynamic_labels": [{"key": {"name": "1x"}, "value": {"name": "{{"}}]}
    errors = await preview(client, auth, integration["id"], bad, 400)
    assert set(errors) == {"dynamic_labels"}
    stored = await client.get(f"/api/v1/integrations/{integration['id']}/", headers=auth)
    assert (await stored.json())["dynamic_labels"] == []  # nothing saved


async def test_invalid_bodies(client: Client, auth: dict[str, str]) -> None:
    integration = await make(client, auth, "webhook")
    iid = integration["id"]
    missing = await preview(client, auth, iid, {"templates": {}}, 400)
    assert missing == {"payload": ["This field is required."]}
    errors = await preview(
        client,
        auth,
        iid,
        {"payload": {}, "templates": {"grouping_key": "{{ x", "slack": {"nope": "x"}}},
        400,
    )
    assert set(errors["templates"]) == {"grouping_key", "slack"}
    assert "line 1" in errors["templates"]["grouping_key"][0]
    assert set(errors["templates"]["slack"]) == {"nope"}
    assert (await preview(client, auth, iid, {"payload": None}))["trace"]["grouping_id"]
    resp = await client.post(
        f"/api/v1/integrations/{iid}/preview/",
        data=b"[",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert resp.status == 400 and (await resp.json())["detail"].startswith("JSON parse error")


async def test_tenancy_and_scopes(
    client: Client, auth: dict[str, str], make_token: TokenFactory
) -> None:
    integration = await make(client, auth, "webhook")
    other = await make_token(org="org2")
    data = await preview(client, other, integration["id"], {"payload": {}}, 404)
    assert data == {"detail": "Not found."}
    reader = await make_token(scopes=["integrations:read"])
    await preview(client, reader, integration["id"], {"payload": {"a": 1}})
    groups_only = await make_token(scopes=["alert_groups:read", "alert_groups:write"])
    await preview(client, groups_only, integration["id"], {"payload": {}}, 403)
    await preview(client, {}, integration["id"], {"payload": {}}, 401)
    await preview(client, auth, "CNOPE", {"payload": {}}, 404)


async def test_maintenance_mode_is_in_the_trace(client: Client, auth: dict[str, str]) -> None:
    integration = await make(client, auth, "webhook")
    url = f"/api/v1/integrations/{integration['id']}/maintenance_start/"
    resp = await client.post(url, json={"mode": "debug", "duration": 600}, headers=auth)
    assert resp.status == 200
    data = await preview(client, auth, integration["id"], {"payload": {}})
    assert data["trace"]["maintenance_mode"] == "debug"
