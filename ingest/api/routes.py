"""``/api/v1/routes/``: list, create, retrieve, update (PUT and PATCH are both partial), delete.

Scopes ``integrations:read`` / ``integrations:write``. A route is visible only through a live
integration of the caller's organization (another org's, or a deleted integration's: 404).

Positions follow Grafana OnCall (``ingest.store.routes``): sparse, shifted on insert and move, not
renumbered on delete, ``-1`` = the end. The default route (``is_the_last_route``) can be updated
(its ``position`` and expression are stored and echoed, but it is always matched last) and cannot be
deleted: 400 ``{"detail": "Unable to delete default filter"}``. Validation is in
``ingest.domain.route_input``; an unknown ``integration_id`` or ``escalation_chain_id`` is a field
error ``["Object does not exist"]``. Every write bumps the integration's version, so workers
reload it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ingest import ids
from ingest.api import context
from ingest.api.auth import api_token, requires
from ingest.api.body import read_object
from ingest.api.errors import bad_request, json_response, not_found
from ingest.api.integrations import route_destinations
from ingest.api.pagination import paginate
from ingest.domain import integrations as writes
from ingest.domain.route_input import parse_route
from ingest.models import Route
from ingest.store import integrations as integration_store
from ingest.store import routes as store
from templates_engine import Limits

PAGE_SIZE = 25


def serialize(route: Route) -> dict[str, Any]:
    return {
        "position": route.position,
        "id": route.id,
        "integration_id": route.integration_id,
        "escalation_chain_id": route.escalation_chain_id,
        "routing_type": route.routing_type,
        "routing_regex": route.routing_regex,
        "is_the_last_route": route.is_default,
        **route_destinations(route),
        "labels": [label.to_api() for label in route.labels],
    }


def _limits(request: web.Request) -> Limits:
    return Limits(template_length=context.settings(request).template_max_length)


async def _lookup(request: web.Request) -> Route:
    redis = context.redis(request)
    route = await integration_store.get_route(redis, request.match_info["id"])
    org_id = api_token(request).org_id
    if route is None or route.org_id != org_id:
        raise not_found()
    if await integration_store.get(redis, org_id, route.integration_id) is None:
        raise not_found()
    return await store.with_position(redis, route)


@requires("integrations:read")
async def list_routes(request: web.Request) -> web.Response:
    redis = context.redis(request)
    integrations = await integration_store.list_live(redis, api_token(request).org_id)
    wanted = request.query.get("integration_id")
    if wanted:
        integrations = [i for i in integrations if i.id == wanted]
    found = await store.routes_in_order(redis, integrations)
    expression = request.query.get("routing_regex")
    if expression:
        found = [r for r in found if r.routing_regex == expression]
    page, envelope = paginate(request, found, PAGE_SIZE)
    envelope["results"] = [serialize(r) for r in page]
    return json_response(envelope)


@requires("integrations:read")
async def get_route(request: web.Request) -> web.Response:
    return json_response(serialize(await _lookup(request)))


@requires("integrations:write")
async def create_route(request: web.Request) -> web.Response:
    redis = context.redis(request)
    org_id = api_token(request).org_id
    data = parse_route(await read_object(request), None, _limits(request))
    await writes.check_route_references(redis, org_id, data)
    assert data.integration_id is not None
    route = Route(id=ids.public_id("R"), org_id=org_id, integration_id=data.integration_id)
    writes.apply_route(route, data)
    await store.place(redis, route, data.position, data.manual_order, create=True)
    return json_response(serialize(route), 201)


@requires("integrations:write")
async def update_route(request: web.Request) -> web.Response:
    redis = context.redis(request)
    route = await _lookup(request)
    data = parse_route(await read_object(request), route, _limits(request))
    await writes.check_route_references(redis, route.org_id, data)
    writes.apply_route(route, data)
    if route.is_default:
        if data.position is not None and data.position != -1:
            route.position = data.position  # alone in its group: -1 (the end) is where it is
        await integration_store.save_route(redis, route)
    else:
        try:
            await store.place(redis, route, data.position, data.manual_order)
        except store.RouteGone:
            raise not_found() from None
    return json_response(serialize(route))


@requires("integrations:write")
async def delete_route(request: web.Request) -> web.Response:
    route = await _lookup(request)
    if route.is_default:
        raise bad_request("Unable to delete default filter")
    await store.delete(context.redis(request), route)
    return web.Response(status=204)


def add_routes(app: web.Application, add: Any) -> None:
    base = "/api/v1/routes"
    add(app, "GET", base, list_routes)
    add(app, "POST", base, create_route)
    add(app, "GET", base + "/{id}", get_route)
    add(app, "PUT", base + "/{id}", update_route)
    add(app, "PATCH", base + "/{id}", update_route)
    add(app, "DELETE", base + "/{id}", delete_route)
