"""Reading request bodies of the public API: JSON (or form/multipart) into a dict."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ingest.api.errors import bad_request, detail
from ingest.api.validation import type_name

JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def is_json_type(content_type: str) -> bool:
    return content_type in JSON_TYPES or content_type.endswith("+json")


def parse_json(raw: bytes) -> Any:
    """orjson parse; rejects NaN/Infinity; errors become 400 ``JSON parse error - <reason>``."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise detail(400, f"JSON parse error - {exc}") from None


class FileUploadError(Exception):
    """A form body carried a file."""


async def read_form(request: web.Request) -> dict[str, Any]:
    """A form body as a flat object (last value wins); files raise :class:`FileUploadError`."""
    try:
        form = await request.post()
    except ValueError as exc:
        raise bad_request(f"Malformed form body: {exc}") from None
    data: dict[str, Any] = {}
    for key, value in form.items():
        if not isinstance(value, str):
            raise FileUploadError()
        data[key] = value
    return data


async def read_object(request: web.Request) -> dict[str, Any]:
    """The request body as an object; an empty body is ``{}``."""
    if not request.body_exists:
        return {}
    ctype = request.content_type
    if is_json_type(ctype):
        raw = await request.read()
        if not raw.strip():
            return {}
        data = parse_json(raw)
    elif ctype in FORM_TYPES:
        try:
            data = await read_form(request)
        except FileUploadError:
            raise bad_request("File uploads are not allowed") from None
    else:
        raise detail(415, f'Unsupported media type "{ctype}" in request.')
    if not isinstance(data, dict):
        raise bad_request(f"Expected a JSON object in the request body, got {type_name(data)}.")
    return data
