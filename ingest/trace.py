"""What the pipeline records for one alert (its ``trace``), shared by the worker and the preview.

- ``template_limits(settings)``: the sandbox limits the settings ask for.
- ``route_specs(routes)``: stored routes as ``templates_engine.RouteSpec`` in matching order.
- ``active_maintenance(integration, now)``: the maintenance mode in force, or None.
- ``build_trace(evaluation, decision, mode)``: the trace document (evaluation, route decision,
  maintenance mode), with an over-long grouping key shortened for display.

``ingest`` never imports ``worker``; the worker's pipeline can use these so both record the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, cast

from ingest.models import Integration, Route
from ingest.settings import Settings
from templates_engine import Evaluation, Limits, RouteDecision, RouteSpec
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


def active_maintenance(integration: Integration, now: float) -> str | None:
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
    evaluation: Evaluation, decision: RouteDecision, mode: str | None
) -> dict[str, Any]:
    trace: dict[str, Any] = as_plain(evaluation)
    key = trace.get("grouping_key")
    if isinstance(key, str) and len(key) > GROUP_KEY_SHOWN:
        trace["grouping_key"] = key[:GROUP_KEY_SHOWN] + ".."
    trace["route"] = as_plain(decision)
    trace["maintenance_mode"] = mode
    return trace
