"""Escalation chains in Redis (see ``keys``): a document per chain, an org index, a name index.

Names are unique per organization. Create, rename and delete run as one Lua script each, so two
concurrent requests cannot both take a name and a crash cannot leave a name without its chain.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest import ids
from ingest.lua import Script
from ingest.models import EscalationChain
from ingest.store import integrations as integration_store
from ingest.store import keys
from ingest.store.saves import SaveResult

# KEYS: chain doc, org index, org name index. ARGV: id, doc, name, score, "1" on create.
# Returns a SaveResult.
_SAVE = Script(f"""
local holder = redis.call('HGET', KEYS[3], ARGV[3])
if holder and holder ~= ARGV[1] then return {SaveResult.NAME_TAKEN:d} end
local stored = redis.call('GET', KEYS[1])
if ARGV[5] == '1' then
  if stored then return {SaveResult.ID_USED:d} end
else
  if not stored then return {SaveResult.GONE:d} end
  local old = cjson.decode(stored).name
  if old ~= ARGV[3] and redis.call('HGET', KEYS[3], old) == ARGV[1] then
    redis.call('HDEL', KEYS[3], old)
  end
end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 'NX', ARGV[4], ARGV[1])
return {SaveResult.DONE:d}
""")

# KEYS: chain doc, org index, org name index. ARGV: id. Returns 1 deleted, 0 not there.
_DELETE = Script("""
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local name = cjson.decode(stored).name
if redis.call('HGET', KEYS[3], name) == ARGV[1] then redis.call('HDEL', KEYS[3], name) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
""")


class NameTaken(Exception):
    """Another chain of the organization has this name."""


class Gone(Exception):
    """The chain was deleted while it was being updated."""


def _keys(org_id: str, chain_id: str) -> list[str]:
    return [
        keys.escalation_chain(chain_id),
        keys.org_escalation_chains(org_id),
        keys.org_escalation_chain_names(org_id),
    ]


async def _run_save(redis: Redis, chain: EscalationChain, create: bool) -> SaveResult:
    args: list[Any] = [
        chain.id,
        orjson.dumps(chain.to_doc()),
        chain.name,
        int(chain.created_at * 1000),
        "1" if create else "0",
    ]
    return SaveResult(int(await _SAVE(redis, _keys(chain.org_id, chain.id), args)))


async def create(
    redis: Redis, org_id: str, name: str, team_id: str | None, length: int = 12
) -> EscalationChain:
    """A new chain; raises :class:`NameTaken` when the org already has ``name``."""
    while True:
        chain = EscalationChain(
            id=ids.public_id("F", length),
            org_id=org_id,
            name=name,
            created_at=time.time(),
            team_id=team_id,
        )
        outcome = await _run_save(redis, chain, create=True)
        if outcome == SaveResult.NAME_TAKEN:
            raise NameTaken(name)
        if outcome == SaveResult.DONE:
            return chain
        length += 1  # id collision: retry longer, as Grafana OnCall does


async def save(redis: Redis, chain: EscalationChain) -> None:
    """Store changes to an existing chain; :class:`NameTaken` or :class:`Gone` on conflict."""
    outcome = await _run_save(redis, chain, create=False)
    if outcome == SaveResult.NAME_TAKEN:
        raise NameTaken(chain.name)
    if outcome == SaveResult.GONE:
        raise Gone(chain.id)


async def get(redis: Redis, org_id: str, chain_id: str) -> EscalationChain | None:
    """The chain if it exists and belongs to ``org_id``."""
    raw = await redis.get(keys.escalation_chain(chain_id))
    if raw is None:
        return None
    chain = EscalationChain.from_doc(orjson.loads(raw))
    return chain if chain.org_id == org_id else None


async def exists(redis: Redis, org_id: str, chain_id: str) -> bool:
    return await get(redis, org_id, chain_id) is not None


async def list_all(redis: Redis, org_id: str) -> list[EscalationChain]:
    """The org's chains in creation order."""
    chain_ids = await redis.zrange(keys.org_escalation_chains(org_id), 0, -1)
    if not chain_ids:
        return []
    docs = await redis.mget([keys.escalation_chain(c.decode()) for c in chain_ids])
    return [EscalationChain.from_doc(orjson.loads(d)) for d in docs if d is not None]


async def delete(redis: Redis, chain: EscalationChain) -> int:
    """Delete the chain, then detach it from every route of the org's live integrations.

    Returns how many routes were detached. Each detached route is written with ``save_route``, so
    workers reload their configuration.
    """
    await _DELETE(redis, _keys(chain.org_id, chain.id), [chain.id])
    detached = 0
    for integration in await integration_store.list_live(redis, chain.org_id):
        for route in await integration_store.routes_of(redis, integration):
            if route.escalation_chain_id == chain.id:
                route.escalation_chain_id = None
                await integration_store.save_route(redis, route)
                detached += 1
    return detached
