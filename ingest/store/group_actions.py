"""State changes of alert groups made through the API, each one atomic Lua script.

Workers may be appending alerts to, or resolving, the same group at the same moment, so every
precondition is checked inside the script that makes the change (no read-then-write):

- ``act(group, action, actor, now, silence_until, via_root)``: ``acknowledge``,
  ``unacknowledge``, ``resolve``, ``unresolve``, ``silence``, ``unsilence``. Checks run in
  Grafana OnCall's order and a refusal returns its message. ``resolve`` closes the group for
  grouping (like a source resolve); ``unresolve`` clears resolve, acknowledge and silence and
  **reopens** the group for grouping when no other group is open for its key. ``via_root`` lets a
  maintenance group's resolve reach its attached groups.
- ``wipe(group, actor, now)``: resolve (``resolved_by`` empty), drop the title, mark it wiped,
  close every index (the list indexes move it to ``resolved``); then every alert's payload
  (and trace, derived from it) is emptied.
- ``delete(group)``: the group, its alerts and every index entry are removed; groups attached to
  it are detached.

A silence whose ``silenced_until`` has passed counts as no silence (derived at read time too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import orjson
from redis.asyncio import Redis

from ingest import lua
from ingest.lua import Arg, Script
from ingest.store import keys
from ingest.store.groups import maintained_integration_id

# The scripts live in ``lua/`` beside this module; read once, at import.
_INDEX = lua.read("ingest.store", "group_index.lua")
COMMON = _INDEX + lua.read("ingest.store", "group_common.lua")
_ACT = Script.from_package("ingest.store", "group_act.lua", prefix=COMMON)
_WIPE = Script.from_package("ingest.store", "group_wipe.lua", prefix=COMMON)
_SET_DOCS = Script.from_package("ingest.store", "group_set_docs.lua")
_DELETE = Script.from_package("ingest.store", "group_delete.lua", prefix=_INDEX)


# What the action scripts answer first; ``later``: an auto-resolve found a newer alert
OutcomeStatus = Literal["ok", "refused", "missing", "later"]
_STATUSES: dict[str, OutcomeStatus] = {status: status for status in get_args(OutcomeStatus)}
# What else an applied action did, when the script says: ``reopened`` (an unresolve reopened the
# group for grouping), ``ended_maintenance`` (a resolve closed a maintenance group), ``resolved``
# (a wipe resolved an open group).
OutcomeDetail = Literal["reopened", "ended_maintenance", "resolved"]
_DETAILS: dict[str, OutcomeDetail] = {detail: detail for detail in get_args(OutcomeDetail)}


@dataclass(frozen=True)
class Outcome:
    """``status``: ok, refused, missing (or later, ``ingest.store.auto_resolve``); ``message``:
    why it was refused, for people (empty otherwise); ``detail``: what else an applied action
    did, for code (see :data:`OutcomeDetail`). The scripts answer both in one string, read by
    :func:`outcome_of` according to the status."""

    status: OutcomeStatus
    message: str = ""
    detail: OutcomeDetail | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def index_keys(group: dict[str, str]) -> list[str]:
    """The keys an action script on ``group`` takes: the group, the resolved set, its open and
    last-resolved grouping keys and its maintenance pointer (shared with ``auto_resolve``)."""
    integration_id = group.get("integration_id", "")
    route_id, grouping_id = group.get("route_id", ""), group.get("grouping_id", "")
    return [
        keys.group(group["id"]),
        keys.RESOLVED_GROUPS,
        keys.open_group(integration_id, route_id, grouping_id),
        keys.last_resolved(integration_id, route_id, grouping_id),
        keys.maintenance_group(maintained_integration_id(group)),
    ]


def outcome_of(reply: list[bytes]) -> Outcome:
    """The :class:`Outcome` of an action script's ``{status, message or detail}`` answer."""
    status, text = _STATUSES[reply[0].decode()], reply[1].decode()
    if status == "ok":
        return Outcome(status, detail=_DETAILS[text] if text else None)
    return Outcome(status, text)


class GroupActions:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def act(
        self,
        group: dict[str, str],
        action: str,
        actor: str,
        now: float,
        silenced_until: float | None = None,
        via_root: str = "",
    ) -> Outcome:
        until = "" if silenced_until is None else repr(silenced_until)
        args: list[Arg] = [action, repr(now), actor, until, via_root, keys.INDEX_LAYOUT_JSON]
        return outcome_of(await _ACT(self._redis, index_keys(group), args))

    async def wipe(self, group: dict[str, str], actor: str, now: float) -> Outcome:
        """Resolve and wipe; ``detail`` is ``resolved`` when the wipe resolved the group."""
        reply = await _WIPE(
            self._redis, index_keys(group), ["", repr(now), actor, keys.INDEX_LAYOUT_JSON]
        )
        outcome = outcome_of(reply)
        if outcome.ok:
            await self._empty_alerts(group["id"])
        return outcome

    async def _empty_alerts(self, group_id: str) -> None:
        """Empty each kept alert's payload and trace (no alert joins a wiped group any more)."""
        ids_ = [a.decode() for a in await self._redis.zrange(keys.group_alerts(group_id), 0, -1)]
        if not ids_:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for aid in ids_:
                pipe.hget(keys.alert(aid), "doc")
            docs = await pipe.execute()
        alert_keys: list[str] = []
        new_docs: list[bytes] = []
        for aid, raw in zip(ids_, docs, strict=True):
            if raw is None:
                continue
            doc: dict[str, Any] = orjson.loads(raw)
            doc["payload"] = {}
            doc["trace"] = {"wiped": True}
            alert_keys.append(keys.alert(aid))
            new_docs.append(orjson.dumps(doc))
        if alert_keys:
            await _SET_DOCS(self._redis, alert_keys, new_docs)

    async def delete(self, group: dict[str, str]) -> bool:
        gid, integration_id = group["id"], group.get("integration_id", "")
        route_id, grouping_id = group.get("route_id", ""), group.get("grouping_id", "")
        script_keys = [
            keys.group(gid),
            keys.group_alerts(gid),
            keys.RESOLVED_GROUPS,
            keys.org_groups(group.get("org_id", "")),
            keys.org_alerts(group.get("org_id", "")),
            keys.open_group(integration_id, route_id, grouping_id),
            keys.last_resolved(integration_id, route_id, grouping_id),
            keys.maintenance_group(maintained_integration_id(group)),
            keys.group_attached(gid),
            keys.group_attached(group.get("root_id") or gid),
        ]
        args: list[Arg] = [gid, keys.ALERT_PREFIX, keys.GROUP_PREFIX, keys.INDEX_LAYOUT_JSON]
        return bool(await _DELETE(self._redis, script_keys, args))
