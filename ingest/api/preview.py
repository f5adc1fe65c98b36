"""``POST /api/v1/integrations/{id}/preview/``: what the pipeline would decide, creating nothing.

Body ``{"payload": <any JSON>, "templates": {...}}``; ``templates`` (optional) overrides the
integration's templates in the integration API's shape and is validated like a PUT (400 field
errors under ``templates``). The answer:

- ``trace``: the trace the worker records (``ingest.trace``): labels, grouping key, signals,
  template issues, the route decision over the integration's routes, the maintenance mode;
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
from ingest.api.integrations import _merge_templates
from ingest.store import integrations as store
from ingest.trace import active_maintenance, build_trace, route_specs, template_limits
from templates_engine import evaluate_alert, render_channels, select_route


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
        templates = _merge_templates(templates, changes or {})
    limits = template_limits(settings)
    evaluation = evaluate_alert(
        integration.type,
        templates,
        payload,
        static_labels=[(label.key, label.value) for label in integration.labels],
        dynamic_labels=[(label.key, label.value) for label in integration.dynamic_labels],
        multi_label_template=integration.alert_group_labels_template,
        max_labels=settings.max_labels,
        limits=limits,
    )
    routes = await store.routes_of(redis, integration)
    decision = select_route(route_specs(routes), payload, evaluation.labels_dict, limits=limits)
    rendering = render_channels(
        integration.type,
        templates,
        payload,
        integration_name=integration.name,
        limits=limits,
    )
    mode = active_maintenance(integration, time.time())
    channels: dict[str, Any] = {
        name: {"title": r.title, "message": r.message, "image_url": r.image_url}
        for name, r in rendering.channels.items()
    }
    return json_response(
        {
            "trace": build_trace(evaluation, decision, mode),
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
