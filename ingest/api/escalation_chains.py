"""``/api/v1/escalation_chains/``: list, create, retrieve, update, delete (``{id, name, team_id}``).

Only what routes need: a chain is a name routes refer to; its steps (escalation policies) are out of
scope. There is no separate escalation scope: reads need ``integrations:read`` and writes
``integrations:write`` (Grafana OnCall uses ``escalation-chains:read``/``:write``).

- ``name`` is required on create and on PUT (PATCH may omit it), at most 100 characters, unique in
  the organization: 400 ``{"name": ["An escalation chain with this name already exists."]}``
  (Grafana OnCall puts a generic message under ``non_field_errors``).
- ``team_id``: optional, a string, ``null`` or the literal ``"null"``. Teams are not modelled, so
  any id is accepted.
- List: page size 50, creation order, filters ``name`` (exact) and ``team_id`` (id or ``null``).
- DELETE: 204; every route of the organization that referred to the chain gets
  ``escalation_chain_id: null`` (workers reload).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ingest.api import context
from ingest.api.auth import api_token, requires
from ingest.api.body import read_object
from ingest.api.errors import field_errors, json_response, not_found
from ingest.api.pagination import name_and_team_match, paginate
from ingest.domain.validation import Errors, optional_string
from ingest.models import EscalationChain
from ingest.store import escalation_chains as store

MAX_NAME = 100
NAME_TAKEN = "An escalation chain with this name already exists."


def serialize(chain: EscalationChain) -> dict[str, Any]:
    return {"id": chain.id, "name": chain.name, "team_id": chain.team_id}


def parse_chain_input(body: dict[str, Any], name_required: bool) -> dict[str, Any]:
    """The changes a body asks for (``name``, ``team_id``); raises all field errors at once."""
    errors = Errors()
    changes: dict[str, Any] = {}
    if "name" in body:
        name = optional_string(
            errors, ("name",), body["name"], MAX_NAME, allow_null=False, allow_blank=False
        )
        if name is not None:
            changes["name"] = name.strip()
    elif name_required:
        errors.add(("name",), "This field is required.")
    if "team_id" in body:
        team = None if body["team_id"] == "null" else body["team_id"]
        changes["team_id"] = optional_string(errors, ("team_id",), team, 64, allow_blank=False)
    errors.raise_if_any()
    return changes


async def _lookup(request: web.Request) -> EscalationChain:
    found = await store.get(
        context.redis(request), api_token(request).org_id, request.match_info["id"]
    )
    if found is None:
        raise not_found()
    return found


def _matches(chain: EscalationChain, request: web.Request) -> bool:
    return name_and_team_match(chain.name, chain.team_id, request.query)


@requires("integrations:read")
async def list_chains(request: web.Request) -> web.Response:
    everything = await store.list_all(context.redis(request), api_token(request).org_id)
    page, envelope = paginate(request, [c for c in everything if _matches(c, request)])
    envelope["results"] = [serialize(c) for c in page]
    return json_response(envelope)


@requires("integrations:read")
async def get_chain(request: web.Request) -> web.Response:
    return json_response(serialize(await _lookup(request)))


@requires("integrations:write")
async def create_chain(request: web.Request) -> web.Response:
    changes = parse_chain_input(await read_object(request), name_required=True)
    try:
        chain = await store.create(
            context.redis(request),
            api_token(request).org_id,
            changes["name"],
            changes.get("team_id"),
        )
    except store.NameTaken:
        raise field_errors({"name": [NAME_TAKEN]}) from None
    return json_response(serialize(chain), 201)


@requires("integrations:write")
async def update_chain(request: web.Request) -> web.Response:
    chain = await _lookup(request)
    changes = parse_chain_input(await read_object(request), name_required=request.method == "PUT")
    chain.name = changes.get("name", chain.name)
    chain.team_id = changes.get("team_id", chain.team_id)
    try:
        await store.save(context.redis(request), chain)
    except store.NameTaken:
        raise field_errors({"name": [NAME_TAKEN]}) from None
    except store.Gone:
        raise not_found() from None
    return json_response(serialize(chain))


@requires("integrations:write")
async def delete_chain(request: web.Request) -> web.Response:
    await store.delete(context.redis(request), await _lookup(request))
    return web.Response(status=204)


def add_routes(app: web.Application, add: Any) -> None:
    base = "/api/v1/escalation_chains"
    add(app, "GET", base, list_chains)
    add(app, "POST", base, create_chain)
    add(app, "GET", base + "/{id}", get_chain)
    add(app, "PUT", base + "/{id}", update_chain)
    add(app, "PATCH", base + "/{id}", update_chain)
    add(app, "DELETE", base + "/{id}", delete_chain)
