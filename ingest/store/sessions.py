"""Web console sessions: server-side records behind an opaque cookie.

The cookie holds a random secret; Redis holds only its SHA-256 digest as the key, so reading the
store gives no usable cookie. A session names the API token it was opened with (never the token's
secret) and carries the CSRF token the console's forms and scripts must echo. Sessions expire
``SESSION_SECONDS`` after sign-in; revoking the token ends them at the next request, because
the console loads the token on every request.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import orjson
from redis.asyncio import Redis

from ingest.store import keys

SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    token_id: str
    csrf: str
    created_at: float


def _key(secret: str) -> str:
    return keys.console_session(hashlib.sha256(secret.encode()).hexdigest())


async def open_session(redis: Redis, token_id: str) -> tuple[str, Session]:
    """A new session for ``token_id``; returns the cookie secret and the record."""
    secret = secrets.token_urlsafe(32)
    session = Session(token_id=token_id, csrf=secrets.token_urlsafe(32), created_at=time.time())
    doc = {"token_id": session.token_id, "csrf": session.csrf, "created_at": session.created_at}
    await redis.set(_key(secret), orjson.dumps(doc), ex=SESSION_SECONDS)
    return secret, session


async def load_session(redis: Redis, secret: str) -> Session | None:
    if not secret or len(secret) > 100:
        return None
    raw = await redis.get(_key(secret))
    if raw is None:
        return None
    doc = orjson.loads(raw)
    return Session(
        token_id=str(doc["token_id"]), csrf=str(doc["csrf"]), created_at=float(doc["created_at"])
    )


async def close_session(redis: Redis, secret: str) -> None:
    if secret and len(secret) <= 100:
        await redis.delete(_key(secret))
