"""Validate real responses against the served OpenAPI document."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from ingest.api.openapi import document


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    doc = document()
    op = doc["paths"][path][method.lower()]
    resp = op["responses"][str(status)]
    schema: dict[str, Any] = resp["content"]["application/json"]["schema"]
    return schema


def assert_valid(body: Any, path: str, method: str, status: int) -> None:
    """Raise if ``body`` does not match the documented schema of that operation and status."""
    doc = document()
    schema = {**response_schema(path, method, status), "components": doc["components"]}
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
