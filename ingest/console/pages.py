"""Page plumbing shared by every console page, and the sign-in and sign-out pages.

``page`` wraps a page handler: no session sends the browser to the sign-in page; an API error
from the handlers the page reads (403 scope, 404, 429) becomes an HTML page with the API's
message. Every page says how long the server took to make it, from the session check to the
rendered HTML, in ``Server-Timing: page;dur=<ms>`` (browsers' developer tools show it;
``bench/console.py`` reads it).

Sign-in takes an API token in a POSTed form field (never in a URL), checks it like the public
API does, and opens a server-side session; the token itself is never stored or shown.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from ingest.api import context
from ingest.api.auth import SESSION_TOKEN
from ingest.api.errors import ApiError
from ingest.console import guard
from ingest.models import ApiToken
from ingest.store import keys, sessions, tokens

SIGN_IN = "/console/sign-in"
HOME = "/console/integrations"
LOGIN_SECONDS = 1800
CSRF_REFUSED = "CSRF token missing or incorrect."
PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_of(request: web.Request) -> ApiToken:
    return request[SESSION_TOKEN]


def redirect(location: str) -> web.Response:
    """A 303 as a plain response (cookies set on it are kept)."""
    return web.Response(status=303, headers={"Location": location})


def render(
    request: web.Request, name: str, data: dict[str, Any], status: int = 200
) -> web.Response:
    common: dict[str, Any] = {"signed_in": False}
    if guard.SESSION in request:
        token = token_of(request)
        common = {
            "signed_in": True,
            "csrf": guard.csrf_of(request),
            "token_name": token.name,
            "org": token.org_id,
            "scopes": set(token.scopes),
        }
    return aiohttp_jinja2.render_template(name, request, {**common, **data}, status=status)


def page(handler: PageHandler) -> PageHandler:
    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        began = time.perf_counter()
        found = await guard.signed_in(request)
        if found is None:
            return redirect(SIGN_IN)
        try:
            await guard.enter(request, *found)
            response = await handler(request)
        except ApiError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            message = str(body.get("detail") or "The request was refused.")
            response = render(request, "error.html", {"status": exc.status, "message": message},
                              status=exc.status)  # fmt: skip
        took = (time.perf_counter() - began) * 1000
        response.headers["Server-Timing"] = f"page;dur={took:.1f}"
        return response

    return wrapper


async def home(request: web.Request) -> web.StreamResponse:
    return redirect(HOME)


def _sign_in_form(request: web.Request, error: str | None, status: int) -> web.Response:
    nonce = secrets.token_urlsafe(24)
    response = render(request, "sign_in.html", {"login_nonce": nonce, "error": error}, status)
    guard.set_cookie(response, context.settings(request), guard.LOGIN_COOKIE, nonce, LOGIN_SECONDS)
    return response


async def sign_in_form(request: web.Request) -> web.StreamResponse:
    if await guard.signed_in(request) is not None:
        return redirect(HOME)
    return _sign_in_form(request, None, 200)


async def _throttled(request: web.Request) -> bool:
    """Sign-in attempts per client address share the API's per-token rate."""
    rate = context.settings(request).rate_limit_api
    subject = keys.rate_limit("console-sign-in", request.remote or "-")
    verdict = await request.app[context.LIMITER].hit([(subject, rate)], int(time.time() * 1000))
    return not verdict.allowed


async def sign_in(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    nonce = request.cookies.get(guard.LOGIN_COOKIE, "")
    if not nonce or not guard.same_secret(str(form.get("login_nonce") or ""), nonce):
        return _sign_in_form(request, "The sign-in form expired. Please try again.", 403)
    if await _throttled(request):
        return _sign_in_form(request, "Too many attempts. Wait a minute and try again.", 429)
    secret = str(form.get("token") or "").strip()
    redis = context.redis(request)
    token = await tokens.authenticate(redis, secret) if 0 < len(secret) <= 200 else None
    if token is None:
        return _sign_in_form(request, "Invalid token.", 401)
    cookie, _ = await sessions.open_session(redis, token.id)
    response = redirect(HOME)
    settings = context.settings(request)
    guard.session_cookie(response, settings, cookie)
    guard.forget_cookie(response, settings, guard.LOGIN_COOKIE)
    return response


async def sign_out(request: web.Request) -> web.StreamResponse:
    found = await guard.signed_in(request)
    form = await request.post()
    if found is not None and not guard.same_secret(str(form.get("csrf") or ""), found[0].csrf):
        return render(request, "error.html", {"status": 403, "message": CSRF_REFUSED}, 403)
    await sessions.close_session(context.redis(request), request.cookies.get(guard.COOKIE, ""))
    response = redirect(SIGN_IN)
    guard.forget_cookie(response, context.settings(request), guard.COOKIE)
    return response
