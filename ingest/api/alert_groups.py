"""``/api/v1/alert_groups/``: list, retrieve, delete (wipe or delete) and the six actions.

Object shape, filters, order and action preconditions follow Grafana OnCall's public API.
Choices of ours:

- Actions answer 200 with the updated group object (OnCall answers an empty body; its clients
  ignore the body, so they keep working, and others save a GET).
- ``unresolve`` reopens the group for grouping: a later alert with the same key joins it (unless
  another group opened for that key meanwhile). Unresolving a wiped group is refused (400).
- Delete answers 204 once done (synchronously); bad bodies get ``{"detail": ...}`` errors.
- Actions record the token's name in ``acknowledged_by``/``resolved_by`` and send the same stream
  events as source actions, with ``data.actor`` the token's name (``ingest.domain.groups``).
- ``permalinks.web`` is the group's page in the web console (``/console/groups/{id}``).
- ``team_id=<unknown>`` filters to an empty list (no teams registry to validate against).
"""

from __future__ import annotations

import math
import time
from typing import Any

from aiohttp import web

from ingest.api import context
from ingest.api.auth import api_token, requires
from ingest.api.body import FORM_TYPES, is_json_type, parse_json, read_form, read_object
from ingest.api.errors import bad_request, detail, json_response, not_found
from ingest.api.group_filters import parse_filter
from ingest.api.indexes import require_indexes
from ingest.api.pagination import envelope, page_request
from ingest.domain import groups
from ingest.domain.group_list import find_groups
from ingest.domain.groups import ACTIONS, Action
from ingest.representation import serialize_group
from ingest.settings import Settings
from ingest.store import groups as store

MAX_SILENCE_SECONDS = 10 * 365 * 86400
DELETE_MODES = ("wipe", "delete")


def serialize_rows(settings: Settings, rows: list[store.GroupRow]) -> list[dict[str, Any]]:
    now = time.time()
    live = {r.group.get("route_id", "") for r in rows if r.route_live}
    return [serialize_group(r.group, r.last_alert, live, settings, now) for r in rows]


async def _lookup(request: web.Request) -> dict[str, str]:
    found = await store.get_org_group(
        context.redis(request), api_token(request).org_id, request.match_info["id"]
    )
    if found is None:
        raise not_found()
    return found


async def _respond(request: web.Request, group_id: str, org_id: str | None = None) -> web.Response:
    """The group as the API shows it; 404 when it is gone (or, with ``org_id``, another org's)."""
    rows = await store.group_rows(context.redis(request), [group_id])
    if not rows or (org_id is not None and rows[0].group.get("org_id") != org_id):
        raise not_found()
    [body] = serialize_rows(context.settings(request), rows)
    return json_response(body)


@requires("alert_groups:read")
async def list_groups(request: web.Request) -> web.Response:
    redis, settings = context.redis(request), context.settings(request)
    org_id = api_token(request).org_id
    await require_indexes(request)
    page, size = page_request(request)
    found = await find_groups(redis, org_id, parse_filter(request.query), page, size)
    body = envelope(request, found.count, found.page, size)
    body["results"] = serialize_rows(settings, found.rows)
    return json_response(body)


@requires("alert_groups:read")
async def get_group(request: web.Request) -> web.Response:
    return await _respond(request, request.match_info["id"], api_token(request).org_id)


def parse_delay(body: dict[str, Any]) -> int:
    """``delay`` parsed like Python's ``int()`` (Grafana OnCall's rule), as a proper 400."""
    raw = body.get("delay")
    if raw is None:
        raise bad_request("delay is required")
    try:
        if isinstance(raw, float) and not math.isfinite(raw):
            raise ValueError(raw)
        if not isinstance(raw, (bool, int, float, str)):
            raise TypeError(raw)
        delay = int(raw)
    except (TypeError, ValueError):
        raise bad_request("invalid delay value") from None
    if delay < -1 or delay > MAX_SILENCE_SECONDS:
        raise bad_request("invalid delay value")
    return delay


async def run_action(request: web.Request, action: Action) -> web.Response:
    group = await _lookup(request)
    until: float | None = None
    now = time.time()
    if action == "silence":
        delay = parse_delay(await read_object(request))
        until = now + delay if delay > 0 else None
    actor = api_token(request).name
    outcome = await groups.act(context.redis(request), group, action, actor, now, until)
    if outcome.status == "missing":
        raise not_found()
    if outcome.status == "refused":
        raise bad_request(outcome.message)
    return await _respond(request, group["id"])


def _action_handler(action: Action) -> Any:
    @requires("alert_groups:write")
    async def handler(request: web.Request) -> web.Response:
        return await run_action(request, action)

    handler.__name__ = f"{action}_group"
    return handler


async def _delete_mode(request: web.Request) -> str:
    message = "A dict with a `mode` key is expected"
    body: Any = {}
    if request.body_exists:
        if is_json_type(request.content_type):
            raw = await request.read()
            body = parse_json(raw) if raw else {}
        elif request.content_type in FORM_TYPES:
            body = await read_form(request)
        else:
            raise detail(415, f'Unsupported media type "{request.content_type}" in request.')
    if not isinstance(body, dict):
        raise bad_request(message)
    mode = body.get("mode")
    if mode is None:
        return "wipe"
    if mode not in DELETE_MODES:
        raise bad_request("Invalid mode")
    return str(mode)


@requires("alert_groups:write")
async def delete_group(request: web.Request) -> web.Response:
    redis = context.redis(request)
    group = await _lookup(request)
    if await _delete_mode(request) == "delete":
        await groups.delete(redis, group)
    else:
        await groups.wipe(redis, group, api_token(request).name, time.time())
    return web.Response(status=204)


def add_routes(app: web.Application, add: Any) -> None:
    base = "/api/v1/alert_groups"
    add(app, "GET", base, list_groups)
    add(app, "GET", base + "/{id}", get_group)
    add(app, "DELETE", base + "/{id}", delete_group)
    for action in ACTIONS:
        add(app, "POST", f"{base}/{{id}}/{action}", _action_handler(action))
