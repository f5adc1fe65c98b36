"""Upgrading stored data: the schema version, and building the group indexes of an older store.

``ai:schema-version`` says what the data is: absent means version 1 (written before the group
indexes existed, or an empty store); ``SCHEMA_VERSION`` (2) means every group is indexed.

:func:`build_indexes` brings a store to the current version. It walks every group hash
(``SCAN`` over ``ai:group:*``, hashes only) in batches; each batch is indexed by one script that
runs the same ``reindex`` as the scripts that change groups (so a group indexed meanwhile by a
worker or an action is left as it is, and a group indexed twice ends the same). It is:

- **resumable**: the scan cursor is saved after every batch (``ai:migration:cursor``); a build
  that stops (killed, Redis restarted) goes on from there. Re-indexing is idempotent, so a
  batch done twice does no harm.
- **safe with several replicas**: one process builds, holding ``ai:lock:schema-migration``
  (renewed every batch, expiring on its own if the holder dies); the others wait for the
  version to change, and take over if the lock expires without it.
- **observable**: ``progress`` is called after every batch with the groups indexed so far.

The api starts it in the background at start; ``alert-ingest migrate`` runs it in the
foreground. Until the version is current, the group lists answer 503 (the link endpoints and
everything else keep working).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable

from redis.asyncio import Redis

from ingest.lua import Arg, Script
from ingest.store import group_index, keys, locks

BATCH = 500
LOCK_TTL_MS = 30_000
LOCK = keys.lock("schema-migration")

# Renew the lock only while we hold it (a holder that stalled past the TTL lost it).
_RENEW = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
""")

Progress = Callable[[str], None]


async def schema_version(redis: Redis) -> int:
    raw = await redis.get(keys.SCHEMA_VERSION_KEY)
    return int(raw) if raw is not None else 1


async def is_current(redis: Redis) -> bool:
    return await schema_version(redis) >= keys.SCHEMA_VERSION


async def forget_version(redis: Redis) -> None:
    """Mark the store as not indexed (a build then walks every group again, from the start)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys.SCHEMA_VERSION_KEY, keys.MIGRATION_CURSOR)
        await pipe.execute()


async def build_indexes(
    redis: Redis, progress: Progress = print, batch: int = BATCH, max_batches: int | None = None
) -> bool:
    """Bring the store to ``SCHEMA_VERSION``; True when it is current on return.

    ``max_batches`` stops early (False) after that many batches: the next call resumes.
    """
    token = secrets.token_hex(16)
    announced = False
    while not await is_current(redis):
        if await redis.set(LOCK, token, nx=True, px=LOCK_TTL_MS):
            try:
                return await _build(redis, token, progress, batch, max_batches)
            finally:
                await locks.release(redis, LOCK, token)
        if not announced:
            progress("another process is building the group indexes; waiting for it")
            announced = True
        await asyncio.sleep(0.5)
    return True


async def _build(
    redis: Redis, token: str, progress: Progress, batch: int, max_batches: int | None
) -> bool:
    raw = await redis.get(keys.MIGRATION_CURSOR)
    cursor = int(raw) if raw is not None else 0
    progress(
        f"building group indexes (schema {await schema_version(redis)} -> {keys.SCHEMA_VERSION})"
        + (f", resuming at cursor {cursor}" if cursor else "")
    )
    indexed, batches, started = 0, 0, time.monotonic()
    while True:
        cursor, found = await redis.scan(
            cursor, match=keys.GROUP_PREFIX + "*", count=batch, _type="hash"
        )
        if found:
            args: list[Arg] = [keys.INDEX_LAYOUT_JSON, repr(time.time())]
            indexed += int(await group_index.REINDEX(redis, found, args))
        batches += 1
        if cursor == 0:
            break
        await redis.set(keys.MIGRATION_CURSOR, cursor)
        if not await _RENEW(redis, [LOCK], [token, LOCK_TTL_MS]):
            progress("lost the migration lock; another process goes on from the saved cursor")
            return False
        if batches % 20 == 0:
            progress(f"indexed {indexed} groups so far ({time.monotonic() - started:.1f} s)")
        if max_batches is not None and batches >= max_batches:
            progress(f"stopped after {batches} batches ({indexed} groups); run again to resume")
            return False
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.SCHEMA_VERSION_KEY, keys.SCHEMA_VERSION)
        pipe.delete(keys.MIGRATION_CURSOR)
        await pipe.execute()
    progress(
        f"group indexes built: {indexed} groups in {time.monotonic() - started:.1f} s; "
        f"schema version {keys.SCHEMA_VERSION}"
    )
    return True
