"""``alert-ingest tokens``: create prints the token last, list never shows secrets, revoke works."""

from __future__ import annotations

import asyncio
import os
import sys

from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis
from ingest.store import tokens


async def cli(server: EmbeddedRedis, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "ALERT_INGEST_REDIS_URL": server.url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alert_ingest.cli", "tokens", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return await proc.wait(), out.decode(), err.decode()


async def test_create_list_revoke(redis_server: EmbeddedRedis, redis: Redis) -> None:
    code, out, _ = await cli(
        redis_server, "create", "--org", "acme", "--scope", "grafana-irm-app.integrations:read"
    )
    assert code == 0
    secret = out.strip().splitlines()[-1]
    token = await tokens.authenticate(redis, secret)
    assert token is not None and token.org_id == "acme"
    assert token.scopes == ["integrations:read"]
    code, listed, _ = await cli(redis_server, "list", "--org", "acme")
    assert code == 0 and token.id in listed and secret not in listed
    code, _, _ = await cli(redis_server, "revoke", token.id)
    assert code == 0
    assert await tokens.authenticate(redis, secret) is None
    code, listed, _ = await cli(redis_server, "list")
    assert "revoked" in listed


async def test_unknown_scope_is_refused(redis_server: EmbeddedRedis, redis: Redis) -> None:
    code, _, err = await cli(redis_server, "create", "--org", "acme", "--scope", "root")
    assert code == 2 and "unknown scope 'root'" in err
    assert await redis.hlen("ai:tokens") == 0  # type: ignore[misc]
