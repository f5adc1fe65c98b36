"""Route positions and route writes that need them (the routes API's side of the store).

A non-default route's position is its score in ``keys.integration_routes`` (the ``position`` field
of its document is not kept current and is overwritten from the score on every read here). The
default route is not in that zset; its ``position`` lives in its document and only sorts it within
its own group, so it is always matched last.

Positions are a sparse sort key, as in Grafana OnCall: inserting or moving to an occupied position
shifts the routes in between by one, deleting renumbers nothing, and a large position leaves a gap.
Placing a route, storing its document and bumping the integration's version happen in one Lua
script, so concurrent writes cannot corrupt the order and workers always reload.
"""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.lua import Script
from ingest.models import Integration, Route
from ingest.store import keys

# KEYS: routes zset, route doc, links version.
# ARGV: route id, doc, target position ("" = keep; a new route is appended first), manual
# ("1"/"0"), create ("1"/"0"). A target of -1 means the end: for a new route where it was
# appended, otherwise the current maximum. Returns the route's position, or -2 when an existing
# route is no longer in the zset (deleted meanwhile: nothing is written).
_PLACE = Script("""
local zset, id = KEYS[1], ARGV[1]
local function top()
  local last = redis.call('ZRANGE', zset, -1, -1, 'WITHSCORES')
  if last[2] then return tonumber(last[2]) end
  return nil
end
local current = redis.call('ZSCORE', zset, id)
if current then
  current = tonumber(current)
elseif ARGV[5] ~= '1' then
  return -2
else
  local max = top()
  if max then current = max + 1 else current = 0 end
  redis.call('ZADD', zset, current, id)
end
local target = ARGV[3]
if target ~= '' then
  target = tonumber(target)
  if target == -1 then target = top() end
  if ARGV[4] == '1' then
    local holders = redis.call('ZRANGEBYSCORE', zset, target, target)
    for _, other in ipairs(holders) do
      if other ~= id then redis.call('ZADD', zset, current, other) end
    end
  elseif current < target then
    local between = redis.call('ZRANGEBYSCORE', zset, '(' .. current, target)
    for _, other in ipairs(between) do redis.call('ZINCRBY', zset, -1, other) end
  elseif current > target then
    local between = redis.call('ZRANGEBYSCORE', zset, target, '(' .. current)
    for _, other in ipairs(between) do redis.call('ZINCRBY', zset, 1, other) end
  end
  redis.call('ZADD', zset, target, id)
  current = target
end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('INCR', KEYS[3])
return current
""")


class RouteGone(Exception):
    """The route was deleted while it was being updated."""


async def place(
    redis: Redis,
    route: Route,
    target: int | None = None,
    manual: bool = False,
    create: bool = False,
) -> Route:
    """Store a non-default route and move it to ``target`` (None: keep; a new one is appended).

    ``manual`` (Terraform's ``manual_order``) swaps with the route holding ``target`` instead of
    shifting. Sets and returns ``route`` with its resulting ``position``; raises
    :class:`RouteGone` when an existing route was deleted meanwhile.
    """
    args: list[Any] = [
        route.id,
        orjson.dumps(route.to_doc()),
        "" if target is None else target,
        "1" if manual else "0",
        "1" if create else "0",
    ]
    script_keys = [
        keys.integration_routes(route.integration_id),
        keys.route(route.id),
        keys.integration_version(route.integration_id),
    ]
    position = int(await _PLACE(redis, script_keys, args))
    if position == -2:
        raise RouteGone(route.id)
    route.position = position
    return route


async def delete(redis: Redis, route: Route) -> None:
    """Remove a non-default route; the others keep their positions."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(keys.integration_routes(route.integration_id), route.id)
        pipe.delete(keys.route(route.id))
        pipe.incr(keys.integration_version(route.integration_id))
        await pipe.execute()


async def with_position(redis: Redis, route: Route) -> Route:
    """``route`` with its current position (from the zset for non-default routes)."""
    if not route.is_default:
        score = await redis.zscore(keys.integration_routes(route.integration_id), route.id)
        if score is not None:
            route.position = int(score)
    return route


async def routes_in_order(redis: Redis, integrations: list[Integration]) -> list[Route]:
    """Every route of ``integrations``: per integration, by position, then the default route."""
    async with redis.pipeline(transaction=False) as pipe:
        for integration in integrations:
            pipe.zrange(keys.integration_routes(integration.id), 0, -1, withscores=True)
        ranked: list[list[tuple[bytes, float]]] = await pipe.execute()
    wanted: list[tuple[str, int | None]] = []
    for integration, members in zip(integrations, ranked, strict=True):
        wanted += [(member.decode(), int(score)) for member, score in members]
        wanted.append((integration.default_route_id, None))
    if not wanted:
        return []
    docs = await redis.mget([keys.route(route_id) for route_id, _ in wanted])
    out: list[Route] = []
    for (_, position), doc in zip(wanted, docs, strict=True):
        if doc is None:
            continue
        route = Route.from_doc(orjson.loads(doc))
        if position is not None:
            route.position = position
        out.append(route)
    return out
