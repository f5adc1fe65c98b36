"""The web console, served by the api at ``/console/`` (``/`` redirects there).

Server-rendered pages (Jinja2 through ``aiohttp-jinja2``, autoescaped) with a little plain
JavaScript; every asset is a file of this package, so it works offline. Layout:

- ``guard``: sessions, CSRF, cookies, security headers;
- ``bridge``: the public API's handlers mounted under ``/console/api/v1/`` for signed-in scripts,
  and ``read`` for pages (the console never re-implements a query or a validation);
- ``pages`` (sign-in/out and page plumbing), ``integration_pages``, ``playground``,
  ``group_pages``, ``story`` (a trace told as steps) and ``webhook_pages``;
- ``templates/`` and ``static/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ingest.console import (
    bridge,
    group_pages,
    guard,
    integration_pages,
    pages,
    playground,
    webhook_pages,
)
from ingest.console.filters import FILTERS

STATIC = Path(__file__).resolve().parent / "static"


def setup(app: web.Application, add: Any) -> None:
    """Register the console's pages, files and mounted API on the api's ``app``."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("ingest.console", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(FILTERS)
    app.on_response_prepare.append(guard.add_security_headers)
    app.router.add_get("/", pages.home)
    add(app, "GET", "/console", pages.home)
    add(app, "GET", "/console/sign-in", pages.sign_in_form)
    add(app, "POST", "/console/sign-in", pages.sign_in)
    add(app, "POST", "/console/sign-out", pages.sign_out)
    add(app, "GET", "/console/integrations", integration_pages.list_page)
    add(app, "GET", "/console/integrations/{id}", integration_pages.detail_page)
    add(app, "GET", "/console/integrations/{id}/playground", playground.playground_page)
    add(app, "GET", "/console/groups", group_pages.list_page)
    add(app, "GET", "/console/groups/rows", group_pages.rows_fragment)
    add(app, "GET", "/console/groups/{id}", group_pages.detail_page)
    add(app, "GET", "/console/webhooks", webhook_pages.list_page)
    add(app, "GET", "/console/webhooks/new", webhook_pages.new_page)
    add(app, "GET", "/console/webhooks/{id}", webhook_pages.detail_page)
    add(app, "GET", "/console/webhooks/{id}/deliveries", webhook_pages.log_fragment)
    app.router.add_static("/console/static/", STATIC, append_version=False)
    bridge.mount(app, add)
