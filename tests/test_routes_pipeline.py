"""End to end: routes made through the API decide each alert's route in the real worker."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from arq.connections import ArqRedis
from redis.asyncio import Redis

from ingest.settings import Settings
from tests.test_pipeline import make
from tests.worker_helpers import all_groups, group_alerts
from worker.deps import DEPS, Deps
from worker.settings import create_worker

Client = TestClient[Any, Any]


def labels(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"key": {"name": k}, "value": {"name": v}} for k, v in pairs]


async def drain_with(settings: Settings, deps: Deps) -> None:
    """Run a burst worker that uses ``deps`` (so its configuration cache lives on between runs)."""
    pool = ArqRedis.from_url(settings.redis_url)
    worker = create_worker(settings, pool, 5, burst=True, handle_signals=False)
    worker.ctx[DEPS] = deps
    try:
        await worker.async_run()
    finally:
        await worker.close()
        await pool.aclose()


async def route_of(redis: Redis, n: int) -> str:
    """The ``route_id`` of the group holding the alert whose payload has ``"n": n``."""
    for group in await all_groups(redis):
        if any(a["payload"].get("n") == n for a in await group_alerts(redis, group["id"])):
            return group["route_id"]
    raise AssertionError(f"no group holds alert {n}")


async def add_route(client: Client, auth: dict[str, str], **body: Any) -> str:
    body = {"escalation_chain_id": None, **body}
    resp = await client.post("/api/v1/routes/", json=body, headers=auth)
    data = await resp.json()
    assert resp.status == 201, data
    route_id: str = data["id"]
    return route_id


async def test_each_route_type_routes_alerts(
    client: Client, auth: dict[str, str], redis: Redis, settings: Settings
) -> None:
    integration = await make(
        client, auth, "webhook",
        labels=labels(("team", "sre")),
        dynamic_labels=labels(("env", "{{ payload.env }}")),
    )  # fmt: skip
    iid, default = integration["id"], integration["default_route"]["id"]
    regex = await add_route(client, auth, integration_id=iid, routing_regex='"disk_\\w+"')
    jinja = await add_route(
        client, auth, integration_id=iid, routing_type="jinja2",
        routing_regex='{{ payload.severity == "critical" }}',
    )  # fmt: skip
    by_labels = await add_route(
        client, auth, integration_id=iid, routing_type="labels",
        labels=labels(("team", "sre"), ("env", "prod")),
    )  # fmt: skip
    deps = Deps.create(redis, settings)
    alerts = {
        1: ({"alert": "disk_full"}, regex),
        2: ({"severity": "critical"}, jinja),
        3: ({"env": "prod"}, by_labels),
        4: ({"env": "staging", "severity": "warning"}, default),
        5: ({"alert": "disk_full", "severity": "critical", "env": "prod"}, regex),
    }
    for n, (payload, _) in alerts.items():
        resp = await client.post(integration["path"], json={**payload, "n": n})
        assert resp.status == 200
    await drain_with(settings, deps)
    assert {n: await route_of(redis, n) for n in alerts} == {n: r for n, (_, r) in alerts.items()}

    # a change made through the API applies to the very next alert, in the same worker
    version = (await deps.cache.get(integration["id"])).version
    resp = await client.patch(f"/api/v1/routes/{by_labels}", json={"position": 0}, headers=auth)
    assert resp.status == 200
    resp = await client.put(
        f"/api/v1/routes/{regex}", json={"routing_regex": "nomatch"}, headers=auth
    )
    assert resp.status == 200
    await client.post(integration["path"], json={"alert": "disk_full", "env": "prod", "n": 6})
    await client.post(integration["path"], json={"alert": "disk_full", "n": 7})
    await drain_with(settings, deps)
    assert (await deps.cache.get(integration["id"])).version > version
    assert await route_of(redis, 6) == by_labels
    assert await route_of(redis, 7) == default
    resp = await client.delete(f"/api/v1/routes/{by_labels}", headers=auth)
    assert resp.status == 204
    await client.post(integration["path"], json={"env": "prod", "n": 8})
    await drain_with(settings, deps)
    assert await route_of(redis, 8) == default
