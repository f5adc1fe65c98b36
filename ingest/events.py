"""The event stream contract shared by the worker (pipeline events) and the api (user actions).

See ``worker.events`` for the fields of an entry. User actions through the API send their events
here directly: ``alert_group_acknowledged``, ``alert_group_unacknowledged``,
``alert_group_resolved``, ``alert_group_unresolved``, ``alert_group_silenced``,
``alert_group_unsilenced``, with ``alert_id`` empty and ``data.actor`` the token's name.
"""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.store import keys

EVENTS_MAXLEN = 100_000


async def send_action_event(
    redis: Redis, event_type: str, group: dict[str, str], data: dict[str, Any]
) -> None:
    await redis.xadd(
        keys.EVENTS,
        {
            "type": event_type,
            "alert_group_id": group.get("id", ""),
            "alert_id": "",
            "integration_id": group.get("integration_id", ""),
            "org_id": group.get("org_id", ""),
            "data": orjson.dumps(data),
        },
        maxlen=EVENTS_MAXLEN,
        approximate=True,
    )
