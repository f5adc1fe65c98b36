"""API-token authentication, scope checks and the per-token rate limit, as one decorator.

Order of checks: token (401), scope (403), rate limit (429). A request refused earlier does not
spend the token's rate budget.

The web console (``ingest.console``) signs its requests in differently: it finds the token through
its server-side session, checks the CSRF token, charges the rate limit once per console request,
and sets ``SESSION_TOKEN``; a handler then only checks the scope. The console so calls these very
handlers, never a copy of them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from ingest.api import context
from ingest.api.errors import detail
from ingest.models import ApiToken
from ingest.store import keys, tokens

TOKEN = web.RequestKey("api_token", ApiToken)
SESSION_TOKEN = web.RequestKey("session_token", ApiToken)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _secret(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    if rest and scheme.lower() in ("bearer", "token"):
        return rest.strip() or None
    return header


async def charge(request: web.Request, token: ApiToken) -> None:
    """Spend one request of ``token``'s rate budget; 429 when it is spent."""
    rate = context.settings(request).rate_limit_api
    verdict = await request.app[context.LIMITER].hit(
        [(keys.rate_limit("api", token.id), rate)], int(time.time() * 1000)
    )
    if not verdict.allowed:
        wait = str(verdict.retry_after)
        raise detail(
            429,
            f"Request was throttled. Expected available in {wait} seconds.",
            {"Retry-After": wait, "RateLimit-Reset": wait},
        )


def check_scope(token: ApiToken, scope: str) -> None:
    """403 naming the missing scope (and the ones the token has)."""
    if scope not in token.scopes:
        raise detail(
            403,
            f"You do not have permission to perform this action: this token lacks the {scope!r} "
            f"scope (it has: {', '.join(sorted(token.scopes)) or 'none'}).",
        )


async def _authenticate(request: web.Request, scope: str) -> ApiToken:
    if SESSION_TOKEN in request:
        token = request[SESSION_TOKEN]
        check_scope(token, scope)
        return token
    secret = _secret(request)
    found = await tokens.authenticate(context.redis(request), secret) if secret else None
    if found is None:
        raise detail(401, "Invalid token.", {"WWW-Authenticate": "Bearer"})
    check_scope(found, scope)
    await charge(request, found)
    return found


def requires(scope: str) -> Callable[[Handler], Handler]:
    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            request[TOKEN] = await _authenticate(request, scope)
            return await handler(request)

        return wrapper

    return decorate


def api_token(request: web.Request) -> ApiToken:
    token = request[TOKEN]
    return token
