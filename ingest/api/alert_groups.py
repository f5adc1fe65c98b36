"""``/api/v1/alert_groups/``: list, retrieve, delete (wipe or delete) and the six actions.

Object shape, filters, order and action preconditions follow the reference (OnCall public API).
Choices of ours:

- Actions answer 200 with the updated group object (OnCall answers an empty body; its clients
  ignore the body, so they keep working, and others save a GET).
- ``unresolve`` reopens the group for grouping: a later alert with the same key joins it (unless
  another group opened for that key meanwhile). Unresolving a wiped group is refused (400).
- Delete answers 204 once done (synchronously); bad bodies get ``{"detail": ...}`` errors.
- Actions record the token's name in ``acknowledged_by``/``resolved_by`` and send the same stream
  events as source actions (``ingest.events``), with ``data.actor`` the token's name.
- ``team_id=<unknown>`` filters to an empty list (no teams registry to validate against).
"""

from __future__ import annotations

import math
import time
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from ingest.api import context
from ingest.api.alerts import alert_brief
from ingest.api.auth import api_token, requires
from ingest.api.body import FORM_TYPES, is_json_type, parse_json, read_form, read_object
from ingest.api.errors import bad_request, detail, json_response, not_found
from ingest.api.group_filters import group_labels, group_state, is_silenced, number, parse_filter
from ingest.api.pagination import paginate
from ingest.events import send_action_event
from ingest.settings import Settings
from ingest.store import groups as store
from ingest.store import integrations as integrations_store
from ingest.store import keys
from ingest.store.group_actions import GroupActions
from ingest.timefmt import iso

ACTIONS = ("acknowledge", "unacknowledge", "resolve", "unresolve", "silence", "unsilence")
EVENT_TYPES = {
    "acknowledge": "alert_group_acknowledged",
    "unacknowledge": "alert_group_unacknowledged",
    "resolve": "alert_group_resolved",
    "unresolve": "alert_group_unresolved",
    "silence": "alert_group_silenced",
    "unsilence": "alert_group_unsilenced",
}
# Escalation starts again after these; the others stop it (or leave it stopped).
RESTARTS_ESCALATION = ("unacknowledge", "unresolve", "unsilence")
MAX_SILENCE_SECONDS = 10 * 365 * 86400
DELETE_MODES = ("wipe", "delete")


def _actor_name(value: str | None) -> str | None:
    """Stored actor (``source`` or a token's name) as shown: null for the alert source."""
    return None if not value or value == "source" else value


def serialize_group(
    group: dict[str, str],
    last_alert: dict[str, Any] | None,
    live_routes: set[str],
    settings: Settings,
    now: float,
) -> dict[str, Any]:
    route_id = group.get("route_id") or None
    silenced = is_silenced(group, now)
    return {
        "id": group["id"],
        "integration_id": group.get("integration_id") or None,
        "team_id": group.get("team_id") or None,
        "route_id": route_id if route_id in live_routes else None,
        "alerts_count": int(group.get("alerts_count") or 0),
        "state": group_state(group, now),
        "created_at": iso(number(group, "created_at") or 0.0),
        "resolved_at": iso(number(group, "resolved_at")),
        "resolved_by": _actor_name(group.get("resolved_by")),
        "acknowledged_at": iso(number(group, "acknowledged_at")),
        "acknowledged_by": _actor_name(group.get("acknowledged_by")),
        "labels": [
            {"key": {"id": k, "name": k}, "value": {"id": v, "name": v}}
            for k, v in group_labels(group)
        ],
        "title": group.get("title") or None,
        "permalinks": {
            "slack": None,
            "slack_app": None,
            "telegram": None,
            "web": f"{settings.link_base}/api/v1/alert_groups/{group['id']}",
        },
        "silenced_at": iso(number(group, "silenced_at")) if silenced else None,
        "last_alert": alert_brief(last_alert) if last_alert is not None else None,
        "silenced_until": iso(number(group, "silenced_until")) if silenced else None,
    }


async def serialize_groups(
    redis: Redis, settings: Settings, page: list[dict[str, str]]
) -> list[dict[str, Any]]:
    wanted = [g["last_alert_id"] for g in page if g.get("last_alert_id")]
    last = {a["id"]: a for a in await store.alerts(redis, wanted)} if wanted else {}
    live = await store.existing_routes(redis, {g["route_id"] for g in page if g.get("route_id")})
    now = time.time()
    return [
        serialize_group(g, last.get(g.get("last_alert_id", "")), live, settings, now) for g in page
    ]


async def _lookup(request: web.Request) -> dict[str, str]:
    found = await store.get_org_group(
        context.redis(request), api_token(request).org_id, request.match_info["id"]
    )
    if found is None:
        raise not_found()
    return found


async def _respond(request: web.Request, group_id: str) -> web.Response:
    redis = context.redis(request)
    group = await store.get_group(redis, group_id)
    if group is None:
        raise not_found()
    [body] = await serialize_groups(redis, context.settings(request), [group])
    return json_response(body)


@requires("alert_groups:read")
async def list_groups(request: web.Request) -> web.Response:
    redis, settings = context.redis(request), context.settings(request)
    org_id = api_token(request).org_id
    wanted = parse_filter(request.query)
    if wanted.empty:
        ids, envelope = paginate(request, await store.group_ids(redis, org_id))
        page = await store.groups(redis, ids)
    else:
        now = time.time()
        everything = await store.groups(redis, await store.group_ids(redis, org_id))
        page, envelope = paginate(request, [g for g in everything if wanted.matches(g, now)])
    envelope["results"] = await serialize_groups(redis, settings, page)
    return json_response(envelope)


@requires("alert_groups:read")
async def get_group(request: web.Request) -> web.Response:
    return await _respond(request, (await _lookup(request))["id"])


def parse_delay(body: dict[str, Any]) -> int:
    """``delay`` parsed like Python's ``int()`` (the reference's rule), as a proper 400."""
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


async def _event_data(
    redis: Redis, group: dict[str, str], action: str, actor: str
) -> dict[str, Any]:
    route_id = group.get("route_id")
    route = await integrations_store.get_route(redis, route_id) if route_id else None
    chain = route.escalation_chain_id if route is not None else None
    return {
        "route_id": route.id if route is not None else None,
        "escalation_chain_id": chain,
        "escalate": action in RESTARTS_ESCALATION and chain is not None,
        "actor": actor,
    }


async def _stop_maintenance(redis: Redis, group: dict[str, str]) -> None:
    """Resolving a maintenance group ends the integration's maintenance (the reference's rule)."""
    integration = await integrations_store.load(redis, group.get("integration_id", ""))
    if integration is None or integration.maintenance_mode is None:
        return
    integration.maintenance_mode = None
    integration.maintenance_started_at = None
    integration.maintenance_end_at = None
    await integrations_store.save(redis, integration)


async def _resolve_attached(
    redis: Redis, actions: GroupActions, root_id: str, actor: str, now: float
) -> None:
    """A maintenance group's resolve reaches the groups attached to it (each atomically)."""
    for child_id in await store.attached_group_ids(redis, root_id):
        child = await store.get_group(redis, child_id)
        if child is None:
            continue
        done = await actions.act(child, "resolve", actor, now, via_root=root_id)
        if done.ok:
            data = await _event_data(redis, child, "resolve", actor)
            await send_action_event(redis, EVENT_TYPES["resolve"], child, data)


async def end_maintenance(redis: Redis, integration_id: str, actor: str) -> None:
    """Stopping maintenance resolves the maintenance group and every group attached to it."""
    raw = await redis.get(keys.maintenance_group(integration_id))
    group = await store.get_group(redis, raw.decode()) if raw is not None else None
    if group is None:
        return
    actions = GroupActions(redis)
    now = time.time()
    if (await actions.act(group, "resolve", actor, now)).ok:
        data = await _event_data(redis, group, "resolve", actor)
        await send_action_event(redis, EVENT_TYPES["resolve"], group, data)
    await _resolve_attached(redis, actions, group["id"], actor, now)


async def run_action(request: web.Request, action: str) -> web.Response:
    redis = context.redis(request)
    group = await _lookup(request)
    body = await read_object(request) if action == "silence" else {}
    until: float | None = None
    now = time.time()
    if action == "silence":
        delay = parse_delay(body)
        until = now + delay if delay > 0 else None
    actor = api_token(request).name
    actions = GroupActions(redis)
    outcome = await actions.act(group, action, actor, now, until)
    if outcome.status == "missing":
        raise not_found()
    if outcome.status == "refused":
        raise bad_request(outcome.message)
    data = await _event_data(redis, group, action, actor)
    if action == "silence":
        data["silenced_until"] = iso(until)
    if action == "unresolve":
        data["reopened"] = outcome.message == "reopened"
    await send_action_event(redis, EVENT_TYPES[action], group, data)
    if outcome.message == "ended_maintenance":
        await _stop_maintenance(redis, group)
    if action == "resolve" and group.get("is_maintenance") == "1":
        await _resolve_attached(redis, actions, group["id"], actor, now)
    return await _respond(request, group["id"])


def _action_handler(action: str) -> Any:
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
    mode = await _delete_mode(request)
    actions = GroupActions(redis)
    if mode == "delete":
        await actions.delete(group)
        return web.Response(status=204)
    actor = api_token(request).name
    outcome = await actions.wipe(group, actor, time.time())
    if outcome.ok and outcome.message == "resolved":
        data = {**await _event_data(redis, group, "resolve", actor), "wiped": True}
        await send_action_event(redis, EVENT_TYPES["resolve"], group, data)
    return web.Response(status=204)


def add_routes(app: web.Application, add: Any) -> None:
    base = "/api/v1/alert_groups"
    add(app, "GET", base, list_groups)
    add(app, "GET", base + "/{id}", get_group)
    add(app, "DELETE", base + "/{id}", delete_group)
    for action in ACTIONS:
        add(app, "POST", f"{base}/{{id}}/{action}", _action_handler(action))
