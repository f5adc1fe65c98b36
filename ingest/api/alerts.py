"""``/api/v1/alerts/``: list (filters ``alert_group_id``, ``id``, ``search``) and retrieve.

Newest first, page-number pagination (page size 50). Each alert carries its ``trace``: what the
pipeline decided for it (labels with their source, grouping key, signals, routes tried, template
issues) plus ``group``: the group it landed in and how (``result``). ``search`` is a
case-insensitive substring of the payload's JSON text, rendered like Python's ``json.dumps`` with
its default separators (``", "``, ``": "``) but keeping non-ASCII characters as they are.

``search`` is bounded: it looks at the newest ``SEARCH_WINDOW`` alerts of the scope (the
organization, or the group given by ``alert_group_id``), newest first, and lists those that
match (``count`` counts matches within that window). It reads and matches ``SEARCH_SLICE``
alerts at a time, yielding the event loop between slices, so a search never stalls the link
endpoints served by the same process.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
from aiohttp import web
from redis.asyncio import Redis

from ingest.api import context
from ingest.api.auth import api_token, requires
from ingest.api.errors import json_response, not_found
from ingest.api.pagination import paginate
from ingest.representation import alert_full
from ingest.store import groups as store

SEARCH_WINDOW = 10_000
SEARCH_SLICE = 50
SEARCH_DOC = (
    "Case-insensitive substring of the alert's payload as JSON text (Python json.dumps style: "
    f'", " and ": " separators, non-ASCII kept). Searches the newest {SEARCH_WINDOW} alerts of '
    "the scope (the organization, or the alert group given by alert_group_id); count is the "
    "number of matches among them."
)


def payload_text(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


async def _page(request: web.Request, ids: list[str]) -> web.Response:
    page, envelope = paginate(request, ids)
    envelope["results"] = [alert_full(a) for a in await store.alerts(context.redis(request), page)]
    return json_response(envelope)


async def _candidates(request: web.Request, org_id: str) -> list[str] | None:
    """Alert ids narrowed by ``alert_group_id``/``id`` (newest first); None: no narrowing."""
    redis = context.redis(request)
    ids: list[str] | None = None
    group_id = request.query.get("alert_group_id")
    if group_id:
        group = await store.get_org_group(redis, org_id, group_id)
        ids = await store.alert_ids(redis, group_id) if group is not None else []
    alert_id = request.query.get("id")
    if alert_id:
        if ids is None:
            ids = [alert_id] if await store.alert_in_org(redis, org_id, alert_id) else []
        else:
            ids = [a for a in ids if a == alert_id]
    return ids


@requires("alert_groups:read")
async def list_alerts(request: web.Request) -> web.Response:
    redis = context.redis(request)
    org_id = api_token(request).org_id
    ids = await _candidates(request, org_id)
    search = request.query.get("search", "").lower()
    if not search:
        if ids is not None:
            return await _page(request, ids)
        page_ranks, envelope = paginate(request, range(await store.org_alert_count(redis, org_id)))
        if page_ranks:
            page = await store.org_alert_ids(redis, org_id, page_ranks[0], page_ranks[-1])
            envelope["results"] = [alert_full(a) for a in await store.alerts(redis, page)]
        return json_response(envelope)
    if ids is None:
        ids = await store.org_alert_ids(redis, org_id, 0, SEARCH_WINDOW - 1)
    return await _page(request, await _search(redis, ids[:SEARCH_WINDOW], search))


async def _search(redis: Redis, ids: list[str], needle: str) -> list[str]:
    """The ids (newest first) whose payload text holds ``needle``, a slice at a time."""
    found: list[str] = []
    for start in range(0, len(ids), SEARCH_SLICE):
        chunk = ids[start : start + SEARCH_SLICE]
        for alert_id, raw in zip(chunk, await store.alert_docs(redis, chunk), strict=True):
            if raw is not None and needle in payload_text(orjson.loads(raw)["payload"]).lower():
                found.append(alert_id)
        await asyncio.sleep(0)  # let link requests in between slices
    return found


@requires("alert_groups:read")
async def get_alert(request: web.Request) -> web.Response:
    redis = context.redis(request)
    alert_id = request.match_info["id"]
    if not await store.alert_in_org(redis, api_token(request).org_id, alert_id):
        raise not_found()
    found = await store.alerts(redis, [alert_id])
    if not found:
        raise not_found()
    return json_response(alert_full(found[0]))


def add_routes(app: web.Application, add: Any) -> None:
    add(app, "GET", "/api/v1/alerts", list_alerts)
    add(app, "GET", "/api/v1/alerts/{id}", get_alert)
