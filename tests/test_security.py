"""Security: tenancy on every public endpoint, token storage, link tokens, logs (in process).

The end-to-end parts (real api and worker processes: logs at info, hostile templates through a
link) are in ``tests/test_security_e2e.py``.
"""

from __future__ import annotations

import hmac
import logging
import random
import re
import string
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest import ids
from ingest.api.app import create_app
from ingest.logs import JsonFormatter
from ingest.settings import Settings
from ingest.store import tokens
from tests.conftest import AiohttpClient, TokenFactory
from tests.group_helpers import TEMPLATES
from tests.test_pipeline import make, post_and_drain

Client = TestClient[Any, Any]
API = "/api/v1/"
# The organization-A object each detail route's ``{id}`` names, by the path segment after /api/v1/.
# A new resource fails ``test_every_public_route_is_covered`` until it is added here.
OBJECT_OF = {
    "integrations": "integration",
    "routes": "route",
    "escalation_chains": "chain",
    "alert_groups": "group",
    "alerts": "alert",
    "webhooks": "webhook",
}
# Valid bodies for write routes (a 404 must not hide behind a 400); the rest get no body.
BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "/api/v1/integrations/{id}"): {"name": "taken-over"},
    ("PATCH", "/api/v1/integrations/{id}"): {"name": "taken-over"},
    ("POST", "/api/v1/integrations/{id}/maintenance_start"): {
        "mode": "maintenance",
        "duration": 3600,
    },
    ("POST", "/api/v1/integrations/{id}/preview"): {"payload": {"k": "x"}},
    ("PUT", "/api/v1/routes/{id}"): {"routing_regex": "taken-over"},
    ("PATCH", "/api/v1/routes/{id}"): {"routing_regex": "taken-over"},
    ("PUT", "/api/v1/escalation_chains/{id}"): {"name": "taken-over"},
    ("PATCH", "/api/v1/escalation_chains/{id}"): {"name": "taken-over"},
    ("POST", "/api/v1/alert_groups/{id}/silence"): {"delay": 60},
    ("PUT", "/api/v1/webhooks/{id}"): {"name": "taken-over"},
    ("PATCH", "/api/v1/webhooks/{id}"): {"name": "taken-over"},
}
# Collection routes that create objects, and the fields by which a body may name another object.
CREATE_REFERENCES = {
    "/api/v1/integrations": ("default_route.escalation_chain_id",),
    "/api/v1/routes": ("integration_id", "escalation_chain_id"),
    "/api/v1/escalation_chains": (),
    "/api/v1/webhooks": ("integration_filter",),
}
NOT_PER_ORG = {("GET", "/api/v1/openapi.json")}  # the same document for everyone


def public_routes(settings: Settings) -> set[tuple[str, str]]:
    """(method, path) of every ``/api/v1`` route the real app registers (no trailing slash)."""
    app = create_app(settings)
    return {
        (route.method, route.resource.canonical.rstrip("/"))
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith(API)
        and route.method != "HEAD"
    }


async def org_a_objects(client: Client, settings: Settings, auth: dict[str, str]) -> dict[str, str]:
    """One object of every kind in org1: chain, integration (+ link), route, group, alert."""
    resp = await client.post(API + "escalation_chains/", json={"name": "a-chain"}, headers=auth)
    assert resp.status == 201, await resp.text()
    chain = (await resp.json())["id"]
    integration = await make(
        client,
        auth,
        "webhook",
        name="a-integration",
        templates=TEMPLATES,
        default_route={"escalation_chain_id": chain},
    )
    body = {
        "integration_id": integration["id"],
        "escalation_chain_id": chain,
        "routing_regex": "never-matches-anything",
    }
    resp = await client.post(API + "routes/", json=body, headers=auth)
    assert resp.status == 201, await resp.text()
    route = (await resp.json())["id"]
    await post_and_drain(client, settings, integration["path"], {"k": "a-key", "state": "x"})
    hook = {"name": "a-webhook", "url": "https://example.com/a", "http_method": "POST",
            "trigger_type": "resolve", "integration_filter": [integration["id"]]}  # fmt: skip
    resp = await client.post(API + "webhooks/", json=hook, headers=auth)
    assert resp.status == 201, await resp.text()
    webhook = (await resp.json())["id"]
    resp = await client.get(API + "alert_groups/", headers=auth)
    [group] = (await resp.json())["results"]
    resp = await client.get(API + "alerts/", headers=auth)
    [alert] = (await resp.json())["results"]
    return {
        "chain": chain,
        "integration": integration["id"],
        "route": route,
        "group": group["id"],
        "alert": alert["id"],
        "webhook": webhook,
        "link": integration["link"],
    }


def concrete(path: str, object_id: str) -> str:
    return path.replace("{id}", object_id) + "/"


def resource_of(path: str) -> str:
    return path.removeprefix(API).split("/", 1)[0]


def test_every_public_route_is_covered(settings: Settings) -> None:
    routes = public_routes(settings)
    assert len(routes) >= 30  # the router was read, not an empty app
    for method, path in routes - NOT_PER_ORG:
        assert resource_of(path) in OBJECT_OF, f"{method} {path}: add its resource to OBJECT_OF"
        if "{id}" not in path and method == "POST":
            assert path in CREATE_REFERENCES, f"{method} {path}: add it to CREATE_REFERENCES"
        else:
            assert method in ("GET", "PUT", "PATCH", "DELETE") or "{id}" in path, (method, path)


async def test_other_org_gets_404_on_every_detail_and_action_route(
    client: Client, settings: Settings, auth: dict[str, str], make_token: TokenFactory
) -> None:
    objects = await org_a_objects(client, settings, auth)
    other = await make_token(org="org2")
    detail = sorted(r for r in public_routes(settings) if "{id}" in r[1])
    assert len(detail) >= 20
    for method, path in detail:
        object_id = objects[OBJECT_OF[resource_of(path)]]
        body = BODIES.get((method, path))
        resp = await client.request(method, concrete(path, object_id), json=body, headers=other)
        text = await resp.text()
        assert resp.status == 404, (method, path, resp.status, text)
        # indistinguishable from an id that does not exist: no existence oracle
        missing = await client.request(method, concrete(path, "XNOPE"), json=body, headers=other)
        assert (missing.status, await missing.text()) == (404, text), (method, path)
        assert object_id not in text
    # and nothing of org1 changed: every object is there, as it was
    for method, path in detail:
        if method == "GET":
            object_id = objects[OBJECT_OF[resource_of(path)]]
            resp = await client.get(concrete(path, object_id), headers=auth)
            assert resp.status == 200, (path, await resp.text())
    integration = await (
        await client.get(API + f"integrations/{objects['integration']}/", headers=auth)
    ).json()
    assert integration["name"] == "a-integration" and integration["maintenance_mode"] is None
    route = await (await client.get(API + f"routes/{objects['route']}/", headers=auth)).json()
    assert route["routing_regex"] == "never-matches-anything"
    chain = await (
        await client.get(API + f"escalation_chains/{objects['chain']}/", headers=auth)
    ).json()
    assert chain["name"] == "a-chain"
    group = await (await client.get(API + f"alert_groups/{objects['group']}/", headers=auth)).json()
    assert group["state"] == "firing" and group["alerts_count"] == 1


async def test_lists_of_another_org_never_show_its_objects(
    client: Client, settings: Settings, auth: dict[str, str], make_token: TokenFactory
) -> None:
    objects = await org_a_objects(client, settings, auth)
    mine = {k: v for k, v in objects.items() if k != "link"}
    other = await make_token(org="org2")
    await make(client, other, "webhook", name="b-integration")  # org2 has objects of its own
    lists = sorted(
        r[1] for r in public_routes(settings) - NOT_PER_ORG if r[0] == "GET" and "{id}" not in r[1]
    )
    assert len(lists) == len(OBJECT_OF)
    filters: list[dict[str, str]] = [{}]
    filters += [
        {name: value}
        for value in mine.values()
        for name in ("id", "integration_id", "route_id", "alert_group_id")
    ]
    filters += [{"search": "a-key"}, {"name": "a-integration"}, {"team_id": "null"}]
    for path in lists:
        resp = await client.get(path + "/", headers=auth)
        assert resp.status == 200
        own_text = await resp.text()
        assert any(v in own_text for v in mine.values()), path  # org1 does see them
        for params in filters:
            resp = await client.get(path + "/", params=params, headers=other)
            text = await resp.text()
            assert resp.status in (200, 400), (path, params, text)
            for kind, value in mine.items():
                assert value not in text, (path, params, kind)
            assert objects["link"] not in text


async def test_other_org_cannot_reference_objects_in_new_ones(
    client: Client, settings: Settings, auth: dict[str, str], make_token: TokenFactory
) -> None:
    objects = await org_a_objects(client, settings, auth)
    other = await make_token(org="org2")
    own = await make(client, other, "webhook", name="b-integration")
    attempts = [
        (
            API + "routes/",
            {
                "integration_id": objects["integration"],
                "escalation_chain_id": None,
                "routing_regex": "x",
            },
        ),
        (
            API + "routes/",
            {
                "integration_id": own["id"],
                "escalation_chain_id": objects["chain"],
                "routing_regex": "x",
            },
        ),
        (
            API + "integrations/",
            {"type": "webhook", "default_route": {"escalation_chain_id": objects["chain"]}},
        ),
        (
            API + "webhooks/",
            {
                "name": "w",
                "url": "https://example.com/",
                "http_method": "POST",
                "trigger_type": "resolve",
                "integration_filter": [objects["integration"]],
            },
        ),
    ]
    covered = {(path.rstrip("/"), field) for path, body in attempts for field in _fields(body)}
    for path, fields in CREATE_REFERENCES.items():
        for field in fields:
            assert (path, field) in covered, f"no cross-org attempt for {path} {field}"
    for path, body in attempts:
        resp = await client.post(path, json=body, headers=other)
        assert resp.status in (400, 404), (path, body, await resp.text())
    resp = await client.get(API + "routes/", params={"integration_id": own["id"]}, headers=other)
    [route] = (await resp.json())["results"]  # only the default route
    for method in ("PUT", "PATCH"):
        resp = await client.request(
            method,
            API + f"routes/{route['id']}/",
            headers=other,
            json={"escalation_chain_id": objects["chain"]},
        )
        assert resp.status in (400, 404), await resp.text()
        resp = await client.request(
            method,
            API + f"integrations/{own['id']}/",
            headers=other,
            json={"default_route": {"escalation_chain_id": objects["chain"]}},
        )
        assert resp.status in (400, 404), await resp.text()
    resp = await client.get(
        API + "routes/", params={"integration_id": objects["integration"]}, headers=auth
    )
    assert len((await resp.json())["results"]) == 2  # org1's integration: no route was added


def _fields(body: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in body.items():
        name = prefix + key
        out += _fields(value, name + ".") if isinstance(value, dict) else [name]
    return out


async def all_values(redis: Redis) -> list[bytes]:
    """Every key name and every value held in Redis, whatever its type."""
    out: list[bytes] = []
    async for key in redis.scan_iter(count=1000):
        out.append(key)
        kind = (await redis.type(key)).decode()
        if kind == "string":
            out.append(await redis.get(key) or b"")
        elif kind == "hash":
            for field, value in (await redis.hgetall(key)).items():  # type: ignore[misc]
                out += [field, value]
        elif kind == "set":
            out += list(await redis.smembers(key))  # type: ignore[misc]
        elif kind == "zset":
            out += await redis.zrange(key, 0, -1)
        elif kind == "list":
            out += await redis.lrange(key, 0, -1)  # type: ignore[misc]
        elif kind == "stream":
            for _, fields in await redis.xrange(key):
                out += [b for kv in fields.items() for b in kv]
        else:
            raise AssertionError(f"unexpected type {kind} of {key!r}")
    return out


async def test_api_tokens_are_stored_only_as_a_hash(
    client: Client, settings: Settings, redis: Redis
) -> None:
    _, secret = await tokens.create_token(
        redis, "org1", ["integrations:read", "integrations:write"]
    )
    headers = {"Authorization": f"Bearer {secret}"}
    resp = await client.post(API + "integrations/", json={"type": "webhook"}, headers=headers)
    assert resp.status == 201  # used: rate-limit counters and the like exist now
    assert (await client.get(API + "integrations/", headers=headers)).status == 200
    values = await all_values(redis)
    assert len(values) > 10
    body = secret.removeprefix("aik_")
    for value in values:
        assert body.encode() not in value
        assert body[:20].encode() not in value and body[20:].encode() not in value
    assert any(tokens.digest(secret).encode() in value for value in values)


async def test_api_tokens_are_compared_in_constant_time(
    client: Client, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, secret = await tokens.create_token(redis, "org1", ["integrations:read"])
    compared: list[tuple[str, str]] = []
    original = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return bool(original(a, b))

    monkeypatch.setattr(hmac, "compare_digest", spy)  # as ingest.store.tokens calls it
    assert (
        await client.get(API + "integrations/", headers={"Authorization": secret})
    ).status == 200
    assert compared == [(token.digest, tokens.digest(secret))]  # digests, compared by hmac
    last = secret[-1]
    for near in (
        secret[:-1] + ("A" if last != "A" else "B"),
        secret[:-1],
        secret + "x",
        secret.upper() if secret.upper() != secret else secret.lower(),
        "x" + secret,
    ):
        resp = await client.get(API + "integrations/", headers={"Authorization": near})
        assert resp.status == 401, near
        assert await tokens.authenticate(redis, near) is None


async def test_link_tokens_are_unguessable(client: Client, auth: dict[str, str]) -> None:
    alphabet = set(string.ascii_letters + string.digits)
    generated = [ids.link_token() for _ in range(1000)]
    assert len(set(generated)) == 1000
    assert all(len(t) >= 25 and set(t) <= alphabet for t in generated)
    assert set("".join(generated)) == alphabet  # every character is used
    random.seed(1234)  # not drawn from the (seedable) random module
    first = ids.link_token()
    random.seed(1234)
    assert ids.link_token() != first
    links = []
    for _ in range(20):
        link = (await make(client, auth, "webhook"))["link"]
        match = re.fullmatch(r"http://testserver/integrations/v1/webhook/([A-Za-z0-9]+)/", link)
        assert match is not None and len(match.group(1)) >= 25, link
        links.append(match.group(1))
    assert len(set(links)) == 20


async def test_unhandled_error_log_names_the_route_not_the_link_token(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    redis: Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(settings)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("boom")

    app.router.add_post("/integrations/v1/boom/{token}/", boom)
    client = await aiohttp_client(app)
    secret = ids.link_token()
    with caplog.at_level(logging.INFO):
        resp = await client.post(f"/integrations/v1/boom/{secret}/", json={"a": 1})
    assert resp.status == 500
    assert await resp.json() == {"detail": "Internal server error."}
    # aiohttp's access log is the test client's; the api process runs with access_log=None
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name.startswith("ingest")]
    assert any("unhandled error" in line for line in lines)
    assert not any(secret in line for line in lines), lines
    [record] = [orjson.loads(line) for line in lines if "unhandled error" in line]
    assert record["path"] == "/integrations/v1/boom/{token}/"
