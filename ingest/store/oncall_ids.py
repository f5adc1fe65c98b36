"""Which of our objects each imported OnCall object became (``keys.org_oncall_ids``).

The importer looks objects up by their OnCall id, so a second run updates what the first one
created instead of creating it again. OnCall ids carry a kind prefix (``C`` integration, ``R``
route, ``F`` escalation chain, ``WH`` webhook), so one hash per organization holds them all.
"""

from __future__ import annotations

from redis.asyncio import Redis

from ingest.store import keys
from ingest.store.aio import aw


async def load(redis: Redis, org_id: str) -> dict[str, str]:
    """OnCall id -> our id for everything imported into ``org_id``."""
    raw = await aw(redis.hgetall(keys.org_oncall_ids(org_id)))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def remember(redis: Redis, org_id: str, oncall_id: str, our_id: str) -> None:
    await aw(redis.hset(keys.org_oncall_ids(org_id), oncall_id, our_id))
