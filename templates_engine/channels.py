"""Rendering one alert for its channels (what the worker puts in the alert's events).

``render_channels(integration_type, templates, payload, ...) -> ChannelRendering`` renders the
source link, then web title/message/image_url, then the other channels with ``web_title``,
``web_message`` and ``web_image_url`` in their context (as in OnCall). Every template also sees
``payload``, ``labels`` (the alert's labels, as its grouping key saw them), ``integration_name``,
``grafana_oncall_alert_group_id`` (and ``grafana_oncall_incident_id``), ``grafana_oncall_link``
and ``source_link``. A failed template shows its ``Template Error/Warning: …`` message as the
value; a value rendering ``None`` (or empty) is null.

The web title is also the title of the group an alert opens, and it is rendered once:
``render_web_title`` renders it (and the source link its context needs) for the group id the
alert would open, before grouping; when the alert did open that group, ``render_channels(...,
web=...)`` renders the rest around it. The group and its ``alert_group_created`` event so carry
the same title, from one context. When the alert joined another group instead,
``WebTitle.for_group`` carries the title over to that group's id as long as neither the web
title nor the source link can read the group's id or link (most templates): only then is
nothing rendered twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

from jinja2 import Environment, meta

from .defaults import CHANNEL_FIELDS
from .evaluate import TemplateIssue, TemplateRun, nullable, resolve_template
from .limits import DEFAULT_LIMITS, Limits
from .readonly import freeze
from .sandbox import RenderResult

__all__ = ["ChannelRendering", "RenderedChannel", "WebTitle", "render_channels", "render_web_title"]


@dataclass(frozen=True, slots=True)
class RenderedChannel:
    title: str | None = None
    message: str | None = None
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelRendering:
    channels: dict[str, RenderedChannel] = field(default_factory=dict)
    source_link: str | None = None
    issues: tuple[TemplateIssue, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shown(result: RenderResult) -> str | None:
    """A channel value as shown: a failed template's message, else the text (null if empty)."""
    if result.text is None:
        return result.message
    return nullable(result)


@dataclass(frozen=True)
class _Alert:
    integration_type: str
    templates: Mapping[str, Any] | None
    context: dict[str, Any]

    def render(self, run: TemplateRun, channel: str, name: str) -> str | None:
        source = resolve_template(self.integration_type, self.templates, f"{channel}.{name}")
        if source is None:
            return None
        limit = run.limits.title_length if name == "title" else None
        return shown(run.render(f"{channel}.{name}", source, self.context, limit))


GROUP_NAMES = frozenset(
    ("grafana_oncall_alert_group_id", "grafana_oncall_incident_id", "grafana_oncall_link")
)
"""The context names whose value depends on which group the alert is in."""


@lru_cache(maxsize=1024)
def reads_group(source: str) -> bool:
    """Whether a template may read a name of ``GROUP_NAMES``; True when it cannot be told.

    A template reaches its context only by name (no filter or global here reads the context),
    so the names it leaves undeclared are all it can see. Parsed with a plain environment: only
    names matter, and the sandbox's own parse rewrites nodes, not names.
    """
    try:
        tree = Environment().parse(source)
    except Exception:  # a syntax error or a too-deep tree: assume it does
        return True
    return not GROUP_NAMES.isdisjoint(meta.find_undeclared_variables(tree))


@dataclass(frozen=True)
class WebTitle:
    """An alert's web title rendered for ``alert_group_id``, with the source link it saw; what
    ``render_channels(web=...)`` continues from."""

    alert_group_id: str
    title: str | None
    source_link: str | None
    issues: tuple[TemplateIssue, ...]
    spent: float  # seconds of the evaluation budget used
    alert: _Alert = field(repr=False)

    def for_group(self, alert_group_id: str, alert_group_link: str) -> WebTitle | None:
        """This rendering for the group the alert is really in; None when the web title or the
        source link could read the group's id or link, so that it must be rendered again."""
        if alert_group_id == self.alert_group_id:
            return self
        alert = self.alert
        for name in ("source_link", "web.title"):
            source = resolve_template(alert.integration_type, alert.templates, name)
            if source is not None and reads_group(source):
                return None
        context = {
            **alert.context,
            "grafana_oncall_alert_group_id": alert_group_id,
            "grafana_oncall_incident_id": alert_group_id,
            "grafana_oncall_link": alert_group_link,
        }
        return replace(self, alert_group_id=alert_group_id, alert=replace(alert, context=context))


def render_web_title(
    integration_type: str,
    templates: Mapping[str, Any] | None,
    payload: Any,
    *,
    labels: Mapping[str, str] | None = None,
    integration_name: str = "",
    alert_group_id: str = "",
    alert_group_link: str = "",
    limits: Limits | None = None,
) -> WebTitle:
    """The source link, then the web title, as ``render_channels`` starts with them."""
    run = TemplateRun(limits or DEFAULT_LIMITS)
    context: dict[str, Any] = {
        "payload": freeze(payload),
        "labels": freeze(dict(labels or {})),
        "integration_name": integration_name,
        "grafana_oncall_alert_group_id": alert_group_id,
        "grafana_oncall_incident_id": alert_group_id,
        "grafana_oncall_link": alert_group_link,
    }
    alert = _Alert(integration_type, templates, context)
    source = resolve_template(integration_type, templates, "source_link")
    link = None if source is None else nullable(run.render("source_link", source, context))
    context["source_link"] = link or ""
    title = alert.render(run, "web", "title")
    return WebTitle(alert_group_id, title, link, tuple(run.issues), run.spent, alert)


def render_channels(
    integration_type: str,
    templates: Mapping[str, Any] | None,
    payload: Any,
    *,
    labels: Mapping[str, str] | None = None,
    integration_name: str = "",
    alert_group_id: str = "",
    alert_group_link: str = "",
    channels: Sequence[str] | None = None,
    limits: Limits | None = None,
    web: WebTitle | None = None,
) -> ChannelRendering:
    """Title/message/image_url of each channel (all channels unless ``channels`` names some).

    ``web``: the web title ``render_web_title`` rendered for this alert; the rendering continues
    from it (its context: labels, group id, source link) instead of rendering it again, and the
    arguments it was made from are not used.
    """
    if web is None:
        web = render_web_title(
            integration_type,
            templates,
            payload,
            labels=labels,
            integration_name=integration_name,
            alert_group_id=alert_group_id,
            alert_group_link=alert_group_link,
            limits=limits,
        )
    run = TemplateRun(limits or DEFAULT_LIMITS)
    run.issues.extend(web.issues)
    run.spent = web.spent
    alert = replace(web.alert, context=dict(web.alert.context))
    wanted = list(channels) if channels is not None else list(CHANNEL_FIELDS)
    rendered: dict[str, RenderedChannel] = {}
    for channel in ["web", *[c for c in wanted if c != "web"]]:
        values: dict[str, str | None] = {}
        for name in CHANNEL_FIELDS[channel]:
            if channel == "web" and name == "title":
                values[name] = web.title
            else:
                values[name] = alert.render(run, channel, name)
        rendered[channel] = RenderedChannel(**values)
        if channel == "web":
            alert.context["web_title"] = values.get("title") or ""
            alert.context["web_message"] = values.get("message") or ""
            alert.context["web_image_url"] = values.get("image_url") or ""
    result = {c: rendered[c] for c in wanted if c in rendered}
    return ChannelRendering(result, web.source_link, tuple(run.issues))
