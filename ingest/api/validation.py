"""Small helpers for field validation that collects every error of a request.

Errors are nested dicts of lists of messages, the shape the API answers with:
``{"name": ["..."], "templates": {"slack": {"title": ["..."]}}}``.
"""

from __future__ import annotations

from typing import Any

from ingest.api.errors import FieldErrors, field_errors

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
    """Collects field errors at nested paths; ``raise_if_any`` turns them into one 400."""

    def __init__(self) -> None:
        self.tree: FieldErrors = {}

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
            raise field_errors(self.tree)


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
