"""The web console over HTTP (real app, real Redis, real worker): sessions, CSRF, scopes, headers,
escaping of hostile data, and that its pages show what the public API answers.

The browser walk-through is ``tests/test_console_browser.py``.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.api.app import create_app
from ingest.console import story
from ingest.console.filters import http_href
from ingest.settings import Settings
from ingest.store import tokens
from tests.conftest import AiohttpClient, TokenFactory
from tests.console_helpers import Client, csrf_of, secret_of, sign_in
from tests.group_helpers import fire, only_group, webhook
from tests.test_pipeline import make

READ_ONLY = ["integrations:read", "alert_groups:read"]
HOSTILE = {
    "k": "x",
    "title": "<script>window.pwned=1</script>",
    "img": '<img src=x onerror="window.pwned=1">',
    "link": "javascript:alert(1)",
}
PAGE_LIMIT = 200 * 1024


async def test_root_and_pages_send_visitors_to_sign_in(client: Client) -> None:
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/integrations"
    for path in ("/console/integrations", "/console/groups", "/console/groups/G1"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"] == "/console/sign-in", path
    resp = await client.get("/console/api/v1/integrations/")
    assert resp.status == 401 and (await resp.json())["detail"].startswith("Sign in")


async def test_security_headers_on_pages_errors_and_files(client: Client) -> None:
    for path in ("/console/sign-in", "/console/static/console.js", "/console/nope"):
        resp = await client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp and resp.headers["X-Content-Type-Options"] == "nosniff"
    page = await client.get("/console/sign-in")
    assert page.headers["Cache-Control"] == "no-store"
    assert "<script>" not in await page.text()  # only <script src=...>: nothing inline


async def test_sign_in_sets_a_strict_session_cookie(client: Client, auth: dict[str, str]) -> None:
    form = await client.get("/console/sign-in")
    login_cookie = form.headers["Set-Cookie"]
    assert "HttpOnly" in login_cookie and "SameSite=Strict" in login_cookie
    assert "Secure" not in login_cookie
    csrf = await sign_in(client, secret_of(auth))
    assert csrf
    page = await client.get("/console/integrations")
    assert secret_of(auth) not in await page.text()


async def test_cookie_is_secure_behind_https(
    aiohttp_client: AiohttpClient, redis: Redis, redis_server: Any, auth: dict[str, str]
) -> None:
    settings = Settings(redis_url=redis_server.url, base_url="https://alerts.example.com")
    https_client = await aiohttp_client(create_app(settings))
    form = await https_client.get("/console/sign-in")
    assert "Secure" in form.headers["Set-Cookie"]


async def test_bad_sign_ins_are_refused(client: Client, auth: dict[str, str]) -> None:
    await sign_in(client, "aik_not-a-token", status=401)
    resp = await client.post("/console/sign-in", data={"token": secret_of(auth)})
    assert resp.status == 403  # no login nonce: a cross-site form cannot sign a victim in
    assert (await client.get("/console/groups", allow_redirects=False)).status == 303


async def test_csrf_is_required_for_every_change(client: Client, auth: dict[str, str]) -> None:
    csrf = await sign_in(client, secret_of(auth))
    body = {"type": "webhook", "name": "via console"}
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        resp = await client.post("/console/api/v1/integrations/", json=body, headers=headers)
        assert resp.status == 403 and "CSRF" in (await resp.json())["detail"]
    resp = await client.post(
        "/console/api/v1/integrations/", json=body, headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 201
    refused = await client.post("/console/sign-out", data={"csrf": "wrong"})
    assert refused.status == 403
    assert (await client.get("/console/groups", allow_redirects=False)).status == 200
    done = await client.post("/console/sign-out", data={"csrf": csrf}, allow_redirects=False)
    assert done.status == 303
    assert (await client.get("/console/groups", allow_redirects=False)).status == 303


async def test_read_only_token_sees_no_controls_and_cannot_change(
    client: Client, auth: dict[str, str], make_token: TokenFactory, settings: Settings
) -> None:
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"})
    group = await only_group(client, auth)
    reader = await make_token(scopes=READ_ONLY)
    csrf = await sign_in(client, secret_of(reader))
    pages = {
        "/console/integrations": ["New integration"],
        f"/console/integrations/{integration['id']}": ["Save settings", "Delete integration"],
        f"/console/integrations/{integration['id']}/playground": ["Save templates"],
        "/console/groups": ["Acknowledge"],
        f"/console/groups/{group['id']}": ["Acknowledge", "Resolve"],
    }
    for path, controls in pages.items():
        text = await (await client.get(path)).text()
        for control in controls:
            assert control not in text, (path, control)
    headers = {"X-CSRF-Token": csrf}
    writes = [
        ("PATCH", f"/console/api/v1/integrations/{integration['id']}/", {"name": "x"}),
        ("POST", f"/console/api/v1/alert_groups/{group['id']}/acknowledge/", None),
        ("DELETE", f"/console/api/v1/integrations/{integration['id']}/", None),
    ]
    for method, path, body in writes:
        resp = await client.request(method, path, json=body, headers=headers)
        assert resp.status == 403, (method, path)
    assert (await only_group(client, auth))["state"] == "firing"


async def test_revoked_token_ends_the_session(
    client: Client, redis: Redis, make_token: TokenFactory
) -> None:
    headers = await make_token()
    await sign_in(client, secret_of(headers))
    assert (await client.get("/console/groups", allow_redirects=False)).status == 200
    [token] = [t for t in await tokens.list_tokens(redis) if t.revoked_at is None]
    await tokens.revoke_token(redis, token.id)
    assert (await client.get("/console/groups", allow_redirects=False)).status == 303


async def test_hostile_data_renders_inert(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    templates = {"grouping_key": "{{ payload.k }}", "web": {"title": "{{ payload.title }}"},
                 "source_link": "{{ payload.link }}"}  # fmt: skip
    integration = await make(client, auth, "webhook", name='<img src=x onerror="x()">',
                             templates=templates)  # fmt: skip
    await fire(client, settings, integration, HOSTILE)
    group = await only_group(client, auth)
    await sign_in(client, secret_of(auth))
    for path in ("/console/integrations", "/console/groups", f"/console/groups/{group['id']}"):
        text = await (await client.get(path)).text()
        assert "<script>window" not in text and "<img src=x" not in text, path
        assert 'href="javascript:' not in text, path
    page = await (await client.get(f"/console/groups/{group['id']}")).text()
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page
    assert "not an http(s) link" in page


async def test_pages_show_the_api_answers_and_stay_small(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration = await webhook(client, auth, name="payments")
    await fire(client, settings, integration, {"k": "a"}, {"k": "a"}, {"k": "b", "state": "ack"})
    await sign_in(client, secret_of(auth))
    listing = await (await client.get("/console/integrations")).text()
    assert "payments" in listing and "1 firing" in listing and "1 acknowledged" in listing
    group = await only_group_with(client, auth, "a")
    assert group["permalinks"]["web"] == f"http://testserver/console/groups/{group['id']}"
    page = await client.get(f"/console/groups/{group['id']}")
    text = await page.text()
    assert "Grouping key: a" in text and "opened a new alert group" in text
    assert "joined an open alert group" in text
    total = len(text.encode())
    assets = 0
    for name in ("console.css", "console.js", "playground.js"):
        assets += len(await (await client.get(f"/console/static/{name}")).read())
    for path in (f"/console/integrations/{integration['id']}/playground", "/console/groups"):
        resp = await client.get(path)
        body = await resp.read()
        assert len(body) + assets < PAGE_LIMIT, path
        assert re.fullmatch(r"page;dur=\d+\.\d", resp.headers["Server-Timing"]), path
    assert total + assets < PAGE_LIMIT


async def only_group_with(client: Client, auth: dict[str, str], key: str) -> dict[str, Any]:
    resp = await client.get("/api/v1/alert_groups/", headers=auth)
    groups = (await resp.json())["results"]
    [found] = [g for g in groups if g["title"] == f"Alert {key}"]
    return dict(found)


async def test_bridged_api_is_the_public_api(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"})
    csrf = await sign_in(client, secret_of(auth))
    direct = await (await client.get("/api/v1/alert_groups/?state=new", headers=auth)).json()
    bridged = await (await client.get("/console/api/v1/alert_groups/?state=new")).json()
    assert bridged["results"] == direct["results"]
    bad = await client.put(
        f"/console/api/v1/integrations/{integration['id']}/",
        json={"templates": {"web": {"title": "{{ oops"}}},
        headers={"X-CSRF-Token": csrf},
    )
    assert bad.status == 400
    assert "line 1" in str(await bad.json())


def test_story_tells_labels_route_and_problems() -> None:
    trace = {
        "labels": [{"key": "team", "value": "ops", "source": "dynamic"}],
        "dropped_labels": [{"key": "x", "value": None, "source": "multi", "reason": "empty"}],
        "grouping_key": "k1",
        "resolve_signal": False,
        "acknowledge_signal": True,
        "acknowledge_text": "True",
        "route": {"route_id": "R2", "tried": [
            {"route_id": "R1", "routing_type": "regex", "matched": False, "reason": "no match"},
            {"route_id": "R2", "routing_type": "labels", "matched": True, "reason": "labels"},
        ]},
        "issues": [{"template": "web.title", "kind": "error", "message": "line 3: boom"}],
        "group": {"id": "G1", "result": "acknowledged"},
    }  # fmt: skip
    steps = {s.heading: s for s in story.tell(trace)}
    assert steps["Labels"].lines[0] == "team = ops (from dynamic label template)"
    assert steps["Labels"].problem and "dropped x" in steps["Labels"].lines[1]
    assert "The acknowledge condition matched" in " ".join(steps["Grouping"].lines)
    assert steps["Route"].lines[-1] == "Chosen: route R2."
    assert "web.title (error): line 3: boom" in steps["Template problems"].lines
    assert "acknowledged it" in steps["Outcome"].lines[0]
    assert [s.heading for s in story.tell({})] == ["Labels", "Grouping", "Route"]


def test_only_http_links_are_linked() -> None:
    assert http_href("https://grafana.example/d/1") == "https://grafana.example/d/1"
    for bad in ("javascript:alert(1)", " JaVaScRiPt:x", "data:text/html,x", "//evil", "", None):
        assert http_href(bad) is None, bad


async def test_session_key_holds_no_cookie_secret(
    client: TestClient[Any, Any], auth: dict[str, str], redis: Redis
) -> None:
    await sign_in(client, secret_of(auth))
    cookie = next(c for c in client.session.cookie_jar if c.key == "ai_console")
    stored = [k.decode() async for k in redis.scan_iter("ai:console-session:*")]
    assert len(stored) == 1 and cookie.value not in stored[0]
    assert secret_of(auth) not in str(await redis.get(stored[0]))
    assert await csrf_of(client)


async def test_another_organizations_objects_are_not_found(
    client: Client, auth: dict[str, str], make_token: TokenFactory, settings: Settings
) -> None:
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"})
    group = await only_group(client, auth)
    csrf = await sign_in(client, secret_of(await make_token(org="org2")))
    for path in (f"/console/groups/{group['id']}", f"/console/integrations/{integration['id']}",
                 f"/console/integrations/{integration['id']}/playground"):  # fmt: skip
        resp = await client.get(path)
        assert resp.status == 404 and "Not found." in await resp.text(), path
    listing = await (await client.get("/console/groups")).text()
    assert group["id"] not in listing and "No alert groups match." in listing
    resp = await client.post(
        f"/console/api/v1/alert_groups/{group['id']}/resolve/", headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 404


async def test_heartbeat_state_on_the_integration_pages(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    integration = await make(client, auth, "alertmanager", heartbeat_timeout=60)
    await sign_in(client, secret_of(auth))
    page = f"/console/integrations/{integration['id']}"
    assert "no heartbeat yet" in await (await client.get(page)).text()
    assert (await client.get(integration["path"] + "heartbeat/")).status == 200
    for path in (page, "/console/integrations"):
        text = await (await client.get(path)).text()
        assert ">alive</span>" in text and "timeout 60 s" in text and "last 20" in text, path
    await redis.zadd("ai:heartbeats", {integration["id"]: 1_000_000_000})
    for path in (page, "/console/integrations"):
        text = await (await client.get(path)).text()
        assert ">expired</span>" in text and "last 2001-09-09 01:46:40" in text, path


async def test_escalation_chains_are_picked_for_every_route(
    client: Client, auth: dict[str, str]
) -> None:
    integration = await webhook(client, auth)
    resp = await client.post("/api/v1/escalation_chains/", json={"name": "<b>night</b>"},
                             headers=auth)  # fmt: skip
    chain = await resp.json()
    csrf = await sign_in(client, secret_of(auth))
    page = f"/console/integrations/{integration['id']}"
    option = f'<option value="{chain["id"]}">&lt;b&gt;night&lt;/b&gt;</option>'
    assert option in await (await client.get(page)).text()
    headers = {"X-CSRF-Token": csrf}
    default = integration["default_route"]["id"]
    picked = {"escalation_chain_id": chain["id"]}
    resp = await client.patch(f"/console/api/v1/routes/{default}/", json=picked, headers=headers)
    assert resp.status == 200
    added = {"integration_id": integration["id"], "routing_type": "regex",
             "routing_regex": "db", "labels": [], "escalation_chain_id": None}  # fmt: skip
    resp = await client.post("/console/api/v1/routes/", json=added, headers=headers)
    assert resp.status == 201, await resp.text()
    text = await (await client.get(page)).text()
    assert text.count(" selected>&lt;b&gt;night&lt;/b&gt;</option>") == 1
    assert 'id="chain-' in text and 'id="new-route-chain"' in text
