"""Limits of the template sandbox and the per-render budget state.

Every tunable is a field of the frozen dataclass :class:`Limits` (defaults in brackets):

- ``template_length`` [50_000]: longest template source accepted, in characters.
- ``output_length`` [50_000]: longest rendered output; longer output is cut and ``..`` appended.
- ``title_length`` [500]: longest rendered channel *title* (same cut rule).
- ``render_budget`` [0.1]: wall-clock seconds one render may take before it fails.
- ``evaluation_budget`` [0.3]: wall-clock seconds the label templates of one alert (dynamic and
  multi-label), or the templates of one channel rendering, may take together; those met after it
  is spent fail without being rendered, so however many hostile templates an integration has, they
  hold a worker for a bounded time. The grouping key and the signals (four templates) are always
  rendered, each within its own ``render_budget``.
- ``max_value_size`` [3_000_000]: largest string (characters) or list/tuple (items) a template may
  build with an operator, a filter or a method call; checked *before* allocating.
- ``max_int_bits`` [16_384]: largest integer (in bits) arithmetic may produce (``9**9**9`` fails).
- ``max_range`` [10_000]: longest ``range()`` a template may create.
- ``regex_timeout`` [0.1]: seconds a regex filter may run (also capped by the remaining budget).
- ``route_regex_timeout`` [0.1]: seconds a regex route may search the payload.
- ``cache_size`` [2048]: compiled templates kept (LRU, keyed by source text).
- ``label_value_length`` [200]: longest label key or value kept.

The budget state (deadline) is thread-local, so one environment can render on several threads.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import NoReturn

from .errors import RenderBudgetExceeded, TemplateLimitError

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "check_deadline",
    "check_size",
    "current_limits",
    "over_budget",
]


@dataclass(frozen=True, slots=True)
class Limits:
    """Configurable limits of the template sandbox (see the module docstring)."""

    template_length: int = 50_000
    output_length: int = 50_000
    title_length: int = 500
    render_budget: float = 0.1
    evaluation_budget: float = 0.3
    max_value_size: int = 3_000_000
    max_int_bits: int = 16_384
    max_range: int = 10_000
    regex_timeout: float = 0.1
    route_regex_timeout: float = 0.1
    cache_size: int = 2048
    label_value_length: int = 200

    def __post_init__(self) -> None:
        for name in (
            "template_length",
            "output_length",
            "title_length",
            "max_value_size",
            "max_int_bits",
            "max_range",
            "cache_size",
            "label_value_length",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"Limits.{name} must be >= 1")
        for name in ("render_budget", "evaluation_budget", "regex_timeout", "route_regex_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be > 0")


DEFAULT_LIMITS = Limits()


class _RenderState(threading.local):
    def __init__(self) -> None:
        self.deadline = math.inf
        self.limits = DEFAULT_LIMITS


# Shared with the sandbox and its guards, whose hot hooks read them directly (no call).
render_state = _RenderState()
clock = time.perf_counter


def check_deadline() -> None:
    """Raise :class:`RenderBudgetExceeded` when the current render is over its budget.

    Hot hooks inline the same test (``if clock() > render_state.deadline: over_budget()``) to save a
    call; keep the two in step.
    """
    if clock() > render_state.deadline:
        over_budget()


def over_budget() -> NoReturn:
    """Raise :class:`RenderBudgetExceeded` for the render running on this thread."""
    budget_ms = round(render_state.limits.render_budget * 1000)
    raise RenderBudgetExceeded(f"render budget of {budget_ms} ms exceeded")


def remaining_budget() -> float:
    """Seconds left in the current render (``inf`` outside a render)."""
    return render_state.deadline - clock()


def current_limits() -> Limits:
    """The limits of the render running on this thread (defaults outside a render)."""
    return render_state.limits


def check_size(size: int, what: str) -> None:
    """Raise :class:`TemplateLimitError` when ``size`` exceeds the value size cap."""
    cap = render_state.limits.max_value_size
    if size > cap:
        raise TemplateLimitError(f"{what} would be too large ({size} > {cap})")
