"""The event payload of one delivery: the ``forward_all`` body and the templates' context.

Built at send time (as the reference does), from the alert group as it is now, its first and
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
valid JSON whatever the title holds (the reference's behaviour, which imported templates rely on).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.api.alert_groups import serialize_group
from ingest.settings import Settings
from ingest.store import keys
from ingest.webhook import EVENT_TRIGGER, Webhook

RESPONSE_KEPT = 4096


def _event_time(stream_id: str) -> str:
    ms = int(stream_id.split("-")[0]) if stream_id[:1].isdigit() else int(time.time() * 1000)
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _person(name: str | None) -> dict[str, Any] | None:
    return None if not name or name == "source" else {"id": None, "username": name, "email": None}


def _decode(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


async def build(
    redis: Redis, settings: Settings, webhook: Webhook, event: dict[str, str]
) -> dict[str, Any] | None:
    """The payload, or None when the alert group no longer exists (deleted meanwhile)."""
    group_id = event.get("alert_group_id", "")
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(keys.group(group_id))
        pipe.get(keys.integration(event.get("integration_id", "")))
        pipe.hgetall(keys.group_webhook_responses(group_id))
        raw_group, raw_integration, raw_responses = await pipe.execute()
    if not raw_group:
        return None
    group = _decode(raw_group)
    wanted = [group.get("first_alert_id", ""), group.get("last_alert_id", "")]
    async with redis.pipeline(transaction=False) as pipe:
        for alert_id in wanted:
            pipe.hget(keys.alert(alert_id), "doc")
        first_doc, last_doc = await pipe.execute()
    first = orjson.loads(first_doc) if first_doc else None
    last = orjson.loads(last_doc) if last_doc else None
    if last is not None:
        last.setdefault("id", wanted[1])
        last.setdefault("group_id", group_id)
    live = {group["route_id"]} if group.get("route_id") else set()
    serialized = serialize_group(group, last, live, settings, time.time())
    integration = orjson.loads(raw_integration) if raw_integration else {}
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
            "id": integration.get("id", event.get("integration_id")),
            "type": integration.get("type"),
            "name": integration.get("name"),
            "team": integration.get("team_id"),
            "labels": {
                item["key"]: item["value"]
                for item in integration.get("labels", [])
                if isinstance(item, dict) and "key" in item
            },
        },
        "notified_users": [],
        "users_to_be_notified": [],
        "alert_group_acknowledged_by": _person(group.get("acknowledged_by")),
        "alert_group_resolved_by": _person(group.get("resolved_by")),
    }
    responses = {
        k.decode(): _parsed(v) for k, v in raw_responses.items() if k.decode() != webhook.id
    }
    if responses:
        payload["responses"] = responses
    payload["webhook"] = {"id": webhook.id, "name": webhook.name}
    return payload


def _parsed(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace")


async def remember_response(
    redis: Redis, group_id: str, webhook_id: str, content: str, ttl_s: int
) -> None:
    """Keep the webhook's latest response body for the group (``responses`` in later payloads)."""
    key = keys.group_webhook_responses(group_id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hset(key, webhook_id, content[:RESPONSE_KEPT])
        pipe.expire(key, ttl_s)
        await pipe.execute()


def escaped(value: Any) -> Any:
    """``value`` with every string JSON-escaped (without the surrounding quotes)."""
    if isinstance(value, str):
        return orjson.dumps(value).decode()[1:-1]
    if isinstance(value, dict):
        return {k: escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escaped(v) for v in value]
    return value
