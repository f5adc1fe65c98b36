"""What the pipeline records for one alert (its ``trace``), shared by the worker and the preview.

- ``template_limits(settings)``: the sandbox limits the settings ask for.
- ``route_specs(routes)``: stored routes as ``templates_engine.RouteSpec`` in matching order.
- ``active_maintenance(integration, now)``: the maintenance mode in force, or None.
- ``build_trace(evaluation, decision, mode)``: the trace document (evaluation, route decision,
  maintenance mode), with an over-long grouping key shortened for display.
- ``decide(integration, routes, payload, ...)``: evaluate the templates, then pick the route: the
  one function the worker's pipeline and the preview endpoint both run.

``ingest`` never imports ``worker``; the worker's pipeline can use these so both record the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ingest.models import Integration, MaintenanceMode, Route
from ingest.settings import Settings
from templates_engine import (
    Evaluation,
    Limits,
    RouteDecision,
    RouteSpec,
    evaluate_alert,
    select_route,
)
from templates_engine.routing import RoutingType

GROUP_KEY_SHOWN = 1000


def template_limits(settings: Settings) -> Limits:
    return Limits(
        template_length=settings.template_max_length,
        output_length=settings.template_max_output,
        render_budget=settings.template_budget_ms / 1000,
    )


def route_specs(routes: Iterable[Route]) -> list[RouteSpec]:
    return [
        RouteSpec(
            id=r.id,
            routing_type=cast(RoutingType, r.routing_type),
            routing_regex=r.routing_regex,
            labels=tuple((label.key, label.value) for label in r.labels),
            is_default=r.is_default,
        )
        for r in routes
    ]


def active_maintenance(integration: Integration, now: float) -> MaintenanceMode | None:
    if integration.maintenance_mode is None:
        return None
    if integration.maintenance_end_at is not None and integration.maintenance_end_at <= now:
        return None
    return integration.maintenance_mode


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_SCALARS = (str, int, float, bool, type(None))


def as_plain(value: Any) -> Any:
    """``dataclasses.asdict`` for templates_engine results, without its deep copies (~5x faster)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    names = _FIELD_NAMES.get(kind)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: as_plain(getattr(value, name)) for name in names}
    if kind is tuple or kind is list:
        return [as_plain(item) for item in value]
    if kind is dict:
        return {key: as_plain(item) for key, item in value.items()}
    return value


def build_trace(
    evaluation: Evaluation, decision: RouteDecision, mode: MaintenanceMode | None
) -> dict[str, Any]:
    trace: dict[str, Any] = as_plain(evaluation)
    key = trace.get("grouping_key")
    if isinstance(key, str) and len(key) > GROUP_KEY_SHOWN:
        trace["grouping_key"] = key[:GROUP_KEY_SHOWN] + ".."
    trace["route"] = as_plain(decision)
    trace["maintenance_mode"] = mode
    return trace


@dataclass(frozen=True)
class Decision:
    """What the pipeline decides for one payload before it commits: labels, key, signals, route."""

    evaluation: Evaluation
    routing: RouteDecision
    route: Route | None  # the chosen route; None only for an integration without any route
    mode: MaintenanceMode | None  # the maintenance mode in force

    def trace(self) -> dict[str, Any]:
        return build_trace(self.evaluation, self.routing, self.mode)


def decide(
    integration: Integration,
    routes: Sequence[Route],
    payload: Any,
    *,
    max_labels: int,
    limits: Limits,
    now: float,
    templates: Mapping[str, Any] | None = None,
    alert_id: str | None = None,
) -> Decision:
    """Evaluate the integration's templates (or ``templates``) on ``payload``, then pick the route.

    The worker and the preview endpoint both decide here, so a preview shows what the worker does.
    """
    evaluation = evaluate_alert(
        integration.type,
        integration.templates if templates is None else templates,
        payload,
        static_labels=[(label.key, label.value) for label in integration.labels],
        dynamic_labels=[(label.key, label.value) for label in integration.dynamic_labels],
        multi_label_template=integration.alert_group_labels_template,
        max_labels=max_labels,
        alert_id=alert_id,
        limits=limits,
    )
    routing = select_route(route_specs(routes), payload, evaluation.labels_dict, limits=limits)
    route = next((r for r in routes if r.id == routing.route_id), routes[-1] if routes else None)
    return Decision(evaluation, routing, route, active_maintenance(integration, now))
