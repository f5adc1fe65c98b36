"""Console pages for integrations: the list, one integration (settings, maintenance, heartbeat,
routes with their escalation chains, picked from ``/api/v1/escalation_chains/``).

Every figure on these pages is read through the public API's handlers (``bridge.read``); every
change is made by the page's script calling the same API under ``/console/api/v1/``.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ingest.api import alert_groups, escalation_chains, integrations, routes
from ingest.console import bridge
from ingest.console.pages import page, render, token_of
from ingest.models import INTEGRATION_TYPES

OPEN_STATES = ("new", "acknowledged")


def page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1


async def open_counts(request: web.Request, integration_id: str) -> dict[str, int]:
    """Open groups of one integration by state, as the group list's ``count`` gives them."""
    out: dict[str, int] = {}
    for state in OPEN_STATES:
        query = urlencode({"integration_id": integration_id, "state": state, "perpage": 1})
        listed = await bridge.read(
            request, alert_groups.list_groups, f"/api/v1/alert_groups/?{query}"
        )
        out[state] = int(listed["count"])
    return out


@page
async def list_page(request: web.Request) -> web.StreamResponse:
    query = urlencode({"perpage": 100, "page": page_number(request)})
    listed = await bridge.read(
        request, integrations.list_integrations, f"/api/v1/integrations/?{query}"
    )
    counts: list[dict[str, int] | None] = [None] * len(listed["results"])
    if "alert_groups:read" in token_of(request).scopes:
        counts = list(
            await asyncio.gather(*(open_counts(request, i["id"]) for i in listed["results"]))
        )
    rows = list(zip(listed["results"], counts, strict=True))
    types = sorted(INTEGRATION_TYPES.values(), key=lambda t: t.title.lower())
    return render(request, "integrations.html", {"listed": listed, "rows": rows, "types": types})


def labels_text(labels: list[dict[str, Any]]) -> str:
    return "\n".join(f"{item['key']['name']}={item['value']['name']}" for item in labels)


@page
async def detail_page(request: web.Request) -> web.StreamResponse:
    integration_id = request.match_info["id"]
    integration = await bridge.read(
        request, integrations.get_integration, f"/api/v1/integrations/{integration_id}/"
    )
    query = urlencode({"integration_id": integration_id, "perpage": 100})
    listed = await bridge.read(request, routes.list_routes, f"/api/v1/routes/?{query}")
    ordered = sorted(listed["results"], key=lambda r: (r["is_the_last_route"], r["position"]))
    chains = await bridge.read(
        request, escalation_chains.list_chains, "/api/v1/escalation_chains/?perpage=100"
    )
    return render(
        request,
        "integration.html",
        {
            "integration": integration,
            "routes": ordered,
            "chains": chains["results"],
            "labels_text": labels_text(integration["labels"]),
            "type_title": INTEGRATION_TYPES[integration["type"]].title,
        },
    )
