"""Plain typed records: integrations, routes, API tokens, and the catalogue of integration types.

Records are stored in Redis as orjson documents (``to_doc``/``from_doc``); the public API shape is
built by ``ingest.api`` serializers, never stored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from templates_engine.defaults import CHANNEL_FIELDS, TEMPLATE_FIELDS

# The template keys of an integration: behaviour templates, then channels with their fields.
BEHAVIOUR_TEMPLATES: tuple[str, ...] = TEMPLATE_FIELDS
CHANNEL_TEMPLATES: dict[str, tuple[str, ...]] = CHANNEL_FIELDS
# Destinations a route carries besides Slack: each {"id": str|None, "enabled": bool}. OnCall's
# open-source backends (mobile_app, mobile_app_critical, email, webhook) and the Cloud one
# (msteams), so that clients of either find their keys.
ROUTE_BACKENDS: tuple[str, ...] = (
    "telegram",
    "mobile_app",
    "mobile_app_critical",
    "email",
    "webhook",
    "msteams",
)
# The template channel a destination renders with, when it has none of its own.
TEMPLATE_CHANNEL_OF: dict[str, str] = {"mobile_app_critical": "mobile_app"}


@dataclass(frozen=True)
class IntegrationType:
    slug: str
    title: str
    has_link: bool
    has_heartbeat: bool
    # Alertmanager-style senders: body must be an object; they drop 4xx, so 429 becomes 503.
    alertmanager_style: bool = False
    # Events that only act on an open group (field of the payload, its values), never open one.
    acting: tuple[str, frozenset[str]] | None = None

    def acts_only(self, payload: Any) -> bool:
        """Whether this alert may only join an open group: PagerDuty acknowledge and resolve,
        Opsgenie close, acknowledge and updates. With no open group they are dropped, as the
        dialects' own services do (after a short wait: see ``worker.jobs``)."""
        if self.acting is None or not isinstance(payload, dict):
            return False
        field_name, values = self.acting
        return payload.get(field_name) in values


# ``debug``: alerts grouped as usual, without escalation; ``maintenance``: collected in the
# integration's maintenance group.
MaintenanceMode = Literal["debug", "maintenance"]
MAINTENANCE_MODES: tuple[MaintenanceMode, ...] = get_args(MaintenanceMode)
PD_ACTING = ("event_action", frozenset({"acknowledge", "resolve"}))
OPSGENIE_ACTING = ("action", frozenset({"close", "acknowledge", "message", "description"}))
INTEGRATION_TYPES: dict[str, IntegrationType] = {
    t.slug: t
    for t in (
        IntegrationType("alertmanager", "Alertmanager", True, True, True),
        IntegrationType("grafana_alerting", "Grafana Alerting", True, False, True),
        IntegrationType("grafana", "Grafana", True, True),
        IntegrationType("webhook", "Webhook", True, True),
        IntegrationType("formatted_webhook", "Formatted webhook", True, True),
        IntegrationType("kapacitor", "Kapacitor", True, False),
        IntegrationType("elastalert", "Elastalert", True, True),
        IntegrationType("zabbix", "Zabbix", True, True),
        IntegrationType("manual", "Manual", False, False),
        # Their own answers (ingest.api.pagerduty, ingest.api.opsgenie), 429 included.
        IntegrationType("pagerduty", "PagerDuty", True, False, acting=PD_ACTING),
        IntegrationType("opsgenie", "Opsgenie", True, False, acting=OPSGENIE_ACTING),
    )
}

NAME_EMOJI: tuple[str, ...] = (
    ":blush:",
    ":ghost:",
    ":apple:",
    ":heart:",
    ":sunglasses:",
    ":package:",
    ":balloon:",
    ":bell:",
    ":beer:",
    ":fire:",
)


def default_name(type_slug: str, created_before: int) -> str:
    """``<type title> <emoji code>``: one emoji per decimal digit of integrations ever created."""
    emoji = "".join(NAME_EMOJI[int(d)] for d in str(created_before))
    return f"{INTEGRATION_TYPES[type_slug].title} {emoji}"


def empty_templates() -> dict[str, Any]:
    templates: dict[str, Any] = {name: None for name in BEHAVIOUR_TEMPLATES}
    for channel, attrs in CHANNEL_TEMPLATES.items():
        templates[channel] = {attr: None for attr in attrs}
    return templates


def full_templates(stored: dict[str, Any]) -> dict[str, Any]:
    """``stored`` with every key of today's shape (records written before a channel existed
    lack it); keys no longer known are dropped."""
    templates = empty_templates()
    for key, value in stored.items():
        if key in templates:
            templates[key] = {**templates[key], **value} if isinstance(value, dict) else value
    return templates


def merge_templates(stored: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``stored`` templates with ``changes`` applied: a channel's fields merge, ``None`` for a
    channel clears all its fields, any other key is replaced."""
    merged = full_templates(stored)
    for key, value in changes.items():
        if key in CHANNEL_TEMPLATES:
            if value is None:
                merged[key] = {attr: None for attr in CHANNEL_TEMPLATES[key]}
            else:
                merged[key].update(value)
        else:
            merged[key] = value
    return merged


@dataclass
class Label:
    key: str
    value: str

    def to_api(self) -> dict[str, Any]:
        return {"key": {"name": self.key}, "value": {"name": self.value}}


@dataclass
class Integration:
    id: str
    org_id: str
    type: str
    name: str
    created_at: float
    seq: int
    token: str | None = None
    # The type in the link path when it is not ``type``: an integration imported from OnCall
    # under a type alert-ingest does not have keeps its senders' URL (see ``ingest.importer``).
    link_type: str | None = None
    description_short: str | None = None
    team_id: str | None = None
    templates: dict[str, Any] = field(default_factory=empty_templates)
    labels: list[Label] = field(default_factory=list)
    dynamic_labels: list[Label] = field(default_factory=list)
    # Renders a JSON object of extra labels (applied after static and dynamic labels).
    alert_group_labels_template: str | None = None
    default_route_id: str = ""
    heartbeat_enabled: bool = False
    heartbeat_timeout: int = 600
    maintenance_mode: MaintenanceMode | None = None
    maintenance_started_at: float | None = None
    maintenance_end_at: float | None = None
    rate_limit: str | None = None
    # Seconds without an alert after which a group is resolved (``worker.auto_resolve``).
    auto_resolve_after: int | None = None
    deleted_at: float | None = None

    def to_doc(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Integration:
        data = dict(doc)
        data["labels"] = [Label(**item) for item in data.get("labels", [])]
        data["dynamic_labels"] = [Label(**item) for item in data.get("dynamic_labels", [])]
        data["templates"] = full_templates(data.get("templates") or {})
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def empty_channel(enabled: bool = False) -> dict[str, Any]:
    return {"id": None, "enabled": enabled}


@dataclass
class Route:
    id: str
    org_id: str
    integration_id: str
    is_default: bool = False
    position: int = 0
    routing_type: str = "regex"
    routing_regex: str | None = None
    labels: list[Label] = field(default_factory=list)
    escalation_chain_id: str | None = None
    slack: dict[str, Any] = field(default_factory=lambda: {"channel_id": None, "enabled": True})
    backends: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {name: empty_channel() for name in ROUTE_BACKENDS}
    )

    def to_doc(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Route:
        data = dict(doc)
        data["labels"] = [Label(**item) for item in data.get("labels", [])]
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class EscalationChain:
    """A named escalation chain that routes refer to (its steps are out of scope here)."""

    id: str
    org_id: str
    name: str
    created_at: float
    team_id: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> EscalationChain:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})


@dataclass
class ApiToken:
    id: str
    org_id: str
    name: str
    scopes: list[str]
    digest: str
    created_at: float
    revoked_at: float | None = None

    def to_doc(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ApiToken:
        return cls(**doc)


SCOPES: tuple[str, ...] = (
    "integrations:read",
    "integrations:write",
    "alert_groups:read",
    "alert_groups:write",
    "outgoing_webhooks:read",
    "outgoing_webhooks:write",
)
SCOPE_ALIASES: dict[str, str] = (
    {
        f"{prefix}.{scope}": scope
        for prefix in ("grafana-irm-app", "grafana-oncall-app")
        for scope in ("integrations:read", "integrations:write")
    }
    | {
        f"{prefix}.alert-groups:{op}": f"alert_groups:{op}"
        for prefix in ("grafana-irm-app", "grafana-oncall-app")
        for op in ("read", "write")
    }
    | {
        f"{prefix}.outgoing-webhooks:{op}": f"outgoing_webhooks:{op}"
        for prefix in ("grafana-irm-app", "grafana-oncall-app")
        for op in ("read", "write")
    }
)


def normalize_scope(scope: str) -> str:
    """Map a scope or its Grafana alias to ours; raise ValueError naming the unknown scope."""
    scope = scope.strip()
    if scope in SCOPES:
        return scope
    if scope in SCOPE_ALIASES:
        return SCOPE_ALIASES[scope]
    raise ValueError(f"unknown scope {scope!r}; known: {', '.join(SCOPES)} (or Grafana aliases)")
