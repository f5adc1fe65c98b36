"""Console pages for outgoing webhooks: the list, a new one, one webhook and its delivery log.

Everything is read through ``/api/v1/webhooks/`` (``bridge.read``) and changed by the page's
script through the same API under ``/console/api/v1/webhooks/``, so scopes
(``outgoing_webhooks:read``/``:write``), validation and errors are the API's. Secrets
(``password``, ``authorization_header``, ``signing_secret``) are write-only: the API shows only
whether one is set, and the form's secret fields start empty (empty keeps the stored value).

The delivery log is ``/responses/`` (the newest 100 attempts), ``LOG_PAGE`` per page. Each
request and response text is cut on the page (``SHOWN`` characters per field), so a page of
hostile bodies stays well under 200 KB; the API has them whole (up to 4 KB each).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ingest.api import integrations, webhooks
from ingest.console import bridge
from ingest.console.integration_pages import page_number
from ingest.console.pages import page, render, token_of
from ingest.webhook import HTTP_METHODS, SECRET_FIELDS, SECRET_MASK, TRIGGER_TYPES

LOG_PAGE = 10
SHOWN = {"url": 300, "request_headers": 500, "request_data": 800, "content": 800, "error": 300}
SECRET_TITLES = {
    "password": "Basic auth password",
    "authorization_header": "Authorization header",
    "signing_secret": "Signing secret",
}
NEW_WEBHOOK: dict[str, Any] = {
    "id": "",
    "name": "",
    "is_webhook_enabled": True,
    "url": "",
    "http_method": "POST",
    "trigger_type": "alert group created",
    "integration_filter": None,
    "forward_all": True,
    "data": None,
    "headers": None,
    "trigger_template": None,
    "username": None,
    **{name: None for name in SECRET_FIELDS},
}


def cut(value: Any, limit: int) -> str:
    """A log value as text, at most ``limit`` characters (``…`` marks a cut)."""
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


async def integration_choices(request: web.Request) -> list[tuple[str, str]]:
    """(id, name) of the organization's integrations, for the integration filter."""
    if "integrations:read" not in token_of(request).scopes:
        return []
    listed = await bridge.read(
        request, integrations.list_integrations, "/api/v1/integrations/?perpage=100"
    )
    return [(i["id"], i["name"]) for i in listed["results"]]


def form_context(webhook: dict[str, Any], choices: list[tuple[str, str]]) -> dict[str, Any]:
    chosen = set(webhook.get("integration_filter") or [])
    known = {i for i, _ in choices}
    is_set = {name: webhook.get(name) == SECRET_MASK for name in SECRET_FIELDS}
    return {
        "webhook": webhook,
        "methods": HTTP_METHODS,
        "triggers": TRIGGER_TYPES,
        "choices": choices + [(i, i) for i in sorted(chosen - known)],
        "chosen": chosen,
        "secrets": [(name, SECRET_TITLES[name], is_set[name]) for name in SECRET_FIELDS],
    }


@page
async def list_page(request: web.Request) -> web.StreamResponse:
    query = urlencode({"perpage": 100, "page": page_number(request)})
    listed = await bridge.read(request, webhooks.list_webhooks, f"/api/v1/webhooks/?{query}")
    names = dict(await integration_choices(request))
    return render(request, "webhooks.html", {"listed": listed, "names": names})


@page
async def new_page(request: web.Request) -> web.StreamResponse:
    await bridge.read(request, webhooks.list_webhooks, "/api/v1/webhooks/?perpage=1")
    context = form_context(dict(NEW_WEBHOOK), await integration_choices(request))
    return render(request, "webhook.html", {**context, "log": None})


def log_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**entry, **{k: cut(entry.get(k), n) for k, n in SHOWN.items()}} for entry in results]


async def delivery_log(request: web.Request) -> dict[str, Any]:
    """The page's share of ``/responses/`` and the URL that refreshes it."""
    webhook_id = request.match_info["id"]
    number = page_number(request)
    query = urlencode({"perpage": LOG_PAGE, "page": number})
    url = f"/api/v1/webhooks/{webhook_id}/responses/?{query}"
    log = await bridge.read(request, webhooks.list_responses, url)
    log["results"] = log_rows(log["results"])
    refresh = f"/console/webhooks/{webhook_id}/deliveries?page={number}"
    return {"log": log, "log_url": refresh}


@page
async def detail_page(request: web.Request) -> web.StreamResponse:
    url = f"/api/v1/webhooks/{request.match_info['id']}/"
    webhook = await bridge.read(request, webhooks.get_webhook, url)
    context = form_context(webhook, await integration_choices(request))
    return render(request, "webhook.html", {**context, **await delivery_log(request)})


@page
async def log_fragment(request: web.Request) -> web.StreamResponse:
    return render(request, "webhook_log.html", await delivery_log(request))
