"""Who is signed in to the console, CSRF checks, cookies and the security headers.

- The session cookie (``ai_console``) is HttpOnly, SameSite=Strict, ``Path=/console``, and Secure
  when ``BASE_URL`` is https. It holds only a random secret (``ingest.store.sessions``).
- Every console request loads its session and then the token it names, so a revoked token is
  signed out at once; each console request spends one request of the token's API rate budget.
- State-changing requests must echo the session's CSRF token: the ``X-CSRF-Token`` header (the
  console's scripts) or the ``csrf`` form field (sign-out). The sign-in form, which has no session
  yet, is tied to a short-lived ``ai_console_login`` cookie the same way (double submit).
- Every console response carries a strict Content-Security-Policy (scripts and styles only from
  the console's own files, nothing inline), ``frame-ancestors 'none'``, ``nosniff``, no referrer,
  and ``no-store`` for pages.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from ingest.api import context
from ingest.api.auth import SESSION_TOKEN, charge
from ingest.models import ApiToken
from ingest.settings import Settings
from ingest.store import sessions, tokens
from ingest.store.sessions import SESSION_SECONDS, Session

COOKIE = "ai_console"
LOGIN_COOKIE = "ai_console_login"
COOKIE_PATH = "/console"
CSRF_HEADER = "X-CSRF-Token"
SESSION = web.RequestKey("console_session", Session)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def is_console_path(path: str) -> bool:
    return path == "/" or path == COOKIE_PATH or path.startswith(COOKIE_PATH + "/")


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: also reaches error answers built by the error middleware."""
    if not is_console_path(request.path):
        return
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith(COOKIE_PATH + "/static/"):
        response.headers["Cache-Control"] = "no-store"


def set_cookie(
    response: web.StreamResponse, settings: Settings, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=settings.link_base.startswith("https://"),
    )


def forget_cookie(response: web.StreamResponse, settings: Settings, name: str) -> None:
    set_cookie(response, settings, name, "", 0)


def session_cookie(response: web.StreamResponse, settings: Settings, secret: str) -> None:
    set_cookie(response, settings, COOKIE, secret, SESSION_SECONDS)


async def signed_in(request: web.Request) -> tuple[Session, ApiToken] | None:
    """The request's session and its live token, or None."""
    secret = request.cookies.get(COOKIE, "")
    redis = context.redis(request)
    session = await sessions.load_session(redis, secret) if secret else None
    if session is None:
        return None
    token = await tokens.get_live(redis, session.token_id)
    return (session, token) if token is not None else None


def same_secret(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


async def enter(request: web.Request, session: Session, token: ApiToken) -> None:
    """Charge the token's rate budget and let the API handlers see the token."""
    await charge(request, token)
    request[SESSION] = session
    request[SESSION_TOKEN] = token


def csrf_of(request: web.Request) -> str:
    return request[SESSION].csrf
