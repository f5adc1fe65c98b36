"""Integrations API: shapes, create/update/delete rules, labels, templates, pagination, tenancy."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.store import keys
from tests.conftest import TokenFactory

Client = TestClient[Any, Any]
URL = "/api/v1/integrations/"
KEYS = {
    "id", "name", "description_short", "team_id", "link", "inbound_email", "type", "labels",
    "dynamic_labels", "templates", "default_route", "heartbeat", "maintenance_mode",
    "maintenance_started_at", "maintenance_end_at",
}  # fmt: skip


async def create(client: Client, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = await client.post(URL, json=body, headers=auth)
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def test_create_grafana_matches_the_document(client: Client, auth: dict[str, str]) -> None:
    data = await create(client, auth, type="grafana")
    assert set(data) >= KEYS
    assert re.fullmatch(r"C[A-NP-Z1-9]{12}", data["id"])
    assert data["name"] == "Grafana :blush:"
    assert data["type"] == "grafana"
    assert data["team_id"] is None and data["inbound_email"] is None
    assert re.fullmatch(
        r"http://testserver/integrations/v1/grafana/[A-Za-z0-9]{25,}/", data["link"]
    )
    assert data["heartbeat"] == {"link": data["link"] + "heartbeat/", "timeout": 600,
                                 "last_heartbeat_at": None, "status": "waiting"}  # fmt: skip
    assert data["templates"]["grouping_key"] is None
    assert data["templates"]["slack"] == {"title": None, "message": None, "image_url": None}
    assert data["templates"]["msteams"] == {"title": None, "message": None, "image_url": None}
    assert data["templates"]["sms"] == {"title": None}
    route = data["default_route"]
    assert re.fullmatch(r"R[A-NP-Z1-9]{12}", route["id"])
    assert route["escalation_chain_id"] is None
    assert route["slack"] == {"channel_id": None, "enabled": True}
    assert route["telegram"] == {"id": None, "enabled": False}
    assert data["labels"] == [] and data["dynamic_labels"] == []


async def test_heartbeat_status_follows_the_last_heartbeat(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    data = await create(client, auth, type="alertmanager", heartbeat_timeout=60)
    assert (await client.post(data["heartbeat"]["link"].removeprefix("http://testserver"))).ok
    one = await (await client.get(f"{URL}{data['id']}/", headers=auth)).json()
    assert one["heartbeat"]["status"] == "alive"
    beat = datetime.fromisoformat(one["heartbeat"]["last_heartbeat_at"])
    assert abs(beat.timestamp() - time.time()) < 60
    await redis.zadd("ai:heartbeats", {data["id"]: time.time() - 61})
    [listed] = (await (await client.get(URL, headers=auth)).json())["results"]
    assert listed["heartbeat"]["status"] == "expired"
    assert listed["heartbeat"]["last_heartbeat_at"] < one["heartbeat"]["last_heartbeat_at"]


async def test_heartbeat_timeout_is_writable_as_the_api_shows_it(
    client: Client, auth: dict[str, str]
) -> None:
    """``heartbeat.timeout`` is the answer's spelling of ``heartbeat_timeout``: sent back, it is
    stored (never a 200 that drops it); the read-only keys beside it are ignored."""
    data = await create(client, auth, type="alertmanager", heartbeat={"timeout": 90})
    assert data["heartbeat"]["timeout"] == 90
    url = f"{URL}{data['id']}/"
    for method, timeout in (("PUT", 120), ("PATCH", 180)):
        sent = {**data["heartbeat"], "timeout": timeout, "status": "alive", "link": "x"}
        resp = await client.request(method, url, json={"heartbeat": sent}, headers=auth)
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["heartbeat"] == {**data["heartbeat"], "timeout": timeout}
    shown = await (await client.get(url, headers=auth)).json()
    assert shown["heartbeat"]["timeout"] == 180
    same = {"heartbeat_timeout": 300, "heartbeat": {"timeout": 300}}
    assert (await (await client.put(url, json=same, headers=auth)).json())["heartbeat"][
        "timeout"
    ] == 300
    for body, errors in [
        ({"heartbeat": {"timeout": 30}}, {"heartbeat": {"timeout": ["Must be whole seconds "
                                                                   "from 60 to 604800."]}}),
        ({"heartbeat": {"timeout": "120"}}, {"heartbeat": {"timeout": ["Must be whole seconds "
                                                                      "from 60 to 604800."]}}),
        ({"heartbeat_timeout": 120, "heartbeat": {"timeout": 240}},
         {"heartbeat": {"timeout": ["Differs from heartbeat_timeout; send one of them."]}}),
        ({"heartbeat": {"interval": 5}}, {"heartbeat": {"interval": [
            "Unknown field 'interval'; heartbeat accepts: timeout, link, last_heartbeat_at, "
            "status."]}}),
        ({"heartbeat": 120}, {"heartbeat": ["Expected an object or null, got integer."]}),
    ]:  # fmt: skip
        resp = await client.put(url, json=body, headers=auth)
        assert (resp.status, await resp.json()) == (400, errors)
    assert (await (await client.get(url, headers=auth)).json())["heartbeat"]["timeout"] == 300
    # a type without a heartbeat answers null, and null sent back is accepted
    plain = await create(client, auth, type="grafana_alerting")
    assert plain["heartbeat"] is None
    resp = await client.put(f"{URL}{plain['id']}/", json={"heartbeat": None}, headers=auth)
    assert resp.status == 200


async def test_default_names_count_every_integration_ever_created(
    client: Client, auth: dict[str, str]
) -> None:
    names = [(await create(client, auth, type="webhook"))["name"] for _ in range(3)]
    assert names == ["Webhook :blush:", "Webhook :ghost:", "Webhook :apple:"]
    first = await client.get(URL, headers=auth)
    victim = (await first.json())["results"][0]["id"]
    assert (await client.delete(URL + victim, headers=auth)).status == 204
    for _ in range(8):
        last = await create(client, auth, type="alertmanager")
    assert last["name"] == "Alertmanager :ghost::blush:"


async def test_raw_token_and_bearer_both_work(client: Client, make_token: TokenFactory) -> None:
    raw = await make_token(bearer=False)
    resp = await client.get(URL, headers={**raw, "X-Grafana-URL": "https://x.grafana.net"})
    assert resp.status == 200
    body = await resp.json()
    assert body == {
        "count": 0, "next": None, "previous": None, "results": [],
        "current_page_number": 1, "page_size": 50, "total_pages": 1,
    }  # fmt: skip


@pytest.mark.parametrize("header", [None, "Bearer nope", "nope"])
async def test_unknown_or_missing_token_is_401(client: Client, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    resp = await client.get(URL, headers=headers)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert await resp.json() == {"detail": "Invalid token."}


async def test_read_only_token_cannot_write(client: Client, make_token: TokenFactory) -> None:
    ro = await make_token(scopes=["grafana-irm-app.integrations:read"])
    assert (await client.get(URL, headers=ro)).status == 200
    resp = await client.post(URL, json={"type": "webhook"}, headers=ro)
    assert resp.status == 403
    detail = (await resp.json())["detail"]
    assert detail.startswith("You do not have permission to perform this action")


async def test_alert_group_scope_does_not_read_integrations(
    client: Client, make_token: TokenFactory
) -> None:
    token = await make_token(scopes=["alert_groups:read"])
    assert (await client.get(URL, headers=token)).status == 403


async def test_other_organization_sees_404_and_empty_list(
    client: Client, auth: dict[str, str], make_token: TokenFactory
) -> None:
    mine = await create(client, auth, type="webhook")
    other = await make_token(org="org2")
    for method in ("GET", "PUT", "DELETE"):
        resp = await client.request(method, URL + mine["id"] + "/", json={}, headers=other)
        assert resp.status == 404
        assert await resp.json() == {"detail": "Not found."}
    assert (await (await client.get(URL, headers=other)).json())["count"] == 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"type": ["This field is required."]}),
        ({"type": None}, {"type": ["This field may not be null."]}),
        ({"type": "bogus", "name": ""}, {"detail": "Invalid integration type"}),
        ({"type": "legacy_alertmanager"}, {"detail": "This integration type is deprecated"}),
        ({"type": "direct_paging"}, {"detail": "Direct paging integrations can't be created"}),
        ({"type": "webhook", "name": ""}, {"name": ["This field may not be blank."]}),
        (
            {"type": "webhook", "description_short": "x" * 251},
            {"description_short": ["Ensure this field has no more than 250 characters."]},
        ),
    ],
)
async def test_create_validation(
    client: Client, auth: dict[str, str], body: dict[str, Any], expected: dict[str, Any]
) -> None:
    resp = await client.post(URL, json=body, headers=auth)
    assert resp.status == 400
    assert await resp.json() == expected


async def test_all_nine_types_and_their_links(client: Client, auth: dict[str, str]) -> None:
    with_heartbeat = {
        "alertmanager",
        "grafana",
        "webhook",
        "formatted_webhook",
        "elastalert",
        "zabbix",
    }
    for kind in ("alertmanager", "grafana_alerting", "grafana", "webhook", "formatted_webhook",
                 "kapacitor", "elastalert", "zabbix", "manual"):  # fmt: skip
        data = await create(client, auth, type=kind)
        if kind == "manual":
            assert data["link"] is None and data["heartbeat"] is None
            continue
        assert data["link"].startswith(f"http://testserver/integrations/v1/{kind}/")
        assert (data["heartbeat"] is not None) == (kind in with_heartbeat)


async def test_a_held_integrations_lock_answers_503_with_retry_after(
    client: Client, auth: dict[str, str], redis: Redis
) -> None:
    """Another writer holding the organization's lock past the wait: 503, retry in a second."""
    await redis.set(keys.lock("integrations:org1"), "someone-else", px=60_000)
    began = time.monotonic()
    resp = await client.post(URL, json={"type": "webhook"}, headers=auth)
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    assert await resp.json() == {
        "detail": "Another change of this organization's integrations is in progress; retry."
    }
    assert time.monotonic() - began >= 4.5  # it waited for the holder before giving up
    await redis.delete(keys.lock("integrations:org1"))
    await create(client, auth, type="webhook")


async def test_name_unique_per_team(client: Client, auth: dict[str, str]) -> None:
    first = await create(client, auth, type="webhook", name="prod")
    resp = await client.post(URL, json={"type": "webhook", "name": "prod"}, headers=auth)
    assert resp.status == 400
    assert await resp.json() == {
        "detail": "An integration with this name already exists for this team"
    }
    await create(client, auth, type="webhook", name="prod", team_id="TEAM1")
    ok = await client.put(
        URL + first["id"], json={"name": "prod", "description_short": "d"}, headers=auth
    )
    assert ok.status == 200
    clash = await client.put(
        URL + first["id"], json={"name": "prod", "team_id": "TEAM1"}, headers=auth
    )
    assert clash.status == 400


async def test_put_is_partial_and_type_is_immutable(client: Client, auth: dict[str, str]) -> None:
    data = await create(client, auth, type="alertmanager", description_short="keep me")
    resp = await client.put(URL + data["id"] + "/", json={"name": "renamed"}, headers=auth)
    body = await resp.json()
    assert resp.status == 200
    assert body["name"] == "renamed" and body["description_short"] == "keep me"
    same_type = await client.put(URL + data["id"], json={"type": "alertmanager"}, headers=auth)
    assert same_type.status == 200
    resp = await client.put(URL + data["id"], json={"type": "webhook"}, headers=auth)
    assert resp.status == 400
    assert await resp.json() == {"type": ["Integration type can't be changed."]}


async def test_templates_merge_and_null_resets(client: Client, auth: dict[str, str]) -> None:
    data = await create(client, auth, type="grafana")
    url = URL + data["id"]
    put: dict[str, Any] = {
        "templates": {"grouping_key": "ip_addr", "slack": {"title": "Incident", "message": "m"}}
    }
    body = await (await client.put(url, json=put, headers=auth)).json()
    assert body["templates"]["grouping_key"] == "ip_addr"
    assert body["templates"]["slack"] == {"title": "Incident", "message": "m", "image_url": None}
    put = {"templates": {"slack": {"title": None}, "sms": {}}}
    body = await (await client.put(url, json=put, headers=auth)).json()
    assert body["templates"]["slack"] == {"title": None, "message": "m", "image_url": None}
    assert body["templates"]["grouping_key"] == "ip_addr"
    put = {"templates": {"slack": None, "grouping_key": None, "resolve_signal": ""}}
    body = await (await client.put(url, json=put, headers=auth)).json()
    assert body["templates"]["slack"] == {"title": None, "message": None, "image_url": None}
    assert body["templates"]["grouping_key"] is None
    assert body["templates"]["resolve_signal"] == ""


@pytest.mark.parametrize(
    ("templates", "path"),
    [
        ({"slack": {"title": "{%  invalid jinja template }}"}}, ("slack", "title")),
        ({"resolve_signal": "{%  invalid jinja template }}"}, ("resolve_signal",)),
        ({"web": {"message": "ok\n{{ x | nofilter }}"}}, ("web", "message")),
        ({"grouping_key": {}}, ("grouping_key",)),
        ({"web": "invalid_web_template"}, ("web",)),
        ({"sms": {"message": "x"}}, ("sms", "message")),
        ({"slack": {"title": 5}}, ("slack", "title")),
    ],
)
async def test_bad_templates_name_the_template(
    client: Client, auth: dict[str, str], templates: dict[str, Any], path: tuple[str, ...]
) -> None:
    data = await create(client, auth, type="grafana")
    resp = await client.put(URL + data["id"], json={"templates": templates}, headers=auth)
    assert resp.status == 400
    node: Any = (await resp.json())["templates"]
    for part in path:
        node = node[part]
    assert isinstance(node, list) and node and isinstance(node[0], str)
    after = await (await client.get(URL + data["id"], headers=auth)).json()
    assert after["templates"] == data["templates"]


async def test_template_compile_error_names_the_line(client: Client, auth: dict[str, str]) -> None:
    data = await create(client, auth, type="grafana")
    put = {"templates": {"web": {"message": "line one\nline two\n{{ oops ( }}"}}}
    resp = await client.put(URL + data["id"], json=put, headers=auth)
    message = (await resp.json())["templates"]["web"]["message"][0]
    assert "line 3" in message


async def test_template_over_length_limit(client: Client, auth: dict[str, str]) -> None:
    data = await create(client, auth, type="grafana")
    put = {"templates": {"web": {"title": "x" * 50_001}}}
    resp = await client.put(URL + data["id"], json=put, headers=auth)
    assert resp.status == 400
    assert "50000" in (await resp.json())["templates"]["web"]["title"][0]


def labels(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"key": {"name": k}, "value": {"name": v}} for k, v in pairs]


async def test_labels_from_the_document_are_accepted(client: Client, auth: dict[str, str]) -> None:
    static = labels(("team", "SRE"), ("environment", "production"), ("version", "v1.2-x_y"))
    dynamic = labels(
        ("severity", "{{ payload.get('severity', 'unknown') }}"),
        ("service", "{{ payload.commonLabels.get('service_name', '') }}"),
    )
    data = await create(client, auth, type="webhook", labels=static, dynamic_labels=dynamic)
    assert data["labels"] == static and data["dynamic_labels"] == dynamic
    kept = await (await client.put(URL + data["id"], json={"name": "n"}, headers=auth)).json()
    assert kept["labels"] == static
    cleared = await (await client.put(URL + data["id"], json={"labels": []}, headers=auth)).json()
    assert cleared["labels"] == [] and cleared["dynamic_labels"] == dynamic


@pytest.mark.parametrize("key", ["1abc", "abc_", "_abc", "abc1", "a-b", "a" * 64, "", "é"])
async def test_bad_label_keys_are_rejected(client: Client, auth: dict[str, str], key: str) -> None:
    for field in ("labels", "dynamic_labels"):
        value = "{{ payload.x }}" if field == "dynamic_labels" else "v"
        resp = await client.post(
            URL, json={"type": "webhook", field: labels((key, value))}, headers=auth
        )
        assert resp.status == 400
        message = (await resp.json())[field][0]
        assert repr(key) in message


@pytest.mark.parametrize("key", ["a", "team", "a_b", "A" * 63, "k9x"])
async def test_good_label_keys(client: Client, auth: dict[str, str], key: str) -> None:
    await create(client, auth, type="webhook", labels=labels((key, "v")))


@pytest.mark.parametrize("value", ["1abc", "abc1", "a" * 64, "", "a b", "a/b"])
async def test_bad_static_label_values(client: Client, auth: dict[str, str], value: str) -> None:
    resp = await client.post(
        URL, json={"type": "webhook", "labels": labels(("k", value))}, headers=auth
    )
    assert resp.status == 400
    assert "'k'" in (await resp.json())["labels"][0]


@pytest.mark.parametrize("value", ["SRE", "production", "v1.2-x_y", "a", "-x-", "x" * 63, ".a."])
async def test_good_static_label_values(client: Client, auth: dict[str, str], value: str) -> None:
    await create(client, auth, type="webhook", labels=labels(("k", value)))


async def test_duplicate_label_keys_and_bad_dynamic_template(
    client: Client, auth: dict[str, str]
) -> None:
    body = {
        "type": "webhook",
        "labels": labels(("team", "a"), ("team", "b")),
        "dynamic_labels": labels(("sev", "{{ payload.x "), ("ok", "{{ 1 }}"), ("ok", "{{ 2 }}")),
        "name": "",
    }
    resp = await client.post(URL, json=body, headers=auth)
    errors = await resp.json()
    assert resp.status == 400
    assert any("'team'" in m and "Duplicate" in m for m in errors["labels"])
    assert any("'sev'" in m for m in errors["dynamic_labels"])
    assert any("'ok'" in m and "Duplicate" in m for m in errors["dynamic_labels"])
    assert errors["name"] == ["This field may not be blank."]


async def test_default_route_changes(client: Client, auth: dict[str, str]) -> None:
    data = await create(
        client, auth, type="grafana",
        default_route={"escalation_chain_id": None, "slack": {"channel_id": "CH23212D"}},
    )  # fmt: skip
    assert data["default_route"]["slack"] == {"channel_id": "CH23212D", "enabled": True}
    put = {"default_route": {"telegram": {"id": "Z1", "enabled": True}}}
    body = await (await client.put(URL + data["id"], json=put, headers=auth)).json()
    assert body["default_route"]["telegram"] == {"id": "Z1", "enabled": True}
    assert body["default_route"]["slack"]["channel_id"] == "CH23212D"
    assert body["default_route"]["id"] == data["default_route"]["id"]


async def test_pagination_links_and_filters(client: Client, auth: dict[str, str]) -> None:
    for n in range(5):
        await create(client, auth, type="webhook" if n % 2 else "alertmanager", name=f"i{n}")
    resp = await client.get(URL + "?perpage=2&page=2&type=alertmanager", headers=auth)
    body = await resp.json()
    assert body["count"] == 3 and body["total_pages"] == 2 and body["current_page_number"] == 2
    assert [r["name"] for r in body["results"]] == ["i4"]
    assert body["next"] is None
    assert body["previous"] == "http://testserver/api/v1/integrations/?perpage=2&type=alertmanager"
    first = await (await client.get(URL + "?perpage=2", headers=auth)).json()
    assert first["next"] == "http://testserver/api/v1/integrations/?page=2&perpage=2"
    assert [r["name"] for r in first["results"]] == ["i0", "i1"]
    past = await (await client.get(URL + "?perpage=2&page=99", headers=auth)).json()
    assert past["current_page_number"] == 3 and [r["name"] for r in past["results"]] == ["i4"]
    capped = await (await client.get(URL + "?perpage=500&page=x", headers=auth)).json()
    assert capped["page_size"] == 100 and capped["current_page_number"] == 1
    named = await (await client.get(URL + "?name=i3", headers=auth)).json()
    assert [r["name"] for r in named["results"]] == ["i3"]


async def test_label_filter(client: Client, auth: dict[str, str]) -> None:
    await create(
        client, auth, type="webhook", name="a", labels=labels(("team", "sre"), ("env", "prod"))
    )
    await create(client, auth, type="webhook", name="b", labels=labels(("team", "sre")))
    got = await (await client.get(URL + "?label=team:sre&label=env:prod", headers=auth)).json()
    assert [r["name"] for r in got["results"]] == ["a"]


async def test_delete_keeps_id_unique_and_gone(client: Client, auth: dict[str, str]) -> None:
    data = await create(client, auth, type="webhook")
    assert (await client.delete(URL + data["id"] + "/", headers=auth)).status == 204
    for method in ("GET", "PUT", "DELETE"):
        assert (await client.request(method, URL + data["id"], json={}, headers=auth)).status == 404


async def test_maintenance_start_and_stop(client: Client, auth: dict[str, str]) -> None:
    data = await create(client, auth, type="webhook")
    url = URL + data["id"]
    start = {"mode": "Maintenance", "duration": 100}
    resp = await client.post(url + "/maintenance_start/", json=start, headers=auth)
    body = await resp.json()
    assert resp.status == 200 and body["maintenance_mode"] == "maintenance"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["maintenance_started_at"])
    again = await client.post(url + "/maintenance_start", json={"mode": "debug", "duration": 5},
                              headers=auth)  # fmt: skip
    assert await again.json() == {"detail": "Already on maintenance"}
    bad = await client.post(
        url + "/maintenance_start", json={"mode": "x", "duration": -1}, headers=auth
    )
    assert set(await bad.json()) == {"mode", "duration"}
    stopped = await (await client.post(url + "/maintenance_stop/", headers=auth)).json()
    assert stopped["maintenance_mode"] is None and stopped["maintenance_end_at"] is None


async def test_errors_are_json(client: Client, auth: dict[str, str]) -> None:
    resp = await client.request("PUT", URL, json={}, headers=auth)
    assert resp.status == 405
    assert await resp.json() == {"detail": 'Method "PUT" not allowed.'}
    assert "GET" in resp.headers["Allow"]
    resp = await client.post(
        URL, data=b"{bad", headers={**auth, "Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert (await resp.json())["detail"].startswith("JSON parse error - ")
    resp = await client.post(URL, data=b"x", headers={**auth, "Content-Type": "text/plain"})
    assert resp.status == 415
    resp = await client.post(URL, data=b"[1]", headers={**auth, "Content-Type": "application/json"})
    assert resp.status == 400
    resp = await client.get("/api/v1/nothing-here", headers=auth)
    assert resp.status == 404 and await resp.json() == {"detail": "Not found."}


async def test_form_body_is_accepted(client: Client, auth: dict[str, str]) -> None:
    resp = await client.post(URL, data={"type": "webhook", "name": "from-form"}, headers=auth)
    assert resp.status == 201
    assert (await resp.json())["name"] == "from-form"


async def test_api_rate_limit_per_token(
    aiohttp_client: Any, settings: Any, redis: Any, make_token: TokenFactory
) -> None:
    from ingest.api.app import create_app
    from ingest.settings import Rate

    client = await aiohttp_client(create_app(settings.replace(rate_limit_api=Rate(2, 60))))
    token = await make_token()
    assert (await client.get(URL, headers=token)).status == 200
    assert (await client.get(URL, headers=token)).status == 200
    resp = await client.get(URL, headers=token)
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1
    other = await make_token()
    assert (await client.get(URL, headers=other)).status == 200


async def test_concurrent_creates_with_one_name_make_one_integration(
    aiohttp_client: Any, settings: Any, redis: Any, auth: dict[str, str]
) -> None:
    import asyncio

    from ingest.api.app import create_app

    replicas = [await aiohttp_client(create_app(settings)) for _ in range(2)]
    body = {"type": "webhook", "name": "only-one"}
    answers = await asyncio.gather(
        *(replicas[n % 2].post(URL, json=body, headers=auth) for n in range(10))
    )
    assert sorted(r.status for r in answers) == [201] + [400] * 9


async def test_concurrent_updates_lose_nothing(client: Client, auth: dict[str, str]) -> None:
    import asyncio

    data = await create(client, auth, type="webhook")
    url = URL + data["id"]
    puts = [
        client.put(url, json={"templates": {"slack": {"title": f"t{n}"}}}, headers=auth)
        if n % 2 == 0
        else client.put(url, json={"templates": {"web": {"message": f"m{n}"}}}, headers=auth)
        for n in range(8)
    ]
    assert {r.status for r in await asyncio.gather(*puts)} == {200}
    final = await (await client.get(url, headers=auth)).json()
    assert final["templates"]["slack"]["title"] is not None
    assert final["templates"]["web"]["message"] is not None
