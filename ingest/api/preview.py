"""``POST /api/v1/integrations/{id}/preview/``: what the pipeline would decide, creating nothing.

Body ``{"payload": <any JSON>, "templates": {...}}``; ``templates`` (optional) overrides the
integration's templates in the integration API's shape and is validated like a PUT (400 field
errors under ``templates``). ``dynamic_labels`` and ``alert_group_labels_template`` (optional)
override those fields the same way, so an editor can preview every template before saving.
The answer:

- ``trace``: the trace the worker records, decided by the same function (``ingest.trace.decide``):
  labels, grouping key, signals, template issues, the route decision over the integration's
  routes, the maintenance mode;
- ``channels``: every channel's rendered ``title``, ``message`` and ``image_url``;
- ``source_link`` and ``channel_issues`` (templates of channels that failed).

Renders run in the request (each template has its render budget).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from aiohttp import web

from ingest.api import context
from ingest.api.auth import api_token, requires
from ingest.api.body import read_object
from ingest.api.errors import field_errors, json_response, not_found
from ingest.domain.integration_input import IntegrationInput, parse_input
from ingest.models import merge_templates
from ingest.store import integrations as store
from ingest.trace import decide, template_limits
from templates_engine import render_channels

OVERRIDABLE = ("templates", "dynamic_labels", "alert_group_labels_template")


def _label_overrides(wanted: dict[str, Any], changes: IntegrationInput) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if changes.dynamic_labels is not None:
        out["dynamic_labels"] = changes.dynamic_labels
    if "alert_group_labels_template" in wanted:
        out["alert_group_labels_template"] = changes.fields.get("alert_group_labels_template")
    return out


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
    wanted = {k: body[k] for k in OVERRIDABLE if k in body}
    if wanted:
        changes = parse_input(wanted, settings, integration)
        templates = merge_templates(templates, changes.templates or {})
        integration = dataclasses.replace(integration, **_label_overrides(wanted, changes))
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
