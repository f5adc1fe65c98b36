"""Integrations and their routes in Redis (see ``keys`` for the data model).

Every write of an integration bumps its configuration version (workers reload it) and keeps
``keys.MAINTENANCE_ENDS`` in step with its maintenance fields, in the same transaction: an
integration in maintenance is listed with the window's end, any other is not. The time of each
integration's last heartbeat is in ``keys.HEARTBEATS`` (``last_heartbeats``).
"""

from __future__ import annotations

import time

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from ingest import ids
from ingest.models import Integration, Route
from ingest.store import keys
from ingest.store.aio import aw


async def reserve_integration_id(redis: Redis) -> str:
    """A fresh ``C…`` id, recorded so it is never issued again (even after a delete)."""
    length = 12
    while True:
        candidate = ids.public_id("C", length)
        if await aw(redis.sadd(keys.INTEGRATION_IDS, candidate)):
            return candidate
        length += 1


async def next_seq(redis: Redis, org_id: str) -> int:
    """How many integrations the org had ever created before this one (0 for the first)."""
    return int(await redis.incr(keys.org_integration_seq(org_id))) - 1


async def create(redis: Redis, integration: Integration, default_route: Route) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.integration(integration.id), orjson.dumps(integration.to_doc()))
        pipe.zadd(keys.org_integrations(integration.org_id), {integration.id: integration.seq})
        if integration.token:
            pipe.set(keys.link(integration.token), integration.id)
        pipe.set(keys.route(default_route.id), orjson.dumps(default_route.to_doc()))
        pipe.incr(keys.integration_version(integration.id))
        await pipe.execute()


def _index_maintenance(pipe: Pipeline, integration: Integration) -> None:
    end = integration.maintenance_end_at
    if (
        integration.maintenance_mode is not None
        and end is not None
        and integration.deleted_at is None
    ):
        pipe.zadd(keys.MAINTENANCE_ENDS, {integration.id: end})
    else:
        pipe.zrem(keys.MAINTENANCE_ENDS, integration.id)


def queue_save(pipe: Pipeline, integration: Integration) -> None:
    """The commands of ``save``, for a transaction that writes more besides."""
    pipe.set(keys.integration(integration.id), orjson.dumps(integration.to_doc()))
    pipe.incr(keys.integration_version(integration.id))
    _index_maintenance(pipe, integration)


async def save(redis: Redis, integration: Integration) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        queue_save(pipe, integration)
        await pipe.execute()


async def index_maintenance(redis: Redis, integration: Integration) -> None:
    """List or unlist the integration in ``MAINTENANCE_ENDS`` as its stored fields say."""
    async with redis.pipeline(transaction=True) as pipe:
        _index_maintenance(pipe, integration)
        await pipe.execute()


async def change_token(redis: Redis, integration: Integration, token: str) -> None:
    """Give the integration another link token; the old one stops answering at once."""
    old = integration.token
    integration.token = token
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.integration(integration.id), orjson.dumps(integration.to_doc()))
        if old:
            pipe.delete(keys.link(old))
        pipe.set(keys.link(token), integration.id)
        pipe.incr(keys.integration_version(integration.id))
        await pipe.execute()


async def soft_delete(redis: Redis, integration: Integration) -> None:
    integration.deleted_at = time.time()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.integration(integration.id), orjson.dumps(integration.to_doc()))
        pipe.zrem(keys.org_integrations(integration.org_id), integration.id)
        _index_maintenance(pipe, integration)
        if integration.token:
            pipe.delete(keys.link(integration.token))
        pipe.incr(keys.integration_version(integration.id))
        await pipe.execute()


async def load(redis: Redis, integration_id: str) -> Integration | None:
    """The integration document, deleted or not; None when the id was never stored."""
    raw = await redis.get(keys.integration(integration_id))
    return Integration.from_doc(orjson.loads(raw)) if raw is not None else None


async def get(redis: Redis, org_id: str, integration_id: str) -> Integration | None:
    """A live integration of ``org_id``; None for missing, deleted or another org's."""
    found = await load(redis, integration_id)
    if found is None or found.org_id != org_id or found.deleted_at is not None:
        return None
    return found


async def list_live(redis: Redis, org_id: str) -> list[Integration]:
    """The org's live integrations in creation order."""
    ids_ = await redis.zrange(keys.org_integrations(org_id), 0, -1)
    if not ids_:
        return []
    docs = await redis.mget([keys.integration(i.decode()) for i in ids_])
    return [Integration.from_doc(orjson.loads(d)) for d in docs if d is not None]


async def by_link_token(redis: Redis, token: str) -> Integration | None:
    integration_id = await redis.get(keys.link(token))
    if integration_id is None:
        return None
    found = await load(redis, integration_id.decode())
    return found if found is not None and found.deleted_at is None else None


async def config_version(redis: Redis, integration_id: str) -> int:
    """The integration's configuration version (see ``keys.integration_version``)."""
    raw = await redis.get(keys.integration_version(integration_id))
    return int(raw) if raw is not None else 0


async def last_heartbeats(redis: Redis, integration_ids: list[str]) -> list[float | None]:
    """Epoch seconds of each integration's last heartbeat (None: none yet), in one round trip."""
    if not integration_ids:
        return []
    scores: list[float | None] = await redis.zmscore(keys.HEARTBEATS, integration_ids)
    return scores


async def get_route(redis: Redis, route_id: str) -> Route | None:
    raw = await redis.get(keys.route(route_id))
    return Route.from_doc(orjson.loads(raw)) if raw is not None else None


async def get_routes(redis: Redis, route_ids: list[str]) -> list[Route | None]:
    """Several routes in one round trip, in the order asked (None for a missing one)."""
    if not route_ids:
        return []
    docs = await redis.mget([keys.route(r) for r in route_ids])
    return [Route.from_doc(orjson.loads(d)) if d is not None else None for d in docs]


async def save_route(redis: Redis, route: Route) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.route(route.id), orjson.dumps(route.to_doc()))
        pipe.incr(keys.integration_version(route.integration_id))
        await pipe.execute()


async def routes_of(redis: Redis, integration: Integration) -> list[Route]:
    """The integration's routes in matching order: non-default by position, then the default."""
    route_ids = [
        r.decode() for r in await redis.zrange(keys.integration_routes(integration.id), 0, -1)
    ]
    route_ids.append(integration.default_route_id)
    docs = await redis.mget([keys.route(r) for r in route_ids])
    return [Route.from_doc(orjson.loads(d)) for d in docs if d is not None]
