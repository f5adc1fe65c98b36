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
6. **Indexes**: the group (and a new maintenance group) is indexed by state, integration and
   route, scored by its first alert's receipt (``started_ms``; ``created_at`` shows the same
   instant), so the lists are ordered by when alerts arrived, not when a worker got to them.
7. The event types to emit are recorded on the alert (``events`` field); ``worker.events`` sends
   them once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Literal, get_args

import orjson
from redis.asyncio import Redis

from ingest import ids, lua
from ingest.batching import BatchedScript
from ingest.lua import Arg
from ingest.models import Integration, MaintenanceMode, Route
from ingest.queue import ARQ_JOB_PREFIX as JOB_KEY_PREFIX
from ingest.store import keys

# Read at import; run batched with the concurrent commits of this process.
_BODY = lua.read("worker", "grouping.lua")
_INDEX = lua.read("ingest.store", "group_index.lua")


GroupResult = Literal[
    "new_group",
    "grouped",
    "acknowledged",
    "resolved",
    "maintenance",
    "duplicate",
    "stale",
    "no_group",
]
GROUP_RESULTS: tuple[GroupResult, ...] = get_args(GroupResult)
# Decided before the script: an alert that only acts on an open group found none (nothing stored).
NO_GROUP: GroupResult = "no_group"
GROUP_ID_LENGTH = 12  # as ``ids.public_id``


def new_group_id() -> str:
    """A group id as ``ids.public_id("I")`` makes, from one random draw instead of twelve."""
    number = secrets.randbits(128)  # 12 base-34 digits of it are uniform to within 2**-67
    chars = []
    for _ in range(GROUP_ID_LENGTH):
        number, digit = divmod(number, len(ids.PUBLIC_ID_ALPHABET))
        chars.append(ids.PUBLIC_ID_ALPHABET[digit])
    return "I" + "".join(chars)


@dataclass(frozen=True)
class Placement:
    """Where an alert goes: the integration, its organization and team, and the route."""

    integration_id: str
    org_id: str
    route_id: str
    team_id: str = ""

    @classmethod
    def of(cls, integration: Integration, route: Route) -> Placement:
        return cls(integration.id, integration.org_id, route.id, integration.team_id or "")


@dataclass(frozen=True)
class Commit:
    """One alert for the grouping script: where it goes, its signals, and its stored document.

    ``title`` and ``labels`` (JSON list of ``{"key", "value"}``) are written only on a group the
    alert opens. ``new_group_id`` names that group; ``new_maintenance_group_id`` the integration's
    maintenance group when this alert opens it (drawn when needed if left empty).
    """

    alert_id: str
    place: Placement
    grouping_id: str
    alert_doc: bytes
    now: float
    received_at: float
    title: str = ""
    labels: str = "[]"
    own_group: bool = False
    resolve: bool = False
    acknowledge: bool = False
    maintenance_mode: MaintenanceMode | None = None
    new_group_id: str = field(default_factory=new_group_id)
    new_maintenance_group_id: str = ""

    def group_fields(self) -> dict[str, str]:
        """The fields a new group starts with (besides ids, counts and times)."""
        return {
            "org_id": self.place.org_id,
            "integration_id": self.place.integration_id,
            "team_id": self.place.team_id,
            "route_id": self.place.route_id,
            "grouping_id": self.grouping_id,
            "title": self.title,
            "labels": self.labels,
        }


@dataclass(frozen=True)
class GroupDecision:
    """What the script did with the alert; ``events`` are the event types it owes."""

    result: GroupResult
    group_id: str
    events: tuple[str, ...]


class Grouper:
    def __init__(self, redis: Redis) -> None:
        self._script = BatchedScript(redis, _BODY, prologue=_INDEX)

    async def commit(self, commit: Commit, config_version: int, max_alerts: int) -> GroupDecision:
        """Run the script for ``commit``; ``stale`` when ``config_version`` is no longer current."""
        c, place = commit, commit.place
        script_keys = [
            keys.alert(c.alert_id),
            keys.open_group(place.integration_id, place.route_id, c.grouping_id),
            keys.last_resolved(place.integration_id, place.route_id, c.grouping_id),
            keys.maintenance_group(place.integration_id),
            keys.org_groups(place.org_id),
            keys.RESOLVED_GROUPS,
            keys.integration_version(place.integration_id),
            keys.org_alerts(place.org_id),
        ]
        maintenance_group_id = c.new_maintenance_group_id
        if not maintenance_group_id and c.maintenance_mode == "maintenance":
            maintenance_group_id = new_group_id()
        args: list[Arg] = [
            c.alert_id,
            c.new_group_id,
            repr(c.now),
            f"{c.received_at * 1000:.3f}",  # ms with µs: posts in one ms keep their order
            int(c.resolve),
            int(c.acknowledge),
            int(c.own_group),
            c.alert_doc,
            config_version,
            max_alerts,
            keys.GROUP_PREFIX,
            keys.ALERT_PREFIX,
            c.maintenance_mode or "",
            maintenance_group_id,
            orjson.dumps(c.group_fields()),
            JOB_KEY_PREFIX,
            keys.GROUP_ALERTS_SUFFIX,
            keys.GROUP_ATTACHED_SUFFIX,
            keys.INDEX_LAYOUT_JSON,
        ]
        result, group_id, events = await self._script(script_keys, args)
        names = events.decode() if events else ""
        return GroupDecision(
            _result(result.decode()), group_id.decode(), tuple(filter(None, names.split(",")))
        )


def _result(text: str) -> GroupResult:
    for known in GROUP_RESULTS:
        if known == text:
            return known
    raise ValueError(f"grouping script answered {text!r}")
