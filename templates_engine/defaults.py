"""Per-type default templates (the value used when an integration's template is ``None``).

Grouping keys and resolve/acknowledge signals behave exactly as OnCall's per-type defaults, since
senders depend on them. Source links follow the table; titles and messages are our own wording.

Channel titles other than web reuse the rendered web title (``{{ web_title }}``); messages come in
three styles: Markdown (web, msteams), Slack mrkdwn (slack) and plain text (telegram, mobile_app,
email, webhook). SMS and phone-call have a title only. ``webhook`` is OnCall's personal-webhook
channel and ``msteams`` the Cloud one: both are stored and rendered so either kind of client finds
its keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CHANNEL_FIELDS",
    "TEMPLATE_FIELDS",
    "TEMPLATE_TYPES",
    "default_dynamic_labels",
    "default_template",
    "default_templates",
]

Style = Literal["markdown", "slack", "plain"]

TEMPLATE_FIELDS: tuple[str, ...] = (
    "grouping_key",
    "resolve_signal",
    "acknowledge_signal",
    "source_link",
)
# In the order of the Integrations HTTP API document.
CHANNEL_FIELDS: dict[str, tuple[str, ...]] = {
    "slack": ("title", "message", "image_url"),
    "web": ("title", "message", "image_url"),
    "sms": ("title",),
    "phone_call": ("title",),
    "telegram": ("title", "message", "image_url"),
    "mobile_app": ("title", "message"),
    "email": ("title", "message"),
    "webhook": ("title", "message", "image_url"),
    "msteams": ("title", "message", "image_url"),
}
_STYLE: dict[str, Style] = {
    "web": "markdown",
    "msteams": "markdown",
    "slack": "slack",
    "telegram": "plain",
    "mobile_app": "plain",
    "email": "plain",
    "webhook": "plain",
}


@dataclass(frozen=True, slots=True)
class _Fmt:
    style: Style

    def bold(self, text: str) -> str:
        return {"markdown": f"**{text}**", "slack": f"*{text}*", "plain": text}[self.style]

    def link(self, url: str, text: str) -> str:
        """``url`` is a Jinja expression, ``text`` literal text."""
        if self.style == "markdown":
            return f"[{text}]({{{{ {url} }}}})"
        if self.style == "slack":
            return f"<{{{{ {url} }}}}|{text}>"
        return f"{text}: {{{{ {url} }}}}"

    def code(self, expr: str) -> str:
        if self.style == "plain":
            return f"{{{{ {expr} }}}}"
        return f"```\n{{{{ {expr} }}}}\n```"


# --- Alertmanager / Grafana Alerting -----------------------------------------------------------

_AM_TITLE = (
    "{%- set group = dict(payload.groupLabels or {}) -%}"
    '{%- set name = group.pop("alertname", "") -%}'
    "{%- if payload.labels is mapping and payload.labels.alertname -%}"
    "{%- set name = payload.labels.alertname -%}{%- endif -%}"
    '{{ name or "Alert" }}{% if group %} ({{ group.values()|join(", ") }}){% endif %}'
)


def _am_message(f: _Fmt) -> str:
    return (
        '{%- set status = payload.status or "unknown" -%}'
        "{%- set common = payload.commonLabels or {} -%}"
        "{%- set notes = payload.commonAnnotations or {} -%}"
        "{%- set severity = common.severity or (payload.groupLabels or {}).severity -%}"
        f"{f.bold('Status:')} {{{{ status }}}}"
        '{% if status == "firing" %} :fire:'
        '{% elif status == "resolved" %} :white_check_mark:{% endif %}'
        f"{{% if severity %}}  |  {f.bold('Severity:')} {{{{ severity }}}}{{% endif %}}"
        '{% if status == "firing" and payload.numFiring is defined %}\n'
        "Firing: {{ payload.numFiring }}, resolved: {{ payload.numResolved or 0 }}{% endif %}"
        "{% if notes.summary %}\n\n{{ notes.summary }}{% endif %}"
        "{% if notes.description %}\n{{ notes.description }}{% endif %}"
        "{% if notes.runbook_url %}\n:book: "
        f"{f.link('notes.runbook_url', 'Runbook')}{{% endif %}}"
        "{% if payload.alerts is sequence and payload.alerts is not string"
        " and payload.alerts %}\n\n"
        f"{f.bold('Alerts ({{ payload.alerts|length }}):')}"
        "{% for alert in payload.alerts[:10] %}{% set al = alert.labels or {} %}\n"
        "- {{ alert.status }}: {{ (alert.annotations or {}).summary or al.alertname or 'alert' }}"
        "{% if al.instance %} on {{ al.instance }}{% endif %}{% endfor %}"
        "{% if payload.alerts|length > 10 %}\n- and {{ payload.alerts|length - 10 }} more"
        "{% endif %}{% endif %}"
        f"{{% if common %}}\n\n{f.bold('Labels:')} "
        "{% for k, v in common|dictsort %}{{ k }}={{ v }}{% if not loop.last %}, {% endif %}"
        "{% endfor %}{% endif %}"
        f"{{% if source_link %}}\n\n{f.link('source_link', 'Open in the source')}{{% endif %}}"
    )


# --- Grafana (legacy alerting) ------------------------------------------------------------------

_GRAFANA_TITLE = (
    '{{ payload.get("title") or (payload.get("labels") or {}).get("alertname")'
    ' or "Grafana alert" }}'
)


def _grafana_message(f: _Fmt) -> str:
    return (
        '{%- if payload.get("message") %}{{ payload.message }}\n\n{% endif -%}'
        '{%- for match in payload.get("evalMatches") or [] -%}'
        f"{f.bold('{{ match.metric }}')}: {{{{ match.value }}}}\n"
        "{% endfor -%}"
        '{%- set status = payload.get("state") or payload.get("status") -%}'
        f"{{% if status %}}{f.bold('Status:')} {{{{ status }}}}\n{{% endif -%}}"
        '{%- set labels = payload.get("labels") or {} -%}'
        f"{{% if labels %}}{f.bold('Labels:')} "
        "{% for k, v in labels|dictsort %}{{ k }}={{ v }}{% if not loop.last %}, {% endif %}"
        "{% endfor %}\n{% endif -%}"
        '{%- set notes = payload.get("annotations") or {} -%}'
        "{%- for k, v in notes|dictsort %}"
        f"{f.bold('{{ k }}:')} {{{{ v }}}}\n{{% endfor -%}}"
        f"{{%- if source_link %}}{f.link('source_link', 'Open in Grafana')}{{% endif %}}"
    )


# --- payload-as-JSON types ------------------------------------------------------------------------


def _json_message(f: _Fmt) -> str:
    return f.code("payload|tojson_pretty")


def _title_from(key: str, fallback: str) -> str:
    return f'{{{{ (payload.get("{key}") if payload is mapping else "") or "{fallback}" }}}}'


def _field_message(f: _Fmt) -> str:
    return (
        '{{ payload.get("message", "") if payload is mapping else "" }}'
        f"{{% if source_link %}}\n\n{f.link('source_link', 'Open in the source')}{{% endif %}}"
    )


# --- manual -------------------------------------------------------------------------------------


def _manual_message(f: _Fmt) -> str:
    return (
        "{{ payload.oncall.message }}"
        f"{{% if source_link %}}\n{f.link('source_link', 'Link to the original message')}"
        "{% endif %}\n"
        "Created by {{ payload.oncall.author_username }}"
    )


# --- PagerDuty Events v2 / Opsgenie Alert API (as queued by ingest.api.pagerduty / .opsgenie) ---

_PD_EVENT = '{%- set event = payload.get("payload") or {} -%}'
_PD_TITLE = _PD_EVENT + '{{ event.get("summary") or "PagerDuty event" }}'
_PD_LINK = (
    '{%- set links = payload.get("links") or [] -%}'
    "{%- set first = links[0] if links and links[0] is mapping else {} -%}"
    '{{ payload.get("client_url") or first.get("href") or "" }}'
)


def _details(f: _Fmt, expr: str) -> str:
    """A list of the first 20 ``key: value`` pairs of the mapping ``expr``."""
    return (
        f"{{% set details = {expr} %}}"
        "{% if details is mapping and details %}\n"
        "{% for k, v in details|dictsort %}{% if loop.index <= 20 %}\n"
        f"{f.bold('{{ k }}:')} {{{{ v if v is string else v|tojson }}}}"
        "{% endif %}{% endfor %}{% endif %}"
    )


def _pd_message(f: _Fmt) -> str:
    return (
        _PD_EVENT + f"{f.bold('Severity:')} {{{{ event.get('severity') or 'unknown' }}}}"
        "{% if event.get('source') %}  |  "
        f"{f.bold('Source:')} {{{{ event.source }}}}{{% endif %}}"
        "{% for field in ('component', 'group', 'class') %}{% if event.get(field) %}"
        "\n{{ field|capitalize }}: {{ event.get(field) }}{% endif %}{% endfor %}"
        '{% if payload.get("event_action") in ("acknowledge", "resolve") %}'
        "\nEvent: {{ payload.event_action }}{% endif %}"
        + _details(f, 'event.get("custom_details")')
        + f"{{% if source_link %}}\n\n{f.link('source_link', 'Open in the source')}{{% endif %}}"
    )


def _og_message(f: _Fmt) -> str:
    return (
        f"{f.bold('Priority:')} {{{{ payload.get('priority') or 'P3' }}}}"
        "{% if payload.get('entity') %}  |  "
        f"{f.bold('Entity:')} {{{{ payload.entity }}}}{{% endif %}}"
        "{% set tags = payload.get('tags') or [] %}"
        f"{{% if tags %}}\n{f.bold('Tags:')} {{{{ tags|join(', ') }}}}{{% endif %}}"
        "{% if payload.get('action') not in (none, 'create') %}"
        "\nAction: {{ payload.action }}{% endif %}"
        "{% if payload.get('description') %}\n\n{{ payload.description }}{% endif %}"
        + _details(f, 'payload.get("details")')
        + f"{{% if source_link %}}\n\n{f.link('source_link', 'Open in the source')}{{% endif %}}"
    )


# Label key -> value template; given to a new integration of the type as its ``dynamic_labels``.
_DYNAMIC_LABELS: dict[str, tuple[tuple[str, str], ...]] = {
    "pagerduty": tuple(
        (name, f'{{{{ (payload.get("payload") or {{}}).get("{name}") or "" }}}}')
        for name in ("severity", "source", "component", "group", "class")
    ),
    "opsgenie": (
        ("priority", '{{ payload.get("priority") or "" }}'),
        ("tags", '{{ (payload.get("tags") or [])|join(",") }}'),
        ("entity", '{{ payload.get("entity") or "" }}'),
    ),
}


@dataclass(frozen=True, slots=True)
class _TypeDefaults:
    grouping_key: str | None
    resolve_signal: str | None
    source_link: str | None
    title: str
    message: Callable[[_Fmt], str]
    image_url: str | None = None
    acknowledge_signal: str | None = None


_STATE_OK = '{{ payload.get("state", "").upper() == "OK" }}'
_ALERT_UID = '{{ payload.get("alert_uid", "") }}'
_WEBHOOK_KEY = (
    '{% if "is_oncall_heartbeat" in payload %}\n{{ payload.alert_uid }}\n'
    "{% else %}\n{{ payload }}\n{% endif %}"
)
_ALERTMANAGER = _TypeDefaults(
    grouping_key="{{ payload.groupKey }}",
    resolve_signal='{{ payload.status == "resolved" }}',
    source_link="{{ payload.alerts[0].generatorURL }}",
    title=_AM_TITLE,
    message=_am_message,
)

_DEFAULTS: dict[str, _TypeDefaults] = {
    "alertmanager": _ALERTMANAGER,
    "grafana_alerting": _ALERTMANAGER,
    "grafana": _TypeDefaults(
        grouping_key=(
            '{{ payload.get("ruleName", "") or (payload.get("labels") or {}).get("alertname")'
            ' or "No title (check Web Title Template)" }}'
        ),
        resolve_signal=(
            '{{ payload.get("state") == "ok" or payload.get("status", "") == "resolved" }}'
        ),
        source_link='{{ payload.get("ruleUrl", "") or payload.generatorURL }}',
        title=_GRAFANA_TITLE,
        message=_grafana_message,
        image_url='{{ payload.get("imageUrl") or "" }}',
    ),
    "webhook": _TypeDefaults(
        grouping_key=_WEBHOOK_KEY,
        resolve_signal=_STATE_OK,
        source_link="{{ payload.url }}",
        title=_title_from("title", "Webhook alert"),
        message=_json_message,
    ),
    "formatted_webhook": _TypeDefaults(
        grouping_key=_ALERT_UID,
        resolve_signal=_STATE_OK,
        source_link="{{ payload.link_to_upstream_details }}",
        title=_title_from("title", "Untitled alert (set a title in the web title template)"),
        message=_field_message,
        image_url="{{ payload.image_url }}",
    ),
    "kapacitor": _TypeDefaults(
        grouping_key='{{ payload.get("id", "") }}',
        resolve_signal='{{ payload.get("level", "").startswith("OK") }}',
        source_link=None,
        title=_title_from("id", "Kapacitor alert"),
        message=_json_message,
    ),
    "elastalert": _TypeDefaults(
        grouping_key=_ALERT_UID,
        resolve_signal=_STATE_OK,
        source_link=None,
        title=_title_from("title", "ElastAlert alert"),
        message=_json_message,
    ),
    "zabbix": _TypeDefaults(
        grouping_key=_ALERT_UID,
        resolve_signal=_STATE_OK,
        source_link="{{ payload.link_to_upstream_details }}",
        title=_title_from("title", "Untitled Zabbix alert (set a title in the web title template)"),
        message=_field_message,
        image_url='{{ payload.get("image_url", "") }}',
    ),
    "manual": _TypeDefaults(
        grouping_key="{{ payload }}",
        resolve_signal=None,
        source_link="{{ payload.oncall.permalink }}",
        title="{{ payload.oncall.title }}",
        message=_manual_message,
    ),
    "pagerduty": _TypeDefaults(
        grouping_key='{{ payload.get("dedup_key", "") }}',
        resolve_signal='{{ payload.get("event_action") == "resolve" }}',
        acknowledge_signal='{{ payload.get("event_action") == "acknowledge" }}',
        source_link=_PD_LINK,
        title=_PD_TITLE,
        message=_pd_message,
    ),
    "opsgenie": _TypeDefaults(
        grouping_key='{{ payload.get("alias", "") }}',
        resolve_signal='{{ payload.get("action") == "close" }}',
        acknowledge_signal='{{ payload.get("action") == "acknowledge" }}',
        source_link=(
            '{%- set source = payload.get("source") -%}'
            '{{ source if source is string and source.startswith(("http://", "https://")) }}'
        ),
        title='{{ payload.get("message") or "Opsgenie alert" }}',
        message=_og_message,
    ),
}


def default_dynamic_labels(integration_type: str) -> tuple[tuple[str, str], ...]:
    """The ``dynamic_labels`` a new integration of the type starts with (key, template)."""
    return _DYNAMIC_LABELS.get(integration_type, ())


def _slack_title() -> str:
    return (
        "{% if grafana_oncall_link %}*<{{ grafana_oncall_link }}|"
        "#{{ grafana_oncall_incident_id }} {{ web_title }}>*"
        "{% else %}*{{ web_title }}*{% endif %}"
        "{% if integration_name %} via {{ integration_name }}{% endif %}"
        "{% if source_link %} (<{{ source_link }}|source>){% endif %}"
    )


def _channel_default(defaults: _TypeDefaults, channel: str, field: str) -> str | None:
    if channel == "web":
        if field == "title":
            return defaults.title
        if field == "message":
            return defaults.message(_Fmt("markdown"))
        return defaults.image_url
    if field == "title":
        return _slack_title() if channel == "slack" else "{{ web_title }}"
    if field == "message":
        return defaults.message(_Fmt(_STYLE[channel]))
    return "{{ web_image_url }}" if defaults.image_url else None


def _build(integration_type: str) -> dict[str, object]:
    defaults = _DEFAULTS[integration_type]
    result: dict[str, object] = {
        "grouping_key": defaults.grouping_key,
        "resolve_signal": defaults.resolve_signal,
        "acknowledge_signal": defaults.acknowledge_signal,
        "source_link": defaults.source_link,
    }
    for channel, fields in CHANNEL_FIELDS.items():
        result[channel] = {f: _channel_default(defaults, channel, f) for f in fields}
    return result


# The integration types with default templates (every type of ``ingest.models.INTEGRATION_TYPES``).
TEMPLATE_TYPES: tuple[str, ...] = tuple(_DEFAULTS)
_BUILT: dict[str, dict[str, object]] = {t: _build(t) for t in TEMPLATE_TYPES}


def default_templates(integration_type: str) -> Mapping[str, object]:
    """All default templates of a type, in the API's ``templates`` shape (``None``: no default).

    Raises ``KeyError`` for an unknown type.
    """
    return _BUILT[integration_type]


def default_template(integration_type: str, name: str) -> str | None:
    """One default template by dotted name (``grouping_key``, ``slack.title``, ...)."""
    defaults = _BUILT[integration_type]
    if "." in name:
        channel, field = name.split(".", 1)
        block = defaults[channel]
        assert isinstance(block, dict)
        value = block.get(field)
    else:
        value = defaults[name]
    return value if isinstance(value, str) or value is None else None
