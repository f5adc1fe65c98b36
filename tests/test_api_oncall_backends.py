"""OnCall's open-source messaging backends are stored and echoed, not dropped.

The requests and the expected answers come from a side-by-side run against a real Grafana OnCall
engine (open-source backend): ``templates.webhook``/``email``/``mobile_app`` and the
``mobile_app``, ``mobile_app_critical``, ``email`` and ``webhook`` destinations of the default
route and of every route. The Cloud keys (``msteams``) stay as well, so clients of either find
theirs.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.settings import Settings
from ingest.store import keys
from tests.fuzz_helpers import make_integration
from tests.group_helpers import get_json
from tests.worker_helpers import drain, events

Client = TestClient[Any, Any]
OFF = {"id": None, "enabled": False}
# What OnCall answered (its open-source deployment): every key a client of it reads.
ONCALL_TEMPLATE_KEYS = {
    "grouping_key", "resolve_signal", "acknowledge_signal", "source_link", "slack", "web", "sms",
    "phone_call", "telegram", "mobile_app", "email", "webhook",
}  # fmt: skip
ONCALL_ROUTE_KEYS = {
    "position", "id", "integration_id", "escalation_chain_id", "routing_type", "routing_regex",
    "is_the_last_route", "slack", "telegram", "mobile_app", "mobile_app_critical", "email",
    "webhook",
}  # fmt: skip
ONCALL_DEFAULT_ROUTE = {
    "escalation_chain_id": None, "slack": {"channel_id": None, "enabled": True},
    "telegram": OFF, "mobile_app": OFF, "mobile_app_critical": OFF, "email": OFF, "webhook": OFF,
}  # fmt: skip


async def test_a_new_integration_has_every_key_oncall_answers_with(
    client: Client, auth: dict[str, str]
) -> None:
    integration_id, _ = await make_integration(client, auth)
    data = await get_json(client, f"/api/v1/integrations/{integration_id}/", auth)
    assert set(data["templates"]) >= ONCALL_TEMPLATE_KEYS
    assert data["templates"]["webhook"] == {"title": None, "message": None, "image_url": None}
    assert {k: v for k, v in data["default_route"].items() if k in ONCALL_DEFAULT_ROUTE} == (
        ONCALL_DEFAULT_ROUTE
    )
    route = await get_json(client, f"/api/v1/routes/{data['default_route']['id']}/", auth)
    assert set(route) >= ONCALL_ROUTE_KEYS


async def test_backend_templates_are_stored_and_echoed(
    client: Client, auth: dict[str, str]
) -> None:
    integration_id, _ = await make_integration(client, auth)
    url = f"/api/v1/integrations/{integration_id}/"
    first = {"templates": {"mobile_app": {"title": "Mobile {{ payload.check }}"}}}
    assert (await client.put(url, json=first, headers=auth)).status == 200
    body = {
        "templates": {"webhook": {"title": "hook {{ payload.check }}"}, "email": {"title": "mail"}}
    }
    resp = await client.put(url, json=body, headers=auth)
    assert resp.status == 200
    for answer in (await resp.json(), await get_json(client, url, auth)):
        templates = answer["templates"]
        assert templates["mobile_app"] == {"title": "Mobile {{ payload.check }}", "message": None}
        assert templates["email"] == {"title": "mail", "message": None}
        assert templates["webhook"] == {
            "title": "hook {{ payload.check }}",
            "message": None,
            "image_url": None,
        }


async def test_default_route_backends_are_stored_and_echoed(
    client: Client, auth: dict[str, str]
) -> None:
    integration_id, _ = await make_integration(client, auth)
    url = f"/api/v1/integrations/{integration_id}/"
    body = {
        "default_route": {
            "mobile_app": {"id": None, "enabled": True},
            "email": {"id": None, "enabled": False},
        }
    }
    resp = await client.put(url, json=body, headers=auth)
    assert resp.status == 200
    for answer in (await resp.json(), await get_json(client, url, auth)):
        route = answer["default_route"]
        assert route["mobile_app"] == {"id": None, "enabled": True}
        assert route["mobile_app_critical"] == route["email"] == route["webhook"] == OFF


async def test_route_backends_are_stored_and_echoed(client: Client, auth: dict[str, str]) -> None:
    integration_id, _ = await make_integration(client, auth)
    body = {
        "integration_id": integration_id,
        "routing_regex": "backends",
        "escalation_chain_id": None,
        "slack": {"channel_id": None, "enabled": False},
        "telegram": {"id": None, "enabled": True},
        "mobile_app": {"id": None, "enabled": True},
    }
    resp = await client.post("/api/v1/routes/", json=body, headers=auth)
    created = await resp.json()
    assert resp.status == 201, created
    expected = {
        "position": 0, "integration_id": integration_id, "escalation_chain_id": None,
        "routing_type": "regex", "routing_regex": "backends", "is_the_last_route": False,
        "slack": {"channel_id": None, "enabled": False}, "telegram": {"id": None, "enabled": True},
        "mobile_app": {"id": None, "enabled": True}, "mobile_app_critical": OFF, "email": OFF,
        "webhook": OFF,
    }  # fmt: skip
    for answer in (created, await get_json(client, f"/api/v1/routes/{created['id']}/", auth)):
        assert {k: v for k, v in answer.items() if k in expected} == expected
    update = {"webhook": {"id": "hook-1"}, "mobile_app_critical": {"enabled": True}}
    resp = await client.put(f"/api/v1/routes/{created['id']}/", json=update, headers=auth)
    answer = await resp.json()
    assert answer["webhook"] == {"id": "hook-1", "enabled": False}
    assert answer["mobile_app_critical"] == {"id": None, "enabled": True}
    assert answer["mobile_app"] == {"id": None, "enabled": True}


async def test_integration_stored_before_the_webhook_channel_reads_with_it(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    integration_id, _ = await make_integration(client, auth)
    doc = orjson.loads(await redis.get(keys.integration(integration_id)))
    del doc["templates"]["webhook"]
    doc["templates"]["email"] = {"title": "kept"}  # written before `message` existed
    await redis.set(keys.integration(integration_id), orjson.dumps(doc))
    data = await get_json(client, f"/api/v1/integrations/{integration_id}/", auth)
    assert data["templates"]["webhook"] == {"title": None, "message": None, "image_url": None}
    assert data["templates"]["email"] == {"title": "kept", "message": None}


async def test_events_carry_the_enabled_backends_rendered(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    templates = {
        "mobile_app": {"title": "phone {{ payload.check }}"},
        "webhook": {"title": "hook {{ payload.check }}"},
    }
    integration_id, link = await make_integration(client, auth, templates=templates)
    route = {
        "mobile_app_critical": {"id": "crit", "enabled": True},
        "webhook": {"id": "w1", "enabled": True},
    }
    url = f"/api/v1/integrations/{integration_id}/"
    assert (await client.put(url, json={"default_route": route}, headers=auth)).status == 200
    assert (await client.post(link, json={"check": "latency"})).status == 200
    await drain(settings)
    [event] = await events(redis)
    channels = orjson.loads(event["data"])["channels"]
    assert channels["mobile_app_critical"]["title"] == "phone latency"
    assert channels["mobile_app_critical"]["id"] == "crit"
    assert channels["webhook"]["title"] == "hook latency" and channels["webhook"]["id"] == "w1"
    assert "mobile_app" not in channels and "email" not in channels
