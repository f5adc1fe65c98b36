"""``/api/v1/integrations/``: list, create, retrieve, update, delete, maintenance start/stop."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from ingest import ids
from ingest.api import context
from ingest.api.auth import api_token, requires
from ingest.api.body import read_object
from ingest.api.errors import bad_request, detail, field_errors, json_response, not_found
from ingest.api.integration_input import IntegrationInput, parse_input
from ingest.api.pagination import paginate
from ingest.api.validation import Errors
from ingest.domain.groups import MAINTENANCE_MODES, end_maintenance, start_maintenance
from ingest.models import (
    INTEGRATION_TYPES,
    ROUTE_BACKENDS,
    Integration,
    Label,
    Route,
    default_name,
    merge_templates,
)
from ingest.settings import Settings
from ingest.store import escalation_chains
from ingest.store import integrations as store
from ingest.store.locks import LockBusy, org_lock
from ingest.timefmt import iso_seconds
from templates_engine import default_dynamic_labels

MAX_MAINTENANCE_SECONDS = 30 * 86400


def link_of(integration: Integration, settings: Settings) -> str | None:
    if integration.token is None:
        return None
    return f"{settings.link_base}/integrations/v1/{integration.type}/{integration.token}/"


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


def serialize(integration: Integration, route: Route | None, settings: Settings) -> dict[str, Any]:
    link = link_of(integration, settings)
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
        "heartbeat": (
            {"link": f"{link}heartbeat/", "timeout": integration.heartbeat_timeout}
            if link and integration.heartbeat_enabled
            else None
        ),
        "maintenance_mode": integration.maintenance_mode,
        "maintenance_started_at": iso_seconds(integration.maintenance_started_at),
        "maintenance_end_at": iso_seconds(integration.maintenance_end_at),
        "rate_limit": integration.rate_limit,
    }


async def _respond(
    request: web.Request, integration: Integration, status: int = 200
) -> web.Response:
    route = await store.get_route(context.redis(request), integration.default_route_id)
    return json_response(serialize(integration, route, context.settings(request)), status)


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
    routes = await store.get_routes(context.redis(request), [i.default_route_id for i in page])
    envelope["results"] = [
        serialize(i, r, context.settings(request)) for i, r in zip(page, routes, strict=True)
    ]
    return json_response(envelope)


@requires("integrations:read")
async def get_integration(request: web.Request) -> web.Response:
    return await _respond(request, await _lookup(request))


async def _check_name_unique(
    redis: Redis, org_id: str, name: str, team_id: str | None, own_id: str | None
) -> None:
    clashes = [
        i for i in await store.list_live(redis, org_id) if i.name == name and i.team_id == team_id
    ]
    if any(i.id != own_id for i in clashes):
        raise bad_request("An integration with this name already exists for this team")


def _apply_route(route: Route, changes: dict[str, Any]) -> None:
    if "escalation_chain_id" in changes:
        route.escalation_chain_id = changes["escalation_chain_id"]
    if "slack" in changes:
        route.slack = {**route.slack, **changes["slack"]}
    for backend in ROUTE_BACKENDS:
        if backend in changes:
            route.backends[backend] = {**route.backends.get(backend, {}), **changes[backend]}


def _apply(integration: Integration, data: IntegrationInput) -> None:
    if data.name is not None:
        integration.name = data.name
    for key, value in data.fields.items():
        setattr(integration, key, value)
    if data.templates is not None:
        integration.templates = merge_templates(integration.templates, data.templates)
    if data.labels is not None:
        integration.labels = data.labels
    if data.dynamic_labels is not None:
        integration.dynamic_labels = data.dynamic_labels


async def _check_chain(redis: Redis, org_id: str, data: IntegrationInput) -> None:
    """An unknown ``default_route.escalation_chain_id`` is a 400, before anything is written."""
    chain_id = (data.default_route or {}).get("escalation_chain_id")
    if chain_id is not None and not await escalation_chains.exists(redis, org_id, chain_id):
        raise field_errors({"default_route": {"escalation_chain_id": ["Object does not exist"]}})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def one_writer_per_org(handler: Handler) -> Handler:
    """Run a write under the organization's integrations lock (checks and writes stay together:
    name uniqueness across replicas, and no lost update between two concurrent PUTs)."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        name = f"integrations:{api_token(request).org_id}"
        try:
            async with org_lock(context.redis(request), name):
                return await handler(request)
        except LockBusy:
            raise detail(503, "Another change of this organization's integrations is in "
                         "progress; retry.", {"Retry-After": "1"}) from None  # fmt: skip

    return wrapper


@requires("integrations:write")
@one_writer_per_org
async def create_integration(request: web.Request) -> web.Response:
    redis, settings = context.redis(request), context.settings(request)
    org_id = api_token(request).org_id
    data = parse_input(await read_object(request), settings, None)
    await _check_chain(redis, org_id, data)
    assert data.type is not None
    team_id = data.fields.get("team_id")
    if data.name is not None:
        await _check_name_unique(redis, org_id, data.name, team_id, None)
    kind = INTEGRATION_TYPES[data.type]
    integration_id = await store.reserve_integration_id(redis)
    seq = await store.next_seq(redis, org_id)
    integration = Integration(
        id=integration_id,
        org_id=org_id,
        type=data.type,
        name=data.name or default_name(data.type, seq),
        created_at=time.time(),
        seq=seq,
        token=ids.link_token() if kind.has_link else None,
        heartbeat_enabled=kind.has_heartbeat,
        default_route_id=ids.public_id("R"),
    )
    _apply(integration, data)
    if data.dynamic_labels is None:
        integration.dynamic_labels = [Label(k, v) for k, v in default_dynamic_labels(data.type)]
    route = Route(
        id=integration.default_route_id,
        org_id=org_id,
        integration_id=integration.id,
        is_default=True,
    )
    _apply_route(route, data.default_route or {})
    await store.create(redis, integration, route)
    return await _respond(request, integration, 201)


@requires("integrations:write")
@one_writer_per_org
async def update_integration(request: web.Request) -> web.Response:
    redis = context.redis(request)
    integration = await _lookup(request)
    data = parse_input(await read_object(request), context.settings(request), integration)
    await _check_chain(redis, integration.org_id, data)
    if data.name is not None:
        team_id = data.fields.get("team_id", integration.team_id)
        await _check_name_unique(redis, integration.org_id, data.name, team_id, integration.id)
    if data.default_route:
        route = await store.get_route(redis, integration.default_route_id)
        if route is not None:
            _apply_route(route, data.default_route)
            await store.save_route(redis, route)
    _apply(integration, data)
    await store.save(redis, integration)
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
