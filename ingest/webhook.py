"""The outgoing webhook record and its vocabulary (trigger types, methods, the secret mask).

A webhook is stored as one orjson document (``ingest.store.webhooks``); the public API shape is
built in ``ingest.api.webhooks``. Secrets (``password``, ``authorization_header``,
``signing_secret``) are kept in the document because the worker needs them to send; they leave
the service only inside the outgoing request, never in an API answer or a log line.

Trigger types are OnCall's public strings. Which stream events fire which trigger is
``TRIGGERS_OF_EVENT``: a status change fires its own trigger and ``status change``; a new alert
group fires ``alert group created`` and, when its route escalates, ``escalation``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SECRET_MASK = "****************"
SECRET_FIELDS: tuple[str, ...] = ("password", "authorization_header", "signing_secret")
HTTP_METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
BODY_METHODS: frozenset[str] = frozenset({"POST", "PUT", "PATCH"})

TRIGGER_TYPES: tuple[str, ...] = (
    "escalation",
    "alert group created",
    "acknowledge",
    "resolve",
    "silence",
    "unsilence",
    "unresolve",
    "unacknowledge",
    "status change",
)
STATUS_CHANGE = "status change"
# stream event type -> the concrete trigger it is (its ``event.type`` in the webhook payload)
EVENT_TRIGGER: dict[str, str] = {
    "alert_group_created": "alert group created",
    "alert_group_acknowledged": "acknowledge",
    "alert_group_resolved": "resolve",
    "alert_group_silenced": "silence",
    "alert_group_unsilenced": "unsilence",
    "alert_group_unresolved": "unresolve",
    "alert_group_unacknowledged": "unacknowledge",
}


def triggers_of_event(event_type: str, escalate: bool) -> frozenset[str]:
    """The webhook trigger types a stream event fires (empty for ``alert_added``)."""
    concrete = EVENT_TRIGGER.get(event_type)
    if concrete is None:
        return frozenset()
    if concrete == "alert group created":
        return frozenset({concrete, "escalation"} if escalate else {concrete})
    return frozenset({concrete, STATUS_CHANGE})


@dataclass
class Webhook:
    id: str
    org_id: str
    name: str
    url: str
    http_method: str
    trigger_type: str
    created_at: float
    is_webhook_enabled: bool = True
    team_id: str | None = None
    data: str | None = None
    username: str | None = None
    password: str | None = None
    authorization_header: str | None = None
    signing_secret: str | None = None
    trigger_template: str | None = None
    headers: str | None = None
    forward_all: bool = True
    integration_filter: list[str] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Webhook:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})

    def fires_on(self, triggers: frozenset[str], integration_id: str) -> bool:
        """Enabled, of a fired trigger type, and not filtered out by ``integration_filter``."""
        if not self.is_webhook_enabled or self.trigger_type not in triggers:
            return False
        return not self.integration_filter or integration_id in self.integration_filter
