"""Reading request bodies of the public API: JSON (or form/multipart) into a dict."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ingest.api.errors import bad_request, detail
from ingest.domain.validation import type_name

JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Deepest nesting accepted. orjson parses 1024 levels but serializes only 254, and a payload is
# serialized again inside the job (2 levels), the alert (1) and the alerts API's page (3).
MAX_JSON_DEPTH = 200


def is_json_type(content_type: str) -> bool:
    return content_type in JSON_TYPES or content_type.endswith("+json")


def parse_json(raw: bytes) -> Any:
    """orjson parse; rejects NaN/Infinity and nesting deeper than ``MAX_JSON_DEPTH``; errors
    become 400 ``JSON parse error - <reason>``."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise detail(400, f"JSON parse error - {exc}") from None
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and too_deep(value, MAX_JSON_DEPTH):
        raise detail(
            400, f"JSON parse error - depth limit exceeded: more than {MAX_JSON_DEPTH} levels"
        )
    return value


def too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers more than ``limit`` levels (iterative: no recursion)."""
    level: list[Any] = [value]
    for _ in range(limit):
        below: list[Any] = []
        for item in level:
            if type(item) is dict:
                below += [v for v in item.values() if type(v) is dict or type(v) is list]
            elif type(item) is list:
                below += [v for v in item if type(v) is dict or type(v) is list]
        if not below:
            return False
        level = below
    return any(type(item) is dict or type(item) is list for item in level)


class FileUploadError(Exception):
    """A form body carried a file."""


async def read_form(request: web.Request) -> dict[str, Any]:
    """A form body as a flat object (last value wins); files raise :class:`FileUploadError`."""
    try:
        form = await request.post()
    except (ValueError, LookupError) as exc:  # LookupError: an unknown charset
        raise bad_request(f"Malformed form body: {exc}") from None
    except HttpProcessingError as exc:  # a multipart part with malformed headers
        raise bad_request(f"Malformed form body: {exc.message}") from None
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
        if not raw:
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
