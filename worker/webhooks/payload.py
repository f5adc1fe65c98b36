"""The event payload of one delivery: the ``forward_all`` body and the templates' context.

Built at send time (as Grafana OnCall does), from the alert group as it is now, its first and
latest alerts, the integration, and the latest response of every *other* webhook for this group
(``responses``, for chaining). Keys, in order: ``event`` (``type`` the concrete trigger, ``time``
when the event was recorded, ISO with ``+00:00``), ``user`` (``{"username": <token name>}`` for
API actions, null for the source), ``alert_group`` (the public API object), ``alert_group_id``,
``alert_payload`` (first alert's payload), ``integration`` (``id``, ``type``, ``name``, ``team``,
``labels``), ``notified_users`` and ``users_to_be_notified`` (always empty: no users here),
``alert_group_acknowledged_by``, ``alert_group_resolved_by``, ``responses`` (only when not
empty), ``webhook`` (``id``, ``name``).

``escaped(context)`` is the context ``headers`` and ``data`` are rendered with: every string
JSON-escaped without its quotes, so ``"{{ alert_group.title }}"`` inside a JSON template stays
valid JSON whatever the title holds (Grafana OnCall's behaviour, which imported templates rely on).
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from ingest.batching import BatchedScript
from ingest.representation import serialize_group
from ingest.settings import Settings
from ingest.store import keys
from ingest.store.groups import text_pairs
from ingest.webhook import EVENT_TRIGGER, Webhook


def _event_time(stream_id: str) -> str:
    ms = int(stream_id.split("-")[0]) if stream_id[:1].isdigit() else int(time.time() * 1000)
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _person(name: str | None) -> dict[str, Any] | None:
    return None if not name or name == "source" else {"id": None, "username": name, "email": None}


# KEYS: 1 group, 2 integration, 3 the group's latest webhook responses. ARGV: 1 alert key
# prefix. Returns the group (flat pairs), the integration document, the responses (flat pairs),
# the first and the latest alert documents: everything a payload needs, in one round trip.
FETCH = """
local group = redis.call('HGETALL', KEYS[1])
if #group == 0 then return {false, false, false, false, false} end
local first = redis.call('HGET', KEYS[1], 'first_alert_id')
local last = redis.call('HGET', KEYS[1], 'last_alert_id')
local first_doc = first and redis.call('HGET', ARGV[1] .. first, 'doc') or false
local last_doc = last and redis.call('HGET', ARGV[1] .. last, 'doc') or false
return {group, redis.call('GET', KEYS[2]), redis.call('HGETALL', KEYS[3]), first_doc, last_doc}
"""


def _raw_pairs(flat: list[bytes] | None) -> list[tuple[str, bytes]]:
    flat = flat or []
    return [(flat[i].decode(), flat[i + 1]) for i in range(0, len(flat), 2)]


async def build(
    fetch: BatchedScript, settings: Settings, webhook: Webhook, event: dict[str, str]
) -> dict[str, Any] | None:
    """The payload, or None when the alert group no longer exists (deleted meanwhile)."""
    group_id = event.get("alert_group_id", "")
    script_keys = [
        keys.group(group_id),
        keys.integration(event.get("integration_id", "")),
        keys.group_webhook_responses(group_id),
    ]
    reply = await fetch(script_keys, [keys.ALERT_PREFIX])
    raw_group, raw_integration, raw_responses, first_doc, last_doc = (reply + [None] * 5)[:5]
    if not raw_group:
        return None
    group = text_pairs(raw_group)
    wanted = [group.get("first_alert_id", ""), group.get("last_alert_id", "")]
    first = orjson.loads(first_doc) if first_doc else None
    last = orjson.loads(last_doc) if last_doc else None
    if last is not None:
        last.setdefault("id", wanted[1])
        last.setdefault("group_id", group_id)
    live = {group["route_id"]} if group.get("route_id") else set()
    serialized = serialize_group(group, last, live, settings, time.time())
    integration = _integration(raw_integration or b"{}")
    data = orjson.loads(event.get("data") or "{}")
    actor = data.get("actor") if isinstance(data, dict) else None
    payload: dict[str, Any] = {
        "event": {
            "type": EVENT_TRIGGER.get(event.get("type", ""), event.get("type", "")),
            "time": _event_time(event.get("stream_id", "")),
        },
        "user": _person(actor),
        "alert_group": serialized,
        "alert_group_id": group_id,
        "alert_payload": first.get("payload", "") if first else "",
        "integration": {
            **integration,
            "id": integration["id"] or event.get("integration_id"),
            "labels": dict(integration["labels"]),
        },
        "notified_users": [],
        "users_to_be_notified": [],
        "alert_group_acknowledged_by": _person(group.get("acknowledged_by")),
        "alert_group_resolved_by": _person(group.get("resolved_by")),
    }
    responses = {k: _parsed(v) for k, v in _raw_pairs(raw_responses) if k != webhook.id}
    if responses:
        payload["responses"] = responses
    payload["webhook"] = {"id": webhook.id, "name": webhook.name}
    return payload


@functools.lru_cache(maxsize=256)
def _integration(raw: bytes) -> dict[str, Any]:
    """What a payload shows of an integration document (parsed once per version of it: the
    document holds every template, and most deliveries of a moment share a few integrations).
    Callers copy it before changing anything."""
    doc = orjson.loads(raw)
    return {
        "id": doc.get("id"),
        "type": doc.get("type"),
        "name": doc.get("name"),
        "team": doc.get("team_id"),
        "labels": {
            item["key"]: item["value"]
            for item in doc.get("labels", [])
            if isinstance(item, dict) and "key" in item
        },
    }


def _parsed(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace")


def escaped(value: Any) -> Any:
    """``value`` with every string JSON-escaped (without the surrounding quotes)."""
    if isinstance(value, str):
        return orjson.dumps(value).decode()[1:-1]
    if isinstance(value, dict):
        return {k: escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escaped(v) for v in value]
    return value
