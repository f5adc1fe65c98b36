"""The public API's own handlers, reachable by a signed-in console.

``mount`` registers every public API route a second time under ``/console``
(``/console/api/v1/integrations/`` and so on) with the same handler, wrapped so that the session
cookie signs the request in and state-changing methods need the CSRF header. The console's
scripts call these; pages read through ``read`` below. Validation, scopes, errors, pagination and
the group list queries are therefore exactly the public API's, with no second implementation.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from ingest.api import (
    alert_groups,
    alerts,
    escalation_chains,
    integrations,
    preview,
    routes,
    webhooks,
)
from ingest.api.errors import detail
from ingest.console import guard

PREFIX = "/console"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Add = Callable[[web.Application, str, str, Any], None]
API_MODULES: tuple[Any, ...] = (
    integrations,
    routes,
    escalation_chains,
    alert_groups,
    alerts,
    preview,
    webhooks,
)


def signed_in_api(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        found = await guard.signed_in(request)
        if found is None:
            raise detail(401, "Sign in to the console first.")
        session, token = found
        if request.method not in guard.SAFE_METHODS and not guard.same_secret(
            request.headers.get(guard.CSRF_HEADER), session.csrf
        ):
            raise detail(403, "CSRF token missing or incorrect.")
        await guard.enter(request, session, token)
        return await handler(request)

    return wrapper


def mount(app: web.Application, add: Add) -> None:
    def add_mounted(app: web.Application, method: str, path: str, handler: Handler) -> None:
        add(app, method, PREFIX + path, signed_in_api(handler))

    for module in API_MODULES:
        module.add_routes(app, add_mounted)


async def read(request: web.Request, handler: Handler, url: str) -> Any:
    """What ``handler`` answers a GET of ``url`` for the signed-in request (its JSON body).

    The call keeps the page's match info (``/console/groups/{id}`` feeds ``get_group``'s ``id``)
    and its signed-in token; errors propagate as the API's own ``ApiError``.
    """
    response = await handler(request.clone(method="GET", rel_url=PREFIX + url))
    assert isinstance(response, web.Response) and isinstance(response.body, bytes)
    return orjson.loads(response.body)
