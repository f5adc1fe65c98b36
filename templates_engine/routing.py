"""Route selection: ordered routes, first match wins, the default route matches everything.

``select_route(routes, payload, labels) -> RouteDecision``:

- ``regex``: ``routing_regex`` is searched (unanchored, case-sensitive) in the payload serialised
  like Python's default ``json.dumps`` (``", "``/``": "`` separators, received key order,
  ``ensure_ascii=True``), with the ``regex`` package and a time limit. Invalid or timed out:
  no match.
- ``jinja2``: ``routing_regex`` holds a template rendered with ``payload`` and ``labels``; it
  matches when truthy. Template errors: no match.
- ``labels``: every ``(key, value)`` pair must equal the alert's label; an empty list never matches.

Routes marked ``is_default`` are tried after all others, whatever their position in the sequence.
``check_regex(pattern)`` raises :class:`InvalidRegex` for a pattern the routes API must refuse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import regex

from .filters import compile_regex
from .limits import DEFAULT_LIMITS, Limits
from .readonly import freeze
from .sandbox import get_engine, is_truthy

__all__ = [
    "InvalidRegex",
    "RouteDecision",
    "RouteSpec",
    "RouteTrial",
    "check_regex",
    "select_route",
]

RoutingType = Literal["regex", "jinja2", "labels"]


class InvalidRegex(ValueError):
    """A routing regex that does not compile; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class RouteSpec:
    id: str
    routing_type: RoutingType = "regex"
    routing_regex: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class RouteTrial:
    route_id: str
    routing_type: str
    matched: bool
    reason: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RouteDecision:
    route_id: str | None
    tried: tuple[RouteTrial, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_regex(pattern: str) -> None:
    """Raise :class:`InvalidRegex` if ``pattern`` is not a valid regex."""
    try:
        compile_regex(pattern)
    except (regex.error, TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise InvalidRegex(f"Invalid regex: {exc}") from None


def payload_json(payload: Any) -> str:
    """The text a regex route searches (Python's default ``json.dumps``)."""
    return json.dumps(payload)


def _try_regex(route: RouteSpec, text: str, limits: Limits) -> RouteTrial:
    pattern = route.routing_regex
    if pattern is None:
        return RouteTrial(route.id, "regex", False, "no regex set")
    try:
        compiled = compile_regex(pattern)
    except (regex.error, TypeError, ValueError, OverflowError, RecursionError) as exc:
        return RouteTrial(route.id, "regex", False, "invalid regex", f"Invalid regex: {exc}")
    try:
        found = compiled.search(text, timeout=limits.route_regex_timeout)
    except TimeoutError:
        message = f"regex search exceeded {round(limits.route_regex_timeout * 1000)} ms"
        return RouteTrial(route.id, "regex", False, "regex timed out", message)
    if found:
        return RouteTrial(route.id, "regex", True, f"regex matched {found.group(0)[:100]!r}")
    return RouteTrial(route.id, "regex", False, "regex did not match")


def _try_labels(route: RouteSpec, labels: Mapping[str, str] | None) -> RouteTrial:
    if not route.labels:
        return RouteTrial(route.id, "labels", False, "no label pairs set")
    if labels is None:
        return RouteTrial(route.id, "labels", False, "alert has no labels")
    for key, value in route.labels:
        if labels.get(key) != value:
            actual = labels.get(key)
            return RouteTrial(
                route.id, "labels", False, f"label {key}={actual!r}, wanted {value!r}"
            )
    return RouteTrial(route.id, "labels", True, "all label pairs equal")


def select_route(
    routes: Sequence[RouteSpec],
    payload: Any,
    labels: Mapping[str, str] | None,
    *,
    limits: Limits | None = None,
) -> RouteDecision:
    """The first matching route (non-default routes in order, then the default)."""
    lim = limits or DEFAULT_LIMITS
    ordered = [r for r in routes if not r.is_default] + [r for r in routes if r.is_default]
    tried: list[RouteTrial] = []
    text: str | None = None
    context: dict[str, Any] | None = None
    for route in ordered:
        if route.is_default:
            trial = RouteTrial(route.id, route.routing_type, True, "default route")
        elif route.routing_type == "regex":
            if text is None:
                text = payload_json(payload)
            trial = _try_regex(route, text, lim)
        elif route.routing_type == "jinja2":
            if context is None:
                context = {"payload": freeze(payload), "labels": freeze(dict(labels or {}))}
            trial = _try_jinja(route, context, lim)
        elif route.routing_type == "labels":
            trial = _try_labels(route, labels)
        else:
            trial = RouteTrial(route.id, str(route.routing_type), False, "unknown routing type")
        tried.append(trial)
        if trial.matched:
            return RouteDecision(route.id, tuple(tried))
    return RouteDecision(None, tuple(tried))


def _try_jinja(route: RouteSpec, context: Mapping[str, Any], limits: Limits) -> RouteTrial:
    if not route.routing_regex:
        return RouteTrial(route.id, "jinja2", False, "no template set")
    result = get_engine(limits).render(route.routing_regex, context)
    if result.text is None:
        return RouteTrial(route.id, "jinja2", False, "template failed", result.message)
    if is_truthy(result.text):
        return RouteTrial(route.id, "jinja2", True, f"template rendered {result.text.strip()!r}")
    return RouteTrial(route.id, "jinja2", False, f"template rendered {result.text.strip()[:100]!r}")
