"""Events for notifiers and escalation consumers, on the Redis stream ``ai:events``.

Each entry has these fields (all strings):

``type``             ``alert_group_created``, ``alert_added``, ``alert_group_acknowledged``,
                     ``alert_group_resolved`` (from the pipeline), and from user actions also
                     ``alert_group_unacknowledged``, ``alert_group_unresolved``,
                     ``alert_group_silenced``, ``alert_group_unsilenced``
``alert_group_id``   the group (``I…``)
``alert_id``         the alert that caused it (empty for user actions)
``integration_id``   the integration (``C…``)
``org_id``           the organization
``data``             JSON: ``route_id``, ``escalation_chain_id``, ``escalate`` (false in maintenance
                     or debug mode, or without a chain), ``maintenance_mode``, ``actor``
                     (``source`` or the token's name), and ``channels``: each *enabled* channel of
                     the route (``slack``, ``telegram``, ``mobile_app``,
                     ``mobile_app_critical`` (rendered with the ``mobile_app`` templates),
                     ``email``, ``webhook``, ``msteams``) with its destination
                     (``channel_id``/``id``) and rendered ``title``, ``message``, ``image_url``;
                     ``web`` always.

The pipeline's events are sent exactly once per alert even when a job runs twice: the alert
records which events it owes and whether they were sent, and this script checks and sets that
atomically. The stream is capped (``MAXLEN ~``) at ``EVENTS_MAXLEN`` entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from redis.asyncio import Redis

from ingest.batching import BatchedScript
from ingest.events import EVENTS_MAXLEN
from ingest.models import ROUTE_BACKENDS, TEMPLATE_CHANNEL_OF, MaintenanceMode, Route
from ingest.store import keys
from templates_engine import ChannelRendering

_SCRIPT = """
-- KEYS: 1 alert, 2 stream. ARGV: 1 maxlen, 2 group id, 3 alert id, 4 integration, 5 org,
-- 6 data JSON, 7.. event types
if redis.call('HGET', KEYS[1], 'events_sent') then
  return 0
end
for i = 7, #ARGV do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'type', ARGV[i],
             'alert_group_id', ARGV[2], 'alert_id', ARGV[3], 'integration_id', ARGV[4],
             'org_id', ARGV[5], 'data', ARGV[6])
end
redis.call('HSET', KEYS[1], 'events_sent', 1)
return #ARGV - 6
"""


class EventSender:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._script = BatchedScript(redis, _SCRIPT)

    async def send_for_alert(
        self,
        alert_id: str,
        group_id: str,
        integration_id: str,
        org_id: str,
        types: Sequence[str],
        data: dict[str, Any],
    ) -> int:
        """Send the alert's events unless they were sent already; returns how many were sent."""
        args: list[Any] = [EVENTS_MAXLEN, group_id, alert_id, integration_id, org_id]
        args += [orjson.dumps(data), *types]
        sent = await self._script([keys.alert(alert_id), keys.EVENTS], args)
        return int(sent)


def enabled_channels(route: Route) -> dict[str, dict[str, Any]]:
    """The route's enabled chat destinations: ``slack`` with ``channel_id``, others with ``id``."""
    out: dict[str, dict[str, Any]] = {}
    if route.slack.get("enabled"):
        out["slack"] = {"channel_id": route.slack.get("channel_id")}
    for backend in ROUTE_BACKENDS:
        conf = route.backends.get(backend, {})
        if conf.get("enabled"):
            out[backend] = {"id": conf.get("id")}
    return out


def template_channels(route: Route) -> list[str]:
    """The template channels to render for ``route``: ``web`` and each enabled destination's
    (``mobile_app_critical`` renders with ``mobile_app``'s), each once."""
    return ["web", *dict.fromkeys(TEMPLATE_CHANNEL_OF.get(d, d) for d in enabled_channels(route))]


def event_data(
    route: Route, mode: MaintenanceMode | None, actor: str, rendering: ChannelRendering
) -> dict[str, Any]:
    """The ``data`` of an alert's events: route, chain, escalation, and each rendered channel with
    its destination (``web`` and the route's enabled channels; ``rendering`` has the
    ``template_channels`` of the route)."""
    destinations = enabled_channels(route)
    channels: dict[str, Any] = {}
    for name in ["web", *destinations]:
        rendered = rendering.channels[TEMPLATE_CHANNEL_OF.get(name, name)]
        channels[name] = {
            **destinations.get(name, {}),
            "title": rendered.title,
            "message": rendered.message,
            "image_url": rendered.image_url,
        }
    return {
        "route_id": route.id,
        "escalation_chain_id": route.escalation_chain_id,
        "escalate": mode is None and route.escalation_chain_id is not None,
        "maintenance_mode": mode,
        "actor": actor,
        "source_link": rendering.source_link,
        "channels": channels,
    }
