"""``/api/v1/webhooks/``: CRUD, validation on save, secrets masked, tenancy, scopes, responses."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.api.app import create_app
from ingest.netguard import parse_networks
from ingest.settings import Settings
from ingest.store import webhooks as store
from tests.conftest import ALL_SCOPES, AiohttpClient, TokenFactory
from tests.openapi_check import assert_valid

Client = TestClient[Any, Any]
URL = "/api/v1/webhooks/"
LIST, DETAIL = "/api/v1/webhooks/", "/api/v1/webhooks/{id}/"
WEBHOOK_SCOPES = ["outgoing_webhooks:read", "outgoing_webhooks:write", "integrations:write"]
MASK = "****************"
MINIMAL = {
    "name": "t3",
    "url": "https://example.com/x",
    "http_method": "POST",
    "trigger_type": "acknowledge",
}
KEY_ORDER = [
    "id",
    "name",
    "is_webhook_enabled",
    "team",
    "data",
    "username",
    "password",
    "authorization_header",
    "trigger_template",
    "headers",
    "url",
    "forward_all",
    "http_method",
    "trigger_type",
    "integration_filter",
    "preset",
    "signing_secret",
]


@pytest.fixture
async def wh_auth(make_token: TokenFactory) -> dict[str, str]:
    return await make_token(scopes=WEBHOOK_SCOPES)


async def create(client: Client, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    resp = await client.post(URL, json={**MINIMAL, **fields}, headers=auth)
    body: dict[str, Any] = await resp.json()
    assert resp.status == 201, body
    return body


async def test_minimal_create_has_the_reference_defaults_and_key_order(
    client: Client, wh_auth: dict[str, str]
) -> None:
    body = await create(client, wh_auth)
    assert list(body) == KEY_ORDER
    assert body["id"].startswith("WH") and len(body["id"]) == 14
    assert body["is_webhook_enabled"] is True and body["forward_all"] is True
    assert body["integration_filter"] is None and body["preset"] is None
    assert body["password"] is None and body["signing_secret"] is None
    assert_valid(body, LIST, "post", 201)
    got = await client.get(URL + body["id"], headers=wh_auth)
    assert await got.json() == body
    assert_valid(await got.json(), DETAIL, "get", 200)


async def test_secrets_are_masked_and_the_mask_keeps_them(
    client: Client, wh_auth: dict[str, str], redis: Redis
) -> None:
    secrets = {"password": "pw-1", "authorization_header": "Bearer s3", "signing_secret": "k" * 32}
    body = await create(client, wh_auth, username="u", **secrets)
    assert {k: body[k] for k in secrets} == dict.fromkeys(secrets, MASK)
    assert body["username"] == "u"
    listed = await (await client.get(URL, headers=wh_auth)).json()
    text = str(listed)
    assert all(value not in text for value in secrets.values())
    # a GET body sent back unchanged keeps every secret
    resp = await client.put(URL + body["id"], json=body, headers=wh_auth)
    assert resp.status == 200
    stored = await store.get(redis, "org1", body["id"])
    assert stored is not None
    assert (stored.password, stored.authorization_header) == ("pw-1", "Bearer s3")
    assert stored.signing_secret == "k" * 32
    # null clears, "" is kept as ""
    resp = await client.patch(
        URL + body["id"], json={"password": None, "authorization_header": ""}, headers=wh_auth
    )
    cleared = await resp.json()
    assert cleared["password"] is None and cleared["authorization_header"] == ""


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"url": "{{ payload. }}"}, "url", "Invalid template"),
        ({"data": "{% if %}"}, "data", "Invalid template"),
        ({"trigger_template": "{{ x | no_such_filter }}"}, "trigger_template", "no_such_filter"),
        ({"headers": "not json"}, "headers", "JSON object"),
        ({"url": "not a url"}, "url", "http:// or https://"),
        ({"url": "ftp://example.com/"}, "url", "http:// or https://"),
        ({"url": "http://127.0.0.1:9/"}, "url", "loopback"),
        ({"url": "http://localhost/hook"}, "url", "loopback"),
        ({"url": "http://[::1]/"}, "url", "loopback"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "url", "link-local"),
        ({"url": "http://10.0.0.1/"}, "url", "private"),
        ({"url": "http://[::ffff:10.0.0.1]/"}, "url", "private"),
        ({"url": "http://testserver/api/v1/integrations/"}, "url", "own base URL"),
        ({"url": ""}, "url", "blank"),
        ({"http_method": "post"}, "http_method", "Must be one of"),
        ({"trigger_type": "Acknowledge"}, "trigger_type", "Must be one of"),
        ({"trigger_type": None}, "trigger_type", "Must be one of"),
        ({"forward_all": None}, "forward_all", "may not be null"),
        ({"is_webhook_enabled": "maybe"}, "is_webhook_enabled", "boolean"),
        ({"integration_filter": "CABC"}, "integration_filter", "Expected a list"),
        ({"integration_filter": ["CNOPE"]}, "integration_filter", "does not exist"),
        ({"preset": "simple_webhook"}, "preset", "not supported"),
        ({"name": "x" * 101}, "name", "100 characters"),
        ({"password": 5}, "password", "string"),
    ],
)
async def test_bad_fields_are_400_naming_the_field(
    client: Client, wh_auth: dict[str, str], fields: dict[str, Any], field: str, fragment: str
) -> None:
    resp = await client.post(URL, json={**MINIMAL, **fields}, headers=wh_auth)
    body = await resp.json()
    assert resp.status == 400, body
    assert list(body) == [field], body
    assert fragment in body[field][0]
    assert_valid(body, LIST, "post", 400)


async def test_create_requires_the_four_fields(client: Client, wh_auth: dict[str, str]) -> None:
    resp = await client.post(URL, json={}, headers=wh_auth)
    body = await resp.json()
    assert resp.status == 400
    assert sorted(body) == ["http_method", "name", "trigger_type", "url"]


async def test_a_templated_url_is_checked_when_rendered(
    client: Client, wh_auth: dict[str, str]
) -> None:
    body = await create(client, wh_auth, url="https://{{ alert_group.labels.host }}/hook")
    assert body["url"] == "https://{{ alert_group.labels.host }}/hook"


async def test_allowed_networks_let_a_literal_address_through(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis, make_token: TokenFactory
) -> None:
    allowed = settings.replace(webhook_allowed_networks=parse_networks("127.0.0.0/8"))
    client = await aiohttp_client(create_app(allowed))
    auth = await make_token(scopes=WEBHOOK_SCOPES)
    body = await create(client, auth, url="http://127.0.0.1:9/hook")
    assert body["url"] == "http://127.0.0.1:9/hook"
    refused = await client.post(URL, json={**MINIMAL, "url": "http://10.1.2.3/"}, headers=auth)
    assert refused.status == 400


async def test_the_links_own_address_is_refused_too(
    aiohttp_client: AiohttpClient, settings: Settings, redis: Redis, make_token: TokenFactory
) -> None:
    """With links served apart (``LINKS_BASE_URL``), a webhook aimed at them would post every
    alert back in as a new one: a loop, refused like the API's own base URL."""
    apart = settings.replace(links_base_url="https://links.example.com")
    client = await aiohttp_client(create_app(apart))
    auth = await make_token(scopes=WEBHOOK_SCOPES)
    url = "https://links.example.com/integrations/v1/webhook/T0k3n/"
    refused = await client.post(URL, json={**MINIMAL, "url": url}, headers=auth)
    assert refused.status == 400
    assert "own base URL" in (await refused.json())["url"][0]


async def test_names_are_unique_per_organization(
    client: Client, wh_auth: dict[str, str], make_token: TokenFactory
) -> None:
    first = await create(client, wh_auth)
    again = await client.post(URL, json=MINIMAL, headers=wh_auth)
    assert again.status == 400
    assert await again.json() == {"name": ["A webhook with this name already exists."]}
    other = await create(client, wh_auth, name="other")
    rename = await client.patch(URL + other["id"], json={"name": "t3"}, headers=wh_auth)
    assert rename.status == 400
    same = await client.patch(URL + first["id"], json={"name": "t3"}, headers=wh_auth)
    assert same.status == 200
    org2 = await make_token(org="org2", scopes=WEBHOOK_SCOPES)
    assert (await client.post(URL, json=MINIMAL, headers=org2)).status == 201
    # a deleted webhook frees its name
    assert (await client.delete(URL + first["id"], headers=wh_auth)).status == 204
    assert (await client.post(URL, json=MINIMAL, headers=wh_auth)).status == 201


async def test_put_and_patch_keep_fields_not_sent(
    client: Client, wh_auth: dict[str, str], auth: dict[str, str]
) -> None:
    integ = await (await client.post("/api/v1/integrations/", json={"type": "webhook"},
                                     headers=auth)).json()  # fmt: skip
    body = await create(client, wh_auth, integration_filter=[integ["id"]], team="T1")
    assert body["integration_filter"] == [integ["id"]]
    resp = await client.put(URL + body["id"], json={"data": "{{ event.type }}"}, headers=wh_auth)
    updated = await resp.json()
    assert updated["integration_filter"] == [integ["id"]] and updated["team"] == "T1"
    assert updated["data"] == "{{ event.type }}"
    resp = await client.patch(URL + body["id"], json={"integration_filter": None}, headers=wh_auth)
    assert (await resp.json())["integration_filter"] is None
    assert_valid(updated, DETAIL, "put", 200)


async def test_list_filters_and_paginates(client: Client, wh_auth: dict[str, str]) -> None:
    for i in range(3):
        await create(client, wh_auth, name=f"w{i}", team="T1" if i else None)
    page = await (await client.get(URL + "?perpage=2", headers=wh_auth)).json()
    assert page["count"] == 3 and page["total_pages"] == 2
    assert [w["name"] for w in page["results"]] == ["w0", "w1"]
    assert_valid(page, LIST, "get", 200)
    named = await (await client.get(URL + "?name=w2", headers=wh_auth)).json()
    assert [w["name"] for w in named["results"]] == ["w2"]
    teamless = await (await client.get(URL + "?team_id=null", headers=wh_auth)).json()
    assert [w["name"] for w in teamless["results"]] == ["w0"]


async def test_other_organizations_see_nothing(
    client: Client, wh_auth: dict[str, str], make_token: TokenFactory
) -> None:
    body = await create(client, wh_auth)
    org2 = await make_token(org="org2", scopes=WEBHOOK_SCOPES)
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        resp = await client.request(method, URL + body["id"], json={}, headers=org2)
        assert resp.status == 404, method
    resp = await client.get(URL + body["id"] + "/responses/", headers=org2)
    assert resp.status == 404
    assert (await (await client.get(URL, headers=org2)).json())["count"] == 0


async def test_scopes_are_enforced(
    client: Client, wh_auth: dict[str, str], make_token: TokenFactory
) -> None:
    body = await create(client, wh_auth)
    others = await make_token(scopes=[s for s in ALL_SCOPES if "webhooks" not in s])
    assert (await client.get(URL, headers=others)).status == 403
    reader = await make_token(scopes=["grafana-oncall-app.outgoing-webhooks:read"])
    assert (await client.get(URL + body["id"], headers=reader)).status == 200
    assert (await client.post(URL, json={**MINIMAL, "name": "n"}, headers=reader)).status == 403
    assert (await client.delete(URL + body["id"], headers=reader)).status == 403
    assert (await client.get(URL)).status == 401


async def test_delete_removes_the_webhook_and_its_log(
    client: Client, wh_auth: dict[str, str], redis: Redis
) -> None:
    body = await create(client, wh_auth)
    await store.add_response(redis, body["id"], {"timestamp": "t", "status_code": 200})
    assert (await client.delete(URL + body["id"], headers=wh_auth)).status == 204
    assert (await client.get(URL + body["id"], headers=wh_auth)).status == 404
    assert (await client.delete(URL + body["id"], headers=wh_auth)).status == 404
    assert not await redis.exists(f"ai:webhook:{body['id']}:responses")
    await store.add_response(redis, body["id"], {"timestamp": "t"})  # a late attempt: not kept
    assert not await redis.exists(f"ai:webhook:{body['id']}:responses")


async def test_responses_are_newest_first_and_capped(
    client: Client, wh_auth: dict[str, str], redis: Redis
) -> None:
    body = await create(client, wh_auth)
    empty = await (await client.get(URL + body["id"] + "/responses/", headers=wh_auth)).json()
    assert empty["count"] == 0
    for i in range(105):
        await store.add_response(redis, body["id"], {"timestamp": str(i), "status_code": 200})
    page = await (await client.get(URL + body["id"] + "/responses", headers=wh_auth)).json()
    assert page["count"] == 100
    assert page["results"][0]["timestamp"] == "104"
    assert page["results"][0]["status_code"] == 200
    assert_valid(page, "/api/v1/webhooks/{id}/responses/", "get", 200)


async def test_unknown_keys_and_null_enabled_are_accepted(
    client: Client, wh_auth: dict[str, str]
) -> None:
    body = await create(client, wh_auth, id="WHMINE", extra=1, is_webhook_enabled=None)
    assert body["id"] != "WHMINE" and body["is_webhook_enabled"] is True
