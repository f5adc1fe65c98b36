"""An alert's decision trace told as a story: what happened to it, in the pipeline's order.

Input is the ``trace`` the alerts API returns; output is a list of steps, each a heading and
lines, plain text (the page escapes it). Values are cut at ``SHOWN`` characters. Unknown or
missing fields are skipped, so older traces still read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SHOWN = 300
RESULTS = {
    "new_group": "opened a new alert group",
    "grouped": "joined an open alert group",
    "acknowledged": "joined its group and acknowledged it (acknowledge condition)",
    "resolved": "joined its group and resolved it (resolve condition)",
    "maintenance": "was attached to the maintenance group",
    "duplicate": "was a repeat of an alert already stored (nothing changed)",
    "stale": "arrived for a group that no longer exists",
}
SOURCES = {
    "static": "static label",
    "dynamic": "dynamic label template",
    "multi": "multi-label template",
}


@dataclass
class Step:
    heading: str
    lines: list[str] = field(default_factory=list)
    problem: bool = False


def cut(value: Any) -> str:
    text = str(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def _labels(trace: dict[str, Any]) -> Step:
    step = Step("Labels")
    for label in trace.get("labels") or []:
        source = SOURCES.get(str(label.get("source")), str(label.get("source")))
        step.lines.append(f"{cut(label.get('key'))} = {cut(label.get('value'))} (from {source})")
    for label in trace.get("dropped_labels") or []:
        step.problem = True
        step.lines.append(
            f"dropped {cut(label.get('key'))}"
            f" = {cut(label.get('value'))}: {cut(label.get('reason'))}"
        )
    if not step.lines:
        step.lines.append("No labels.")
    return step


def _grouping(trace: dict[str, Any]) -> Step:
    step = Step("Grouping")
    if trace.get("own_group"):
        reason = trace.get("own_group_reason") or "no grouping key"
        step.lines.append(f"It got a group of its own: {cut(reason)}.")
    else:
        step.lines.append(f"Grouping key: {cut(trace.get('grouping_key'))}")
    for name in ("resolve", "acknowledge"):
        matched = bool(trace.get(f"{name}_signal"))
        text = trace.get(f"{name}_text")
        said = f" (rendered {cut(text)!r})" if text is not None else ""
        verdict = "matched" if matched else "did not match"
        step.lines.append(f"The {name} condition {verdict}{said}.")
    return step


def _route(trace: dict[str, Any]) -> Step:
    decision = trace.get("route") or {}
    step = Step("Route")
    for position, trial in enumerate(decision.get("tried") or [], start=1):
        verdict = "matched" if trial.get("matched") else "did not match"
        line = (
            f"{position}. route {cut(trial.get('route_id'))} ({trial.get('routing_type')}): "
            f"{verdict}: {cut(trial.get('reason'))}"
        )
        if trial.get("error"):
            step.problem = True
            line += f"; error: {cut(trial['error'])}"
        step.lines.append(line)
    chosen = decision.get("route_id")
    step.lines.append(f"Chosen: route {cut(chosen)}." if chosen else "No route was chosen.")
    if trace.get("maintenance_mode"):
        step.lines.append(f"The integration was in {cut(trace['maintenance_mode'])} mode.")
    return step


def _issues(trace: dict[str, Any]) -> Step | None:
    issues = trace.get("issues") or []
    if not issues:
        return None
    step = Step("Template problems", problem=True)
    for issue in issues:
        step.lines.append(
            f"{cut(issue.get('template'))} ({issue.get('kind')}): {cut(issue.get('message'))}"
        )
    return step


def _outcome(trace: dict[str, Any]) -> Step | None:
    group = trace.get("group") or {}
    result = group.get("result")
    if not result:
        return None
    said = RESULTS.get(str(result), str(result))
    return Step("Outcome", [f"The alert {said}."])


def _received(trace: dict[str, Any]) -> Step | None:
    notes = trace.get("notes") or []
    return Step("Received", [cut(note) for note in notes]) if notes else None


def tell(trace: dict[str, Any]) -> list[Step]:
    steps: list[Step | None] = [
        _received(trace),
        _labels(trace),
        _grouping(trace),
        _route(trace),
        _issues(trace),
        _outcome(trace),
    ]
    return [s for s in steps if s is not None]
