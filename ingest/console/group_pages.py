"""Console pages for alert groups: the filtered list (and its self-refreshing rows), one group.

The list is exactly ``GET /api/v1/alert_groups/`` with the same filters (state, integration,
route, labels, ``started_at``), newest first, 25 per page. The rows fragment
(``/console/groups/rows``) is what the page's script fetches every few seconds. A group page shows
the group, its newest alerts, and each alert's decision trace as a story (``story``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ingest.api import alert_groups, alerts, integrations
from ingest.console import bridge, story
from ingest.console.pages import page, render

PAGE_SIZE = 25
ALERTS_SHOWN = 20
FILTERS = ("state", "integration_id", "route_id", "started_at", "id")
STATES = (("", "any state"), ("new", "firing"), ("acknowledged", "acknowledged"),
          ("resolved", "resolved"), ("silenced", "silenced"))  # fmt: skip


def filter_pairs(request: web.Request) -> list[tuple[str, str]]:
    """The list filters of this request, as the API takes them (empty values dropped)."""
    pairs = [(k, request.query[k]) for k in FILTERS if request.query.get(k)]
    pairs += [("label", v) for v in request.query.getall("label", []) if v]
    return pairs


async def integration_names(request: web.Request) -> dict[str, str]:
    listed = await bridge.read(
        request, integrations.list_integrations, "/api/v1/integrations/?perpage=100"
    )
    return {i["id"]: i["name"] for i in listed["results"]}


async def _listing(request: web.Request) -> dict[str, Any]:
    pairs = filter_pairs(request)
    page_no = request.query.get("page", "1")
    query = urlencode([*pairs, ("perpage", str(PAGE_SIZE)), ("page", page_no)])
    listed = await bridge.read(request, alert_groups.list_groups, f"/api/v1/alert_groups/?{query}")
    current = int(listed["current_page_number"])

    def link(number: int) -> str:
        return "/console/groups?" + urlencode([*pairs, ("page", str(number))])

    return {
        "listed": listed,
        "names": await integration_names(request),
        "filters": dict(pairs),
        "label_filter": request.query.get("label", ""),
        "states": STATES,
        "previous_link": link(current - 1) if listed["previous"] else None,
        "next_link": link(current + 1) if listed["next"] else None,
        "rows_url": "/console/groups/rows?" + urlencode([*pairs, ("page", str(current))]),
    }


@page
async def list_page(request: web.Request) -> web.StreamResponse:
    return render(request, "groups.html", await _listing(request))


@page
async def rows_fragment(request: web.Request) -> web.StreamResponse:
    return render(request, "group_rows.html", await _listing(request))


@page
async def detail_page(request: web.Request) -> web.StreamResponse:
    group_id = request.match_info["id"]
    group = await bridge.read(request, alert_groups.get_group, f"/api/v1/alert_groups/{group_id}/")
    query = urlencode({"alert_group_id": group_id, "perpage": ALERTS_SHOWN})
    listed = await bridge.read(request, alerts.list_alerts, f"/api/v1/alerts/?{query}")
    names = await integration_names(request)
    shown = [(a, story.tell(a.get("trace") or {})) for a in listed["results"]]
    return render(
        request,
        "group.html",
        {"group": group, "alerts": shown, "alerts_total": listed["count"], "names": names},
    )
