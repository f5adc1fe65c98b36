"""The console's webhook pages over HTTP (real app, real Redis, real delivery to a loopback
receiver): create, edit, enable and disable, delete, the delivery log, secrets never shown,
scopes, CSRF, other organizations, hostile names and response bodies, page weight."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis
from ingest.netguard import parse_networks
from ingest.settings import Settings
from ingest.store import webhooks as webhook_store
from tests.conftest import TokenFactory
from tests.console_helpers import Client, sign_in
from tests.console_helpers import secret_of as secret
from tests.group_helpers import fire, webhook
from tests.test_console import PAGE_LIMIT
from tests.webhook_helpers import delivering, eventually, receiving, responses

API = "/console/api/v1/webhooks/"
HOSTILE_NAME = '<script>window.pwned=1</script><img src=x onerror="x()">'
HOSTILE_BODY = '<script>window.pwned=2</script><img src=y onerror="y()">'
READER = ["integrations:read", "alert_groups:read", "outgoing_webhooks:read"]
CREATED = "alert group created"


@pytest.fixture
def settings(redis_server: EmbeddedRedis) -> Settings:
    """Webhooks may reach the loopback receiver (the guard refuses it by default)."""
    allowed = parse_networks("127.0.0.0/8")
    return Settings(redis_url=redis_server.url, base_url="http://testserver",
                    webhook_allowed_networks=allowed)  # fmt: skip


async def create(client: Client, csrf: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "tickets", "url": "https://hooks.example.com/a", "http_method": "POST",
            "trigger_type": CREATED, **fields}  # fmt: skip
    resp = await client.post(API, json=body, headers={"X-CSRF-Token": csrf})
    data: dict[str, Any] = await resp.json()
    assert resp.status == 201, data
    return data


async def sign_in_afresh(client: Client, headers: dict[str, str]) -> str:
    """Forget the current session's cookie and sign in with another token."""
    client.session.cookie_jar.clear()
    return await sign_in(client, secret(headers))


async def text_of(client: Client, path: str, status: int = 200) -> str:
    resp = await client.get(path)
    assert resp.status == status, path
    return await resp.text()


async def test_create_edit_disable_and_delete_through_the_console(
    client: Client, auth: dict[str, str]
) -> None:
    integration = await webhook(client, auth, name="payments")
    csrf = await sign_in(client, secret(auth))
    assert 'href="/console/webhooks"' in await text_of(client, "/console/integrations")
    form = await text_of(client, "/console/webhooks/new")
    assert "Create webhook" in form and 'value="payments"' not in form and "payments" in form
    chosen = [integration["id"]]
    hook = await create(client, csrf, trigger_type="resolve", integration_filter=chosen,
                        data='{"t": "{{ alert_group.title }}"}', forward_all=False,
                        signing_secret="sign-me-0123456789", password="pw-0123456789",
                        username="bot")  # fmt: skip
    listing = await text_of(client, "/console/webhooks")
    assert "tickets" in listing and "resolve" in listing and "payments" in listing
    page = await text_of(client, f"/console/webhooks/{hook['id']}")
    assert "Save webhook" in page and "No deliveries yet." in page
    assert f'<option value="{integration["id"]}" selected>payments</option>' in page
    assert "{{ alert_group.title }}" in page and "Remove signing secret" in page
    for hidden in ("sign-me-0123456789", "pw-0123456789", "****"):
        assert hidden not in page and hidden not in listing
    headers = {"X-CSRF-Token": csrf}
    resp = await client.patch(f"{API}{hook['id']}/", json={"is_webhook_enabled": False,
                              "trigger_type": "status change"}, headers=headers)  # fmt: skip
    assert resp.status == 200
    page = await text_of(client, f"/console/webhooks/{hook['id']}")
    assert ">disabled</span>" in page and ">Enable</button>" in page
    assert '<option value="status change" selected>' in page
    bad = await client.patch(f"{API}{hook['id']}/", json={"url": "{{ oops"}, headers=headers)
    assert bad.status == 400 and "url" in await bad.json()
    stored = await (await client.get(f"/api/v1/webhooks/{hook['id']}/", headers=auth)).json()
    assert stored["signing_secret"] == "****************" and stored["username"] == "bot"
    resp = await client.delete(f"{API}{hook['id']}/", headers=headers)
    assert resp.status == 204
    await text_of(client, f"/console/webhooks/{hook['id']}", 404)


async def test_delivery_log_shows_a_real_delivery_and_hostile_data_inert(
    client: Client, settings: Settings, redis: Redis, auth: dict[str, str]
) -> None:
    async def hostile(request: web.Request, n: int) -> web.StreamResponse:
        return web.Response(status=500 if n == 1 else 200, text=HOSTILE_BODY)

    integration = await webhook(client, auth)
    csrf = await sign_in(client, secret(auth))
    async with receiving(hostile) as rx, delivering(redis, settings):
        hook = await create(client, csrf, name=HOSTILE_NAME, url=rx.url + "/in",
                            authorization_header="Bearer top-secret-value")  # fmt: skip
        await fire(client, settings, integration, {"k": "a"})
        await rx.wait_for(2)

        async def logged() -> bool:
            return len(await responses(client, auth, hook["id"])) == 2

        await eventually(logged)
    for path in ("/console/webhooks", f"/console/webhooks/{hook['id']}",
                 f"/console/webhooks/{hook['id']}/deliveries"):  # fmt: skip
        text = await text_of(client, path)
        assert "<script>window" not in text and "<img src=" not in text, path
        assert "top-secret-value" not in text, path
    page = await text_of(client, f"/console/webhooks/{hook['id']}")
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page
    assert "&lt;script&gt;window.pwned=2&lt;/script&gt;" in page
    assert ">delivered</span>" in page and ">retrying</span>" in page
    assert ">500<" in page and "/in</pre>" in page and CREATED in page


async def test_a_full_delivery_log_page_stays_small(
    client: Client, redis: Redis, auth: dict[str, str]
) -> None:
    csrf = await sign_in(client, secret(auth))
    hook = await create(client, csrf)
    worst = '"<>&' * 1000  # what autoescaping inflates most, at the log's 4 KB cap
    entry = {"timestamp": "2026-01-01T00:00:00Z", "url": worst, "request_headers": worst,
             "request_data": worst, "content": worst, "event_type": CREATED, "attempt": 1,
             "outcome": "failed", "status_code": 400, "error": worst}  # fmt: skip
    for _ in range(webhook_store.MAX_RESPONSES):
        await webhook_store.add_response(redis, hook["id"], entry)
    body = await (await client.get(f"/console/webhooks/{hook['id']}")).read()
    assert len(body) < PAGE_LIMIT - 30_000  # room for the stylesheet and scripts
    assert b"page 1 of 10" in body and b"?page=2#deliveries" in body
    older = await text_of(client, f"/console/webhooks/{hook['id']}?page=10")
    assert "page 10 of 10" in older


async def test_read_only_and_no_webhook_scope(
    client: Client, auth: dict[str, str], make_token: TokenFactory
) -> None:
    csrf = await sign_in(client, secret(auth))
    hook = await create(client, csrf, password="pw-0123456789")
    reader_csrf = await sign_in_afresh(client, await make_token(scopes=READER))
    for path in ("/console/webhooks", f"/console/webhooks/{hook['id']}"):
        text = await text_of(client, path)
        for control in ("New webhook", "Save webhook", "Delete webhook", ">Disable<", "Remove "):
            assert control not in text, (path, control)
    headers = {"X-CSRF-Token": reader_csrf}
    for method, path, body in (("POST", API, {"name": "x"}),
                               ("PATCH", f"{API}{hook['id']}/", {"is_webhook_enabled": False}),
                               ("DELETE", f"{API}{hook['id']}/", None)):  # fmt: skip
        resp = await client.request(method, path, json=body, headers=headers)
        assert resp.status == 403 and "outgoing_webhooks:write" in await resp.text(), method
    outsider = ["integrations:read", "alert_groups:read"]
    await sign_in_afresh(client, await make_token(scopes=outsider))
    assert 'href="/console/webhooks"' not in await text_of(client, "/console/integrations")
    assert "outgoing_webhooks:read" in await text_of(client, "/console/webhooks", 403)


async def test_csrf_and_other_organizations(
    client: Client, auth: dict[str, str], make_token: TokenFactory
) -> None:
    csrf = await sign_in(client, secret(auth))
    hook = await create(client, csrf)
    body = {"name": "x", "url": "https://x.example/", "trigger_type": CREATED}
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        resp = await client.post(API, json=body, headers=headers)
        assert resp.status == 403 and "CSRF" in (await resp.json())["detail"]
        resp = await client.delete(f"{API}{hook['id']}/", headers=headers)
        assert resp.status == 403
    other = await sign_in_afresh(client, await make_token(org="org2"))
    await text_of(client, f"/console/webhooks/{hook['id']}", 404)
    assert "tickets" not in await text_of(client, "/console/webhooks")
    resp = await client.delete(f"{API}{hook['id']}/", headers={"X-CSRF-Token": other})
    assert resp.status == 404
