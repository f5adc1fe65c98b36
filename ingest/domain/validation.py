"""Small helpers for field validation that collects every error of a request.

Errors are nested dicts of lists of messages, the shape the API answers with:
``{"name": ["..."], "templates": {"slack": {"title": ["..."]}}}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ingest.domain.errors import FieldTree, InvalidFields

_TYPE_NAMES = {
    dict: "object",
    list: "list",
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


class Errors:
    """Collects field errors at nested paths; ``raise_if_any`` raises them all as one refusal."""

    def __init__(self) -> None:
        self.tree: FieldTree = {}

    def add(self, path: tuple[str, ...], message: str) -> None:
        node = self.tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if isinstance(child, list):  # a message already at this level: keep both
                child = node[part] = {"non_field_errors": child}
            node = child
        node.setdefault(path[-1], []).append(message)

    def __bool__(self) -> bool:
        return bool(self.tree)

    def raise_if_any(self) -> None:
        if self.tree:
            raise InvalidFields(self.tree)


def reject_unknown(
    errors: Errors, path: tuple[str, ...], value: dict[str, Any], known: Iterable[str], what: str
) -> None:
    """Every key of ``value`` outside ``known`` is a field error at its own path, naming it.

    Inside an object the API knows, an unknown key is never dropped silently: a client that
    reads back what it wrote would otherwise never converge (only the top level of a body
    ignores unknown keys, as OnCall does, so whole objects read from the API can be sent back).
    """
    allowed = tuple(known)
    for key in value:
        if key not in allowed:
            errors.add(
                (*path, str(key)), f"Unknown field {key!r}; {what} accepts: {', '.join(allowed)}."
            )


def optional_string(
    errors: Errors,
    path: tuple[str, ...],
    value: Any,
    max_length: int,
    allow_null: bool = True,
    allow_blank: bool = True,
) -> str | None:
    """Validate a string field; returns the value (None when invalid or null)."""
    if value is None:
        if not allow_null:
            errors.add(path, "This field may not be null.")
        return None
    if not isinstance(value, str):
        errors.add(path, f"Must be a string, got {type_name(value)}.")
        return None
    if not allow_blank and not value.strip():
        errors.add(path, "This field may not be blank.")
        return None
    if len(value) > max_length:
        errors.add(path, f"Ensure this field has no more than {max_length} characters.")
        return None
    return value
