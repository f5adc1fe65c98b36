"""``/api/v1/integrations/``: list, create, retrieve, update, delete, maintenance start/stop.

An integration whose type has a heartbeat shows ``heartbeat``: its ``link``, ``timeout`` (seconds),
``last_heartbeat_at`` (null until the first one) and ``status``: ``waiting`` (none yet),
``alive`` (the last one came within the timeout) or ``expired`` (it did not; the workers then
open a "Heartbeat expired" alert group within a few seconds).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ingest.api import context
from ingest.api.auth import api_token, requires
from ingest.api.body import read_object
from ingest.api.errors import bad_request, json_response, not_found
from ingest.api.pagination import paginate
from ingest.domain import integrations as writes
from ingest.domain.groups import end_maintenance, start_maintenance
from ingest.domain.integration_input import parse_input
from ingest.domain.integrations import integrations_lock
from ingest.domain.validation import Errors
from ingest.models import MAINTENANCE_MODES, ROUTE_BACKENDS, Integration, Route
from ingest.settings import Settings
from ingest.store import integrations as store
from ingest.timefmt import iso_seconds

MAX_MAINTENANCE_SECONDS = 30 * 86400


def link_of(integration: Integration, settings: Settings) -> str | None:
    if integration.token is None:
        return None
    path_type = integration.link_type or integration.type
    return f"{settings.links_base}/integrations/v1/{path_type}/{integration.token}/"


def route_destinations(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {
        "slack": {
            "channel_id": route.slack.get("channel_id"),
            "enabled": bool(route.slack.get("enabled")),
        }
    }
    for backend in ROUTE_BACKENDS:
        conf = route.backends.get(backend, {})
        out[backend] = {"id": conf.get("id"), "enabled": bool(conf.get("enabled"))}
    return out


def heartbeat_status(last: float | None, timeout: int, now: float) -> str:
    if last is None:
        return "waiting"
    return "expired" if now - last > timeout else "alive"


def serialize(
    integration: Integration, route: Route | None, settings: Settings, beat: float | None = None
) -> dict[str, Any]:
    """The API object; ``beat`` is the last heartbeat's time (``store.last_heartbeats``)."""
    link = link_of(integration, settings)
    timeout = integration.heartbeat_timeout
    heartbeat = {
        "link": f"{link}heartbeat/",
        "timeout": timeout,
        "last_heartbeat_at": iso_seconds(beat),
        "status": heartbeat_status(beat, timeout, time.time()),
    }
    default_route: dict[str, Any] = {
        "id": integration.default_route_id,
        "escalation_chain_id": None,
    }
    if route is not None:
        default_route["escalation_chain_id"] = route.escalation_chain_id
        default_route.update(route_destinations(route))
    return {
        "id": integration.id,
        "name": integration.name,
        "description_short": integration.description_short,
        "team_id": integration.team_id,
        "link": link,
        "inbound_email": None,
        "type": integration.type,
        "labels": [label.to_api() for label in integration.labels],
        "dynamic_labels": [label.to_api() for label in integration.dynamic_labels],
        "alert_group_labels_template": integration.alert_group_labels_template,
        "templates": integration.templates,
        "default_route": default_route,
        "heartbeat": heartbeat if link and integration.heartbeat_enabled else None,
        "maintenance_mode": integration.maintenance_mode,
        "maintenance_started_at": iso_seconds(integration.maintenance_started_at),
        "maintenance_end_at": iso_seconds(integration.maintenance_end_at),
        "rate_limit": integration.rate_limit,
        "auto_resolve_after": integration.auto_resolve_after,
    }


async def _respond(
    request: web.Request, integration: Integration, status: int = 200
) -> web.Response:
    redis = context.redis(request)
    route = await store.get_route(redis, integration.default_route_id)
    [beat] = await store.last_heartbeats(redis, [integration.id])
    return json_response(serialize(integration, route, context.settings(request), beat), status)


async def _lookup(request: web.Request) -> Integration:
    found = await store.get(
        context.redis(request), api_token(request).org_id, request.match_info["id"]
    )
    if found is None:
        raise not_found()
    return found


def _matches(integration: Integration, request: web.Request) -> bool:
    query = request.query
    if "name" in query and integration.name != query["name"]:
        return False
    team = query.get("team_id")
    if team:
        wanted = None if team == "null" else team
        if integration.team_id != wanted:
            return False
    if "type" in query and query["type"] and integration.type != query["type"]:
        return False
    pairs = {(label.key, label.value) for label in integration.labels}
    for selector in query.getall("label", []):
        key, _, value = selector.partition(":")
        if (key, value) not in pairs:
            return False
    return True


@requires("integrations:read")
async def list_integrations(request: web.Request) -> web.Response:
    everything = await store.list_live(context.redis(request), api_token(request).org_id)
    selected = [i for i in everything if _matches(i, request)]
    page, envelope = paginate(request, selected)
    redis, settings = context.redis(request), context.settings(request)
    routes = await store.get_routes(redis, [i.default_route_id for i in page])
    beats = await store.last_heartbeats(redis, [i.id for i in page])
    envelope["results"] = [
        serialize(i, r, settings, b) for i, r, b in zip(page, routes, beats, strict=True)
    ]
    return json_response(envelope)


@requires("integrations:read")
async def get_integration(request: web.Request) -> web.Response:
    return await _respond(request, await _lookup(request))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def one_writer_per_org(handler: Handler) -> Handler:
    """Run a write under the organization's integrations lock (``integrations_lock``)."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        async with integrations_lock(context.redis(request), api_token(request).org_id):
            return await handler(request)

    return wrapper


@requires("integrations:write")
@one_writer_per_org
async def create_integration(request: web.Request) -> web.Response:
    redis, settings = context.redis(request), context.settings(request)
    data = parse_input(await read_object(request), settings, None)
    integration = await writes.create_integration(redis, api_token(request).org_id, data)
    return await _respond(request, integration, 201)


@requires("integrations:write")
@one_writer_per_org
async def update_integration(request: web.Request) -> web.Response:
    integration = await _lookup(request)
    data = parse_input(await read_object(request), context.settings(request), integration)
    await writes.update_integration(context.redis(request), integration, data)
    return await _respond(request, integration)


@requires("integrations:write")
@one_writer_per_org
async def delete_integration(request: web.Request) -> web.Response:
    await store.soft_delete(context.redis(request), await _lookup(request))
    return web.Response(status=204)


@requires("integrations:write")
@one_writer_per_org
async def maintenance_start(request: web.Request) -> web.Response:
    integration = await _lookup(request)
    body = await read_object(request)
    errors = Errors()
    mode = body.get("mode")
    if not isinstance(mode, str) or mode.lower() not in MAINTENANCE_MODES:
        errors.add(("mode",), 'Unknown mode; use "debug" or "maintenance".')
    duration = body.get("duration")
    if isinstance(duration, str) and duration.strip().isdigit():
        duration = int(duration)
    if (
        not isinstance(duration, int)
        or isinstance(duration, bool)
        or not 1 <= duration <= MAX_MAINTENANCE_SECONDS
    ):
        errors.add(("duration",), f"Invalid duration; seconds from 1 to {MAX_MAINTENANCE_SECONDS}.")
    errors.raise_if_any()
    assert isinstance(mode, str) and isinstance(duration, int)
    now = time.time()
    if integration.maintenance_mode is not None and (integration.maintenance_end_at or 0) > now:
        raise bad_request("Already on maintenance")
    actor = api_token(request).name
    await start_maintenance(context.redis(request), integration, mode.lower(), duration, now, actor)
    return await _respond(request, integration)


@requires("integrations:write")
@one_writer_per_org
async def maintenance_stop(request: web.Request) -> web.Response:
    integration = await _lookup(request)
    await end_maintenance(context.redis(request), integration, api_token(request).name)
    return await _respond(request, integration)


def add_routes(app: web.Application, add: Any) -> None:
    base = "/api/v1/integrations"
    add(app, "GET", base, list_integrations)
    add(app, "POST", base, create_integration)
    add(app, "GET", base + "/{id}", get_integration)
    add(app, "PUT", base + "/{id}", update_integration)
    add(app, "PATCH", base + "/{id}", update_integration)
    add(app, "DELETE", base + "/{id}", delete_integration)
    add(app, "POST", base + "/{id}/maintenance_start", maintenance_start)
    add(app, "POST", base + "/{id}/maintenance_stop", maintenance_stop)
