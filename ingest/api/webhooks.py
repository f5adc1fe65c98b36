"""``/api/v1/webhooks/``: outgoing webhooks (list, create, retrieve, update, delete) and each
webhook's ``/responses/`` log.

Scopes ``outgoing_webhooks:read`` (list, retrieve, responses) and ``outgoing_webhooks:write``
(create, update, delete); the Grafana names ``grafana-oncall-app.outgoing-webhooks:read``/``write``
are aliases. Validation is ``ingest.api.webhook_input``; delivery happens in the workers
(``worker.webhooks``).

- Objects have Grafana OnCall's keys in their order, plus ``signing_secret``. Secrets are shown as
  ``****************`` when set (``""`` and null as stored) and never logged.
- PUT and PATCH both change only the fields sent (Grafana OnCall's PUT clears
  ``integration_filter`` and resets ``team``: not copied).
- List: page size 50, creation order, filters ``name`` (exact) and ``team_id`` (id or ``null``).
- ``/responses/``: the newest 100 delivery attempts, newest first, paginated; every attempt,
  whatever trigger fired it (Grafana OnCall hides a ``status change`` webhook's attempts).
- DELETE: 204; deliveries still owed to the webhook are dropped, its log is deleted.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ingest.api import context
from ingest.api.auth import api_token, requires
from ingest.api.body import read_object
from ingest.api.errors import field_errors, json_response, not_found
from ingest.api.pagination import name_and_team_match, paginate
from ingest.api.webhook_input import parse
from ingest.store import integrations as integration_store
from ingest.store import webhooks as store
from ingest.webhook import SECRET_MASK, Webhook

NAME_TAKEN = "A webhook with this name already exists."
RESPONSE_KEYS = (
    "timestamp",
    "url",
    "request_trigger",
    "request_headers",
    "request_data",
    "status_code",
    "content",
    "event_data",
    "event_type",
    "delivery_id",
    "attempt",
    "outcome",
    "duration_ms",
    "error",
)


def _masked(value: str | None) -> str | None:
    return SECRET_MASK if value else value


def serialize(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "name": webhook.name,
        "is_webhook_enabled": webhook.is_webhook_enabled,
        "team": webhook.team_id,
        "data": webhook.data,
        "username": webhook.username,
        "password": _masked(webhook.password),
        "authorization_header": _masked(webhook.authorization_header),
        "trigger_template": webhook.trigger_template,
        "headers": webhook.headers,
        "url": webhook.url,
        "forward_all": webhook.forward_all,
        "http_method": webhook.http_method,
        "trigger_type": webhook.trigger_type,
        "integration_filter": webhook.integration_filter or None,
        "preset": None,
        "signing_secret": _masked(webhook.signing_secret),
    }


async def _lookup(request: web.Request) -> Webhook:
    found = await store.get(
        context.redis(request), api_token(request).org_id, request.match_info["id"]
    )
    if found is None:
        raise not_found()
    return found


async def _fields(request: web.Request, current: Webhook | None) -> dict[str, Any]:
    body = await read_object(request)
    redis, org_id = context.redis(request), api_token(request).org_id
    live: set[str] = set()
    if body.get("integration_filter"):
        live = {i.id for i in await integration_store.list_live(redis, org_id)}
    return parse(body, current, context.settings(request), live)


def _matches(webhook: Webhook, request: web.Request) -> bool:
    return name_and_team_match(webhook.name, webhook.team_id, request.query)


@requires("outgoing_webhooks:read")
async def list_webhooks(request: web.Request) -> web.Response:
    everything = await store.list_all(context.redis(request), api_token(request).org_id)
    page, envelope = paginate(request, [w for w in everything if _matches(w, request)])
    envelope["results"] = [serialize(w) for w in page]
    return json_response(envelope)


@requires("outgoing_webhooks:read")
async def get_webhook(request: web.Request) -> web.Response:
    return json_response(serialize(await _lookup(request)))


@requires("outgoing_webhooks:write")
async def create_webhook(request: web.Request) -> web.Response:
    fields = await _fields(request, None)
    try:
        webhook = await store.save(context.redis(request), api_token(request).org_id, fields)
    except store.NameTaken:
        raise field_errors({"name": [NAME_TAKEN]}) from None
    return json_response(serialize(webhook), 201)


@requires("outgoing_webhooks:write")
async def update_webhook(request: web.Request) -> web.Response:
    current = await _lookup(request)
    fields = await _fields(request, current)
    try:
        webhook = await store.save(context.redis(request), current.org_id, fields, current.id)
    except store.NameTaken:
        raise field_errors({"name": [NAME_TAKEN]}) from None
    except store.Gone:
        raise not_found() from None
    return json_response(serialize(webhook))


@requires("outgoing_webhooks:write")
async def delete_webhook(request: web.Request) -> web.Response:
    await store.delete(context.redis(request), await _lookup(request))
    return web.Response(status=204)


@requires("outgoing_webhooks:read")
async def list_responses(request: web.Request) -> web.Response:
    webhook = await _lookup(request)
    entries = await store.responses(context.redis(request), webhook.id)
    page, envelope = paginate(request, entries)
    envelope["results"] = [{k: entry.get(k) for k in RESPONSE_KEYS} for entry in page]
    return json_response(envelope)


def add_routes(app: web.Application, add: Any) -> None:
    base = "/api/v1/webhooks"
    add(app, "GET", base, list_webhooks)
    add(app, "POST", base, create_webhook)
    add(app, "GET", base + "/{id}", get_webhook)
    add(app, "PUT", base + "/{id}", update_webhook)
    add(app, "PATCH", base + "/{id}", update_webhook)
    add(app, "DELETE", base + "/{id}", delete_webhook)
    add(app, "GET", base + "/{id}/responses", list_responses)
