"""``POST /api/v1/integrations/{id}/preview/``: what the pipeline would decide, creating nothing.

Body ``{"payload": <any JSON>, "templates": {...}}``; ``templates`` (optional) overrides the
integration's templates in the integration API's shape and is validated like a PUT (400 field
errors under ``templates``). The answer:

- ``trace``: the trace the worker records, decided by the same function (``ingest.trace.decide``):
  labels, grouping key, signals, template issues, the route decision over the integration's
  routes, the maintenance mode;
- ``channels``: every channel's rendered ``title``, ``message`` and ``image_url``;
- ``source_link`` and ``channel_issues`` (templates of channels that failed).

Renders run in the request (each template has its render budget).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from ingest.api import context
from ingest.api.auth import api_token, requires
from ingest.api.body import read_object
from ingest.api.errors import field_errors, json_response, not_found
from ingest.api.integration_input import parse_input
from ingest.models import merge_templates
from ingest.store import integrations as store
from ingest.trace import decide, template_limits
from templates_engine import render_channels


@requires("integrations:read")
async def preview(request: web.Request) -> web.Response:
    redis, settings = context.redis(request), context.settings(request)
    integration = await store.get(redis, api_token(request).org_id, request.match_info["id"])
    if integration is None:
        raise not_found()
    body = await read_object(request)
    if "payload" not in body:
        raise field_errors({"payload": ["This field is required."]})
    payload = body["payload"]
    templates = integration.templates
    if "templates" in body:
        changes = parse_input({"templates": body["templates"]}, settings, integration).templates
        templates = merge_templates(templates, changes or {})
    limits = template_limits(settings)
    decision = decide(
        integration,
        await store.routes_of(redis, integration),
        payload,
        max_labels=settings.max_labels,
        limits=limits,
        now=time.time(),
        templates=templates,
    )
    rendering = render_channels(
        integration.type,
        templates,
        payload,
        labels=decision.evaluation.labels_dict,
        integration_name=integration.name,
        limits=limits,
    )
    channels: dict[str, Any] = {
        name: {"title": r.title, "message": r.message, "image_url": r.image_url}
        for name, r in rendering.channels.items()
    }
    return json_response(
        {
            "trace": decision.trace(),
            "channels": channels,
            "source_link": rendering.source_link,
            "channel_issues": [
                {"template": i.template, "kind": i.kind, "message": i.message}
                for i in rendering.issues
            ],
        }
    )


def add_routes(app: web.Application, add: Any) -> None:
    add(app, "POST", "/api/v1/integrations/{id}/preview", preview)
