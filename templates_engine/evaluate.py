"""Evaluation of an integration's template set for one alert (what the worker and preview use).

``evaluate_alert(integration_type, templates, payload, ...) -> Evaluation`` runs pipeline steps 2-4:

1. **Labels**: static labels, then dynamic labels (each value template rendered with ``payload``),
   then the optional multi-label template (renders a JSON object); later wins on the same key. A
   value that fails, renders empty, renders ``None`` or is over 200 characters is dropped with the
   reason. At most ``max_labels`` (15) are kept, sorted by key; the rest are dropped (``over_cap``).
2. **Grouping key**: ``grouping_key`` (or the type default) rendered with ``payload`` and
   ``labels``; ``grouping_id`` is the md5 hex of the exact rendered text. Empty or failed: the alert
   gets its own group (``own_group``), with an id derived from ``alert_id`` when given (stable on
   re-runs), else random.
3. **Signals**: ``resolve_signal`` / ``acknowledge_signal`` are true only when the rendered text,
   stripped and lower-cased, is ``1``, ``true`` or ``ok``. A missing template or an error is false.

Rendering the channels of an alert is ``templates_engine.channels``.

``templates`` is the API shape: top-level ``grouping_key``, ``resolve_signal``,
``acknowledge_signal``, ``source_link`` and one mapping per channel; ``None`` or ``""`` (or a
missing key) means the type's default. Every result has ``to_dict()`` (JSON-ready, the ``trace``).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .defaults import default_templates
from .errors import IssueKind
from .limits import DEFAULT_LIMITS, Limits
from .readonly import freeze
from .sandbox import RenderResult, get_engine, is_truthy

__all__ = [
    "DroppedLabel",
    "Evaluation",
    "Label",
    "TemplateIssue",
    "TemplateRun",
    "evaluate_alert",
    "nullable",
    "resolve_template",
]

LabelSource = Literal["static", "dynamic", "multi"]
DropReason = Literal[
    "failed", "empty", "none", "too_long", "over_cap", "overridden", "invalid_key", "not_scalar"
]
MAX_LABELS = 15


@dataclass(frozen=True, slots=True)
class TemplateIssue:
    """A template that failed: ``template`` is e.g. ``grouping_key``, ``dynamic_labels.team``."""

    template: str
    kind: IssueKind
    message: str


@dataclass(frozen=True, slots=True)
class Label:
    key: str
    value: str
    source: LabelSource


@dataclass(frozen=True, slots=True)
class DroppedLabel:
    key: str
    value: str | None
    source: LabelSource
    reason: DropReason


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What the templates decided for one alert (stored as the alert's ``trace``)."""

    labels: tuple[Label, ...]
    dropped_labels: tuple[DroppedLabel, ...]
    grouping_key: str | None
    grouping_id: str
    own_group: bool
    own_group_reason: str | None
    resolve_signal: bool
    resolve_text: str | None
    acknowledge_signal: bool
    acknowledge_text: str | None
    source_link: str | None
    issues: tuple[TemplateIssue, ...] = ()

    @property
    def labels_dict(self) -> dict[str, str]:
        return {label.key: label.value for label in self.labels}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_template(
    integration_type: str, templates: Mapping[str, Any] | None, name: str
) -> str | None:
    """The template in effect for ``name`` (``slack.title`` style): custom, else the default."""
    custom: Any = None
    if templates:
        if "." in name:
            channel, key = name.split(".", 1)
            block = templates.get(channel)
            custom = block.get(key) if isinstance(block, Mapping) else None
        else:
            custom = templates.get(name)
    if isinstance(custom, str) and custom:
        return custom
    defaults = default_templates(integration_type)
    if "." in name:
        channel, key = name.split(".", 1)
        block = defaults.get(channel)
        value = block.get(key) if isinstance(block, Mapping) else None
    else:
        value = defaults.get(name)
    return value if isinstance(value, str) else None


class TemplateRun:
    """Renders templates of one evaluation, collecting issues."""

    def __init__(self, limits: Limits) -> None:
        self.engine = get_engine(limits)
        self.limits = limits
        self.issues: list[TemplateIssue] = []
        self.spent = 0.0

    def render(
        self,
        name: str,
        source: str,
        context: Mapping[str, Any],
        output_limit: int | None = None,
        budgeted: bool = True,
    ) -> RenderResult:
        """Render one template; once the evaluation budget is spent, ``budgeted`` ones fail.

        The grouping key and the signals are not ``budgeted``: there are four of them, each
        bounded by its render budget, and the alert's grouping must not depend on how slow its
        label templates were.
        """
        if budgeted and self.spent >= self.limits.evaluation_budget:
            budget_ms = round(self.limits.evaluation_budget * 1000)
            message = (
                f"Template Error: not rendered: the {budget_ms} ms budget of this evaluation "
                "is spent"
            )
            result = RenderResult(None, "error", message)
        else:
            started = time.perf_counter()
            result = self.engine.render(source, context, output_limit=output_limit)
            self.spent += time.perf_counter() - started
        if result.kind is not None and result.message is not None:
            self.issues.append(TemplateIssue(name, result.kind, result.message))
        return result


def _value_problem(value: str, limit: int) -> DropReason | None:
    if value == "":
        return "empty"
    if value.strip().lower() == "none":
        return "none"
    if len(value) > limit:
        return "too_long"
    return None


def _gather_labels(
    run: TemplateRun,
    frozen_payload: Any,
    static_labels: Sequence[tuple[str, str]],
    dynamic_labels: Sequence[tuple[str, str]],
    multi_label_template: str | None,
    max_labels: int,
) -> tuple[list[Label], list[DroppedLabel]]:
    limit = run.limits.label_value_length
    chosen: dict[str, Label] = {}
    dropped: list[DroppedLabel] = []

    def keep(label: Label) -> None:
        previous = chosen.get(label.key)
        if previous is not None:
            dropped.append(
                DroppedLabel(previous.key, previous.value, previous.source, "overridden")
            )
        chosen[label.key] = label

    for key, value in static_labels:
        keep(Label(key, value, "static"))
    context = {"payload": frozen_payload}
    for key, source in dynamic_labels:
        result = run.render(f"dynamic_labels.{key}", source, context)
        if result.text is None:
            dropped.append(DroppedLabel(key, None, "dynamic", "failed"))
            continue
        problem = _value_problem(result.text, limit)
        if problem is not None:
            dropped.append(DroppedLabel(key, result.text[: limit + 1], "dynamic", problem))
        else:
            keep(Label(key, result.text, "dynamic"))
    if multi_label_template:
        for label_or_drop in _multi_labels(run, multi_label_template, context, limit):
            if isinstance(label_or_drop, Label):
                keep(label_or_drop)
            else:
                dropped.append(label_or_drop)
    ordered = sorted(chosen.values(), key=lambda lb: (lb.key, lb.value))
    for extra in ordered[max_labels:]:
        dropped.append(DroppedLabel(extra.key, extra.value, extra.source, "over_cap"))
    return ordered[:max_labels], dropped


def _multi_labels(
    run: TemplateRun, source: str, context: Mapping[str, Any], limit: int
) -> list[Label | DroppedLabel]:
    result = run.render("multi_labels", source, context)
    if result.text is None:
        return []
    try:
        parsed = json.loads(result.text)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        message = "Template Warning: the multi-label template must render a JSON object"
        run.issues.append(TemplateIssue("multi_labels", "warning", message))
        return []
    out: list[Label | DroppedLabel] = []
    for key, value in parsed.items():
        if not key or len(key) > limit:
            out.append(DroppedLabel(key[: limit + 1], None, "multi", "invalid_key"))
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            text = str(value)
        else:
            out.append(DroppedLabel(key, None, "multi", "not_scalar"))
            continue
        problem = _value_problem(text, limit)
        if problem is not None:
            out.append(DroppedLabel(key, text[: limit + 1], "multi", problem))
        else:
            out.append(Label(key, text, "multi"))
    return out


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def _signal(
    run: TemplateRun, name: str, source: str | None, context: Mapping[str, Any]
) -> tuple[bool, str | None]:
    if source is None:
        return False, None
    result = run.render(name, source, context, budgeted=False)
    return is_truthy(result.text), result.text


def evaluate_alert(
    integration_type: str,
    templates: Mapping[str, Any] | None,
    payload: Any,
    *,
    static_labels: Sequence[tuple[str, str]] = (),
    dynamic_labels: Sequence[tuple[str, str]] = (),
    multi_label_template: str | None = None,
    max_labels: int = MAX_LABELS,
    alert_id: str | None = None,
    limits: Limits | None = None,
) -> Evaluation:
    """Labels, grouping key and signals for one alert (see the module docstring)."""
    run = TemplateRun(limits or DEFAULT_LIMITS)
    frozen = freeze(payload)
    labels, dropped = _gather_labels(
        run, frozen, static_labels, dynamic_labels, multi_label_template, max_labels
    )
    context = {"payload": frozen, "labels": freeze({lb.key: lb.value for lb in labels})}

    key_source = resolve_template(integration_type, templates, "grouping_key")
    key: str | None = None
    reason: str | None = None
    if key_source is None:
        reason = "no grouping key template"
    else:
        rendered = run.render("grouping_key", key_source, context, budgeted=False)
        key = rendered.text
        if key is None:
            reason = f"grouping key failed: {rendered.message}"
        elif key == "":
            reason = "grouping key rendered empty"
    own_group = reason is not None
    if own_group:
        seed = f"own-group:{alert_id}" if alert_id else f"own-group:{uuid.uuid4()}"
        grouping_id = _md5(seed)
    else:
        assert key is not None
        grouping_id = _md5(key)

    resolve, resolve_text = _signal(
        run,
        "resolve_signal",
        resolve_template(integration_type, templates, "resolve_signal"),
        context,
    )
    ack, ack_text = _signal(
        run,
        "acknowledge_signal",
        resolve_template(integration_type, templates, "acknowledge_signal"),
        context,
    )
    link_source = resolve_template(integration_type, templates, "source_link")
    source_link = None
    if link_source is not None:
        source_link = nullable(run.render("source_link", link_source, context, budgeted=False))
    return Evaluation(
        labels=tuple(labels),
        dropped_labels=tuple(dropped),
        grouping_key=key,
        grouping_id=grouping_id,
        own_group=own_group,
        own_group_reason=reason,
        resolve_signal=resolve,
        resolve_text=resolve_text,
        acknowledge_signal=ack,
        acknowledge_text=ack_text,
        source_link=source_link,
        issues=tuple(run.issues),
    )


def nullable(result: RenderResult) -> str | None:
    """The rendered text, or None when it failed or rendered empty or ``None``."""
    text = result.text
    if text is None or text.strip() in ("", "None"):
        return None
    return text
