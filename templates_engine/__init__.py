"""templates_engine: the sandboxed Jinja2 template library of alert-ingest (pure, no I/O).

Public API (see each module's docstring for details):

- ``check_template(source, limits=None)``: raises ``TemplateCompileError(message, lineno)`` for a
  syntax error, an unknown filter or a template over the length limit (template save).
- ``Limits``: frozen dataclass of every sandbox limit (``templates_engine.limits``).
- ``evaluate_alert(type, templates, payload, *, static_labels, dynamic_labels,
  multi_label_template, max_labels, alert_id, limits) -> Evaluation``: labels, grouping key and
  id, resolve/ack signals, source link and template issues (``Evaluation.to_dict()`` is the trace).
- ``render_channels(type, templates, payload, *, labels, integration_name, alert_group_id,
  alert_group_link, channels, limits, web) -> ChannelRendering``: title/message/image_url per
  channel; ``render_web_title(...) -> WebTitle`` renders the web title alone, before grouping,
  for ``render_channels(web=...)`` to reuse (``templates_engine.channels``).
- ``select_route(routes, payload, labels, *, limits) -> RouteDecision`` over ``RouteSpec``s;
  ``check_regex(pattern)`` raises ``InvalidRegex``.
- ``render_template(source, context, limits=None) -> RenderResult`` and ``is_truthy(text)``.
- ``default_templates(type)`` and ``TEMPLATE_TYPES`` (the types that have defaults).
"""

from collections.abc import Mapping
from typing import Any

from .channels import (
    ChannelRendering,
    RenderedChannel,
    WebTitle,
    render_channels,
    render_web_title,
)
from .defaults import (
    CHANNEL_FIELDS,
    TEMPLATE_TYPES,
    default_dynamic_labels,
    default_template,
    default_templates,
)
from .errors import IssueKind, TemplateCompileError
from .evaluate import (
    DroppedLabel,
    Evaluation,
    Label,
    TemplateIssue,
    evaluate_alert,
    resolve_template,
)
from .limits import DEFAULT_LIMITS, Limits
from .readonly import freeze
from .routing import InvalidRegex, RouteDecision, RouteSpec, RouteTrial, check_regex, select_route
from .sandbox import RenderResult, check_template, get_engine, is_truthy


def render_template(
    source: str, context: Mapping[str, Any], limits: Limits | None = None
) -> RenderResult:
    """Render one template; ``payload`` and ``labels`` in ``context`` are made read-only."""
    ctx = {k: freeze(v) if k in ("payload", "labels") else v for k, v in context.items()}
    return get_engine(limits).render(source, ctx)


__all__ = [
    "CHANNEL_FIELDS",
    "DEFAULT_LIMITS",
    "TEMPLATE_TYPES",
    "ChannelRendering",
    "DroppedLabel",
    "Evaluation",
    "InvalidRegex",
    "IssueKind",
    "Label",
    "Limits",
    "RenderResult",
    "RenderedChannel",
    "RouteDecision",
    "RouteSpec",
    "RouteTrial",
    "TemplateCompileError",
    "TemplateIssue",
    "WebTitle",
    "check_regex",
    "check_template",
    "default_dynamic_labels",
    "default_template",
    "default_templates",
    "evaluate_alert",
    "freeze",
    "get_engine",
    "is_truthy",
    "render_channels",
    "render_template",
    "render_web_title",
    "resolve_template",
    "select_route",
]
