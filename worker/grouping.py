"""The atomic grouping step: one Lua script decides the group of an alert and stores it.

Inside Redis, so it is atomic across any number of worker replicas:

1. **Idempotency**: if the alert is already stored, nothing changes (``duplicate``).
2. **Freshness**: if the integration or its routes changed since the worker read them
   (``ai:integration:<id>:version``), nothing changes (``stale``): the worker reloads that
   integration and evaluates again.
3. **Group**: the open group for (integration, route, md5(grouping key)); else, for a resolve
   signal, the most recently resolved group for that key; else a new group (registered as the
   open one unless the alert must have its own group). In maintenance mode a new group is attached
   to the integration's maintenance group (created on first use).
4. **Append**: the alert is stored, the group's count and last alert (the newest by received
   time, not the last processed) updated; only the newest
   ``max_alerts`` alert ids (and documents) are kept, the count stays exact. An alert pushed out
   whose job may still run again (its arq job still exists: held by a worker that died, or
   retrying) keeps a stub without its document until that job would expire, so that a re-run
   finds it (``duplicate``) and neither stores it nor sends its events a second time.
5. **Source signals**: acknowledge when the ack signal is true and the group isn't acknowledged;
   resolve when the resolve signal is true and the group isn't resolved (which closes it for
   grouping, records it as the key's last resolved group and schedules it for retention). Either
   un-silences first.
6. The event types to emit are recorded on the alert (``events`` field); ``worker.events`` sends
   them once.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from redis.asyncio import Redis

from ingest import lua
from ingest.batching import BatchedScript
from ingest.lua import Arg
from ingest.queue import ARQ_JOB_PREFIX
from ingest.store import keys

# Read at import; run batched with the concurrent commits of this process.
_BODY = lua.read("worker", "grouping.lua")


@dataclass(frozen=True)
class GroupDecision:
    """``result``: new_group, grouped, acknowledged, resolved, maintenance, duplicate or stale."""

    result: str
    group_id: str
    events: tuple[str, ...]


class Grouper:
    def __init__(self, redis: Redis) -> None:
        self._script = BatchedScript(redis, _BODY)

    async def commit(
        self,
        *,
        alert_id: str,
        new_group_id: str,
        integration_id: str,
        route_id: str,
        grouping_id: str,
        own_group: bool,
        resolve: bool,
        acknowledge: bool,
        now: float,
        received_at: float,
        alert_doc: bytes,
        config_version: int,
        max_alerts: int,
        maintenance_mode: str | None,
        new_maintenance_group_id: str,
        group_fields: dict[str, str],
    ) -> GroupDecision:
        script_keys = [
            keys.alert(alert_id),
            keys.open_group(integration_id, route_id, grouping_id),
            keys.last_resolved(integration_id, route_id, grouping_id),
            keys.maintenance_group(integration_id),
            keys.org_groups(group_fields["org_id"]),
            keys.RESOLVED_GROUPS,
            keys.integration_version(integration_id),
            keys.org_alerts(group_fields["org_id"]),
        ]
        args: list[Arg] = [
            alert_id,
            new_group_id,
            repr(now),
            int(received_at * 1000),
            int(resolve),
            int(acknowledge),
            int(own_group),
            alert_doc,
            config_version,
            max_alerts,
            keys.GROUP_PREFIX,
            keys.ALERT_PREFIX,
            maintenance_mode or "",
            new_maintenance_group_id,
            orjson.dumps(group_fields),
            ARQ_JOB_PREFIX,
            keys.GROUP_ALERTS_SUFFIX,
            keys.GROUP_ATTACHED_SUFFIX,
        ]
        result, group_id, events = await self._script(script_keys, args)
        names = events.decode() if events else ""
        return GroupDecision(
            result.decode(), group_id.decode(), tuple(filter(None, names.split(",")))
        )
