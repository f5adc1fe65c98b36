"""``alert-ingest import oncall`` against an OnCall-shaped API: links keep working, routes route
as they did, a second run changes nothing, ``--dry-run`` writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from ingest.models import Route
from ingest.settings import Settings
from ingest.store import integrations as integration_store
from ingest.store import oncall_ids
from ingest.store import routes as route_store
from tests.conftest import TokenFactory
from tests.import_helpers import am_payload, run_import, snapshot, standard
from tests.oncall_fake import FakeOnCall
from tests.worker_helpers import all_groups, drain

Client = TestClient[Any, Any]
AiohttpServer = Any


async def serve(aiohttp_server: AiohttpServer, fake: FakeOnCall) -> TestServer:
    server: TestServer = await aiohttp_server(fake.app())
    return server


async def test_import_keeps_links_and_routes_alerts_as_oncall_did(
    aiohttp_server: AiohttpServer,
    client: Client,
    make_token: TokenFactory,
    redis: Redis,
    settings: Settings,
) -> None:
    auth = await make_token(org="acme")
    fake = FakeOnCall(page_size=3)
    seeded = standard(fake)
    # the second page of integrations: 429 with Retry-After 0 (under a second left), as OnCall
    # sends it; asking again at once would only be throttled again
    fake.throttle = {3}
    server = await serve(aiohttp_server, fake)

    code, out = await run_import(redis, settings, server)

    assert code == 0, out
    assert "read 7 integrations" in out and "throttled 1 request" in out
    assert "OnCall's links are under" not in out
    assert ("/api/v1/integrations/?page=2&perpage=100", 429) in fake.requests
    assert "integrations: 7 create" in out and "routes: 4 create" in out
    assert "escalation chains: 3 create" in out
    ids = await oncall_ids.load(redis, "acme")
    am = await integration_store.get(redis, "acme", ids[seeded["am"]["id"]])
    assert am is not None and am.type == "alertmanager" and am.name == "prod-am"
    assert am.templates["web"]["title"] == "AM {{ payload.commonLabels.alertname }}"
    old_link = seeded["am"]["link"]
    path = old_link.removeprefix("http://oncall.example")
    listed = await (await client.get(f"/api/v1/integrations/{am.id}/", headers=auth)).json()
    assert listed["link"] == "http://testserver" + path
    assert listed["default_route"]["escalation_chain_id"] == ids[seeded["sre"]]
    routes = await (
        await client.get(f"/api/v1/routes/?integration_id={am.id}", headers=auth)
    ).json()
    assert [(r["routing_type"], r["position"]) for r in routes["results"]] == [
        ("regex", 0), ("jinja2", 1), ("regex", 2), ("regex", 0)
    ]  # fmt: skip
    assert routes["results"][0]["escalation_chain_id"] == ids[seeded["db"]]

    posts = [
        am_payload("k-db", alertname="Slow", team="db", severity="warning"),
        am_payload("k-crit", alertname="Down", severity="critical"),
        am_payload("k-crit", alertname="Down", severity="critical"),
        am_payload("k-other", alertname="Meh", severity="info"),
    ]
    for payload in posts:
        resp = await client.post(path, json=payload)
        assert resp.status == 200, await resp.text()
    assert (await client.get(path + "heartbeat/")).status == 200
    await drain(settings)
    groups = {g["route_id"]: g for g in await all_groups(redis, "acme")}
    assert set(groups) == {
        ids[seeded["critical"]["id"]],
        ids[seeded["team_db"]["id"]],
        am.default_route_id,
    }
    assert groups[ids[seeded["critical"]["id"]]]["alerts_count"] == "2"


async def test_second_run_changes_nothing_and_dry_run_writes_nothing(
    aiohttp_server: AiohttpServer, redis: Redis, settings: Settings
) -> None:
    fake = FakeOnCall()
    standard(fake)
    server = await serve(aiohttp_server, fake)
    empty = await snapshot(redis)
    code, out = await run_import(redis, settings, server, dry_run=True)
    assert code == 0, out
    assert "integrations: 7 create (planned)" in out and "nothing was written" in out
    assert await snapshot(redis) == empty

    assert (await run_import(redis, settings, server))[0] == 0
    before = await snapshot(redis)
    code, out = await run_import(redis, settings, server)
    assert code == 0, out
    assert "integrations: 7 unchanged" in out and "routes: 4 unchanged" in out
    assert "escalation chains: 3 unchanged" in out
    assert await snapshot(redis) == before


async def test_changes_in_oncall_update_in_place(
    aiohttp_server: AiohttpServer, redis: Redis, settings: Settings
) -> None:
    fake = FakeOnCall()
    seeded = standard(fake)
    server = await serve(aiohttp_server, fake)
    assert (await run_import(redis, settings, server))[0] == 0
    ids = await oncall_ids.load(redis, "acme")
    seeded["am"]["name"] = "prod-am renamed"
    seeded["canary"]["position"] = 0  # now first: the others move down
    seeded["critical"]["position"], seeded["team_db"]["position"] = 1, 2
    seeded["team_db"]["routing_regex"] = '{{ payload.commonLabels.team == "dba" }}'

    code, out = await run_import(redis, settings, server)

    assert code == 0, out
    assert "integrations: 1 update, 6 unchanged" in out and "routes: 3 update, 1 unchanged" in out
    assert await oncall_ids.load(redis, "acme") == ids  # nothing new was created
    am = await integration_store.get(redis, "acme", ids[seeded["am"]["id"]])
    assert am is not None and am.name == "prod-am renamed"
    routes = [r for r in await integration_store.routes_of(redis, am) if not r.is_default]
    assert [r.id for r in routes] == [
        ids[seeded[name]["id"]] for name in ("canary", "critical", "team_db")
    ]
    assert routes[2].routing_regex == '{{ payload.commonLabels.team == "dba" }}'


async def test_links_under_a_path_prefix_are_kept_and_the_prefix_is_reported(
    aiohttp_server: AiohttpServer, client: Client, redis: Redis, settings: Settings
) -> None:
    fake = FakeOnCall(base="https://example.com/oncall")  # OnCall's BASE_URL has a path
    am = fake.integration("prod-am", "alertmanager")
    fake.integration("by hand", "manual")
    server = await serve(aiohttp_server, fake)

    code, out = await run_import(redis, settings, server)

    assert code == 0, out  # nothing was left out: the switch must strip the prefix
    assert out.count("note: OnCall's links are under /oncall/integrations/v1/") == 1
    assert "the proxy must strip /oncall" in out
    path = am["link"].removeprefix("https://example.com/oncall")
    assert path.startswith("/integrations/v1/alertmanager/")
    resp = await client.post(path, json=am_payload("k", alertname="Up"))
    assert resp.status == 200, await resp.text()


def cloud_label(key: str, value: str, value_id: str | None = "V1") -> dict[str, Any]:
    """A label as Grafana Cloud's integrations API shows it (ids next to the names)."""
    return {"key": {"id": f"K-{key}", "name": key}, "value": {"id": value_id, "name": value}}


async def test_static_and_dynamic_labels_are_carried_in_any_order(
    aiohttp_server: AiohttpServer, redis: Redis, settings: Settings
) -> None:
    fake = FakeOnCall()
    am = fake.integration("prod-am", "alertmanager")
    am["labels"] = [cloud_label("team", "sre"), cloud_label("tier", "gold")]
    am["dynamic_labels"] = [
        cloud_label("severity", "{{ payload.commonLabels.severity }}", None),
        cloud_label("service", "{{ payload.commonLabels.service }}", None),
    ]
    server = await serve(aiohttp_server, fake)

    code, out = await run_import(redis, settings, server)

    assert code == 0, out
    ids = await oncall_ids.load(redis, "acme")
    found = await integration_store.get(redis, "acme", ids[am["id"]])
    assert found is not None
    assert [(x.key, x.value) for x in found.labels] == [("team", "sre"), ("tier", "gold")]
    assert [(x.key, x.value) for x in found.dynamic_labels] == [
        ("severity", "{{ payload.commonLabels.severity }}"),
        ("service", "{{ payload.commonLabels.service }}"),
    ]

    # the Cloud API listing the same labels in another order is no change
    am["labels"].reverse()
    am["dynamic_labels"].reverse()
    before = await snapshot(redis)
    code, out = await run_import(redis, settings, server)
    assert code == 0 and "integrations: 1 unchanged" in out, out
    assert await snapshot(redis) == before

    am["labels"][0] = cloud_label("tier", "silver")
    code, out = await run_import(redis, settings, server)
    assert code == 0 and "changed: labels" in out, out
    found = await integration_store.get(redis, "acme", ids[am["id"]])
    assert found is not None
    assert sorted((x.key, x.value) for x in found.labels) == [("team", "sre"), ("tier", "silver")]


class Stopped(BaseException):
    """The import process dying at a chosen point (not an error the import could catch)."""


@pytest.mark.parametrize("after_write", [False, True])
async def test_a_run_stopped_at_a_route_write_is_finished_by_the_next(
    aiohttp_server: AiohttpServer,
    redis: Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    after_write: bool,
) -> None:
    """Stopped just before or just after a new route is written, a second run ends with each
    OnCall route once: never a second copy of the route the first run had written."""
    fake = FakeOnCall()
    standard(fake)
    server = await serve(aiohttp_server, fake)
    real_place = route_store.place
    calls = 0

    async def place(redis: Redis, route: Route, *args: Any, **kwargs: Any) -> Route:
        nonlocal calls
        calls += 1
        if calls == 2 and not after_write:
            raise Stopped
        placed = await real_place(redis, route, *args, **kwargs)
        if calls == 2:
            raise Stopped
        return placed

    monkeypatch.setattr(route_store, "place", place)
    with pytest.raises(Stopped):
        await run_import(redis, settings, server)
    monkeypatch.setattr(route_store, "place", real_place)

    code, out = await run_import(redis, settings, server)
    assert code == 0, out
    assert "routes: 4 unchanged" not in out  # the second run did have a route to create
    remembered = set((await oncall_ids.load(redis, "acme")).values())
    integrations = await integration_store.list_live(redis, "acme")
    routes = await route_store.routes_in_order(redis, integrations)
    imported = [r.id for r in routes if r.id not in {i.default_route_id for i in integrations}]
    assert len(imported) == 4 and set(imported) <= remembered, imported
