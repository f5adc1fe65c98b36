"""API tokens: created once (the secret is shown once), stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import hmac
import time

import orjson
from redis.asyncio import Redis

from ingest import ids
from ingest.models import ApiToken, normalize_scope
from ingest.store import keys
from ingest.store.aio import aw


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_token(
    redis: Redis, org_id: str, scopes: list[str], name: str = ""
) -> tuple[ApiToken, str]:
    """Create a token for ``org_id``; returns the record and the secret (never stored)."""
    if not org_id.strip():
        raise ValueError("organization must not be empty")
    normalized = sorted({normalize_scope(s) for s in scopes})
    if not normalized:
        raise ValueError("at least one scope is required")
    secret = ids.api_token()
    token = ApiToken(
        id=ids.public_id("K"),
        org_id=org_id.strip(),
        name=name or f"token-{secret[4:8]}",
        scopes=normalized,
        digest=digest(secret),
        created_at=time.time(),
    )
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.token_digest(token.digest), token.id)
        pipe.hset(keys.TOKENS, token.id, orjson.dumps(token.to_doc()).decode())
        pipe.sadd(keys.ORGS, token.org_id)
        await pipe.execute()
    return token, secret


async def authenticate(redis: Redis, secret: str) -> ApiToken | None:
    """The live token whose secret is ``secret``, or None."""
    wanted = digest(secret)
    token_id = await redis.get(keys.token_digest(wanted))
    if token_id is None:
        return None
    raw = await aw(redis.hget(keys.TOKENS, token_id))
    if raw is None:
        return None
    token = ApiToken.from_doc(orjson.loads(raw))
    if token.revoked_at is not None or not hmac.compare_digest(token.digest, wanted):
        return None
    return token


async def get_live(redis: Redis, token_id: str) -> ApiToken | None:
    """The token with id ``token_id`` unless it is unknown or revoked (the console's session)."""
    raw = await aw(redis.hget(keys.TOKENS, token_id))
    if raw is None:
        return None
    token = ApiToken.from_doc(orjson.loads(raw))
    return None if token.revoked_at is not None else token


async def list_tokens(redis: Redis, org_id: str | None = None) -> list[ApiToken]:
    raw = await aw(redis.hgetall(keys.TOKENS))
    tokens = [ApiToken.from_doc(orjson.loads(v)) for v in raw.values()]
    if org_id is not None:
        tokens = [t for t in tokens if t.org_id == org_id]
    return sorted(tokens, key=lambda t: t.created_at)


async def revoke_token(redis: Redis, token_id: str) -> ApiToken | None:
    raw = await aw(redis.hget(keys.TOKENS, token_id))
    if raw is None:
        return None
    token = ApiToken.from_doc(orjson.loads(raw))
    token.revoked_at = token.revoked_at or time.time()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys.token_digest(token.digest))
        pipe.hset(keys.TOKENS, token.id, orjson.dumps(token.to_doc()).decode())
        await pipe.execute()
    return token
