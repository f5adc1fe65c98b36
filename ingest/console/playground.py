"""The template playground of an integration.

The page lists the integration's templates (empty = the type's default, shown as the field's
placeholder), its dynamic labels and multi-label template, and up to ``RECENT`` recent payloads
(the last alert of each of its newest groups) next to a paste box. Its script posts every change,
debounced, to the integration's preview endpoint (``POST /api/v1/integrations/{id}/preview/``, the
evaluation the worker runs) and shows the result; Save is a PUT of the same integration API.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from ingest.api import alert_groups, integrations
from ingest.console import bridge
from ingest.console.pages import page, render, token_of
from ingest.models import BEHAVIOUR_TEMPLATES, CHANNEL_TEMPLATES
from templates_engine import resolve_template

RECENT = 20
PAYLOAD_SHOWN = 20_000


def template_fields(integration: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per template: dotted name, current custom text, the default in effect."""
    kind = integration["type"]
    stored = integration.get("templates") or {}
    out: list[dict[str, Any]] = []
    for name in BEHAVIOUR_TEMPLATES:
        out.append({"name": name, "group": "behaviour", "value": stored.get(name) or "",
                    "default": resolve_template(kind, None, name) or ""})  # fmt: skip
    for channel, attrs in CHANNEL_TEMPLATES.items():
        block = stored.get(channel) or {}
        for attr in attrs:
            dotted = f"{channel}.{attr}"
            out.append({"name": dotted, "group": channel, "value": block.get(attr) or "",
                        "default": resolve_template(kind, None, dotted) or ""})  # fmt: skip
    return out


async def recent_payloads(request: web.Request, integration_id: str) -> list[dict[str, str]]:
    if "alert_groups:read" not in token_of(request).scopes:
        return []
    query = urlencode({"integration_id": integration_id, "perpage": RECENT})
    listed = await bridge.read(request, alert_groups.list_groups, f"/api/v1/alert_groups/?{query}")
    out: list[dict[str, str]] = []
    for group in listed["results"]:
        last = group.get("last_alert")
        if not last:
            continue
        text = orjson.dumps(last["payload"], option=orjson.OPT_INDENT_2).decode()
        if len(text) <= PAYLOAD_SHOWN:
            title = group.get("title") or group["id"]
            out.append({"label": f"{last['created_at']} · {title}"[:120], "payload": text})
    return out


@page
async def playground_page(request: web.Request) -> web.StreamResponse:
    integration_id = request.match_info["id"]
    integration = await bridge.read(
        request, integrations.get_integration, f"/api/v1/integrations/{integration_id}/"
    )
    dynamic = "\n".join(
        f"{item['key']['name']}={item['value']['name']}" for item in integration["dynamic_labels"]
    )
    fields = template_fields(integration)
    return render(
        request,
        "playground.html",
        {
            "integration": integration,
            "behaviour": [f for f in fields if f["group"] == "behaviour"],
            "channels": {c: [f for f in fields if f["group"] == c] for c in CHANNEL_TEMPLATES},
            "dynamic_labels": dynamic,
            "recent": await recent_payloads(request, integration_id),
        },
    )
