"""A short Redis lock, for read-modify-write of documents that several api replicas may edit.

``async with org_lock(redis, "integrations:<org>"):`` holds ``ai:lock:<name>`` (``SET NX PX``)
for at most ``ttl`` seconds, so a crashed holder cannot block others for longer; it is released
only by its holder (compare-and-delete). Waiting longer than ``wait`` raises :class:`LockBusy`.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from ingest.lua import Script
from ingest.store import keys

_RELEASE = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
""")


class LockBusy(Exception):
    """The lock stayed taken for longer than we were willing to wait."""


@asynccontextmanager
async def org_lock(
    redis: Redis, name: str, ttl: float = 10.0, wait: float = 5.0
) -> AsyncIterator[None]:
    key = keys.lock(name)
    token = secrets.token_hex(16)
    deadline = time.monotonic() + wait
    while not await redis.set(key, token, nx=True, px=int(ttl * 1000)):
        if time.monotonic() > deadline:
            raise LockBusy(name)
        await asyncio.sleep(0.005)
    try:
        yield
    finally:
        await release(redis, key, token)


async def release(redis: Redis, key: str, token: str) -> None:
    """Release ``key`` when ``token`` still holds it (a holder that lost it deletes nothing)."""
    await _RELEASE(redis, [key], [token])
