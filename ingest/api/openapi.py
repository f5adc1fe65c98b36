"""The OpenAPI 3.1 document of the public API, served at ``/api/v1/openapi.json``.

Built from small helpers so every list endpoint, error and object shape is declared once. Tests
validate real responses against the schemas here.
"""

from __future__ import annotations

import importlib
from typing import Any

import orjson
from aiohttp import web

from ingest.models import BEHAVIOUR_TEMPLATES, CHANNEL_TEMPLATES, INTEGRATION_TYPES, ROUTE_BACKENDS

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


STR: Schema = {"type": "string"}
NSTR: Schema = {"type": ["string", "null"]}
AUTO_RESOLVE: Schema = {"type": ["integer", "null"], "minimum": 1, "maximum": 90 * 86400}
BOOL: Schema = {"type": "boolean"}
HEARTBEAT_TIMEOUT: Schema = {"type": "integer", "minimum": 60, "maximum": 604800}
HEARTBEAT: Schema = {
    "type": "object",
    "properties": {
        "link": STR,
        "timeout": {"type": "integer"},
        "last_heartbeat_at": NSTR,
        "status": {"enum": ["waiting", "alive", "expired"]},
    },
    "required": ["link", "timeout", "last_heartbeat_at", "status"],
}


def obj(props: dict[str, Schema], required: bool = True) -> Schema:
    out: Schema = {"type": "object", "properties": props}
    if required:
        out["required"] = list(props)
    return out


def closed(props: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    """An object of exactly these keys: the API answers 400 naming any other key."""
    return {
        "type": "object",
        "properties": props,
        "required": list(required),
        "additionalProperties": False,
    }


def label_list() -> Schema:
    part = closed({"name": STR, "id": {**STR, "description": "Accepted, ignored."}}, ("name",))
    return {"type": "array", "items": closed({"key": part, "value": part}, ("key", "value"))}


def templates_schema(inputs: bool = False) -> Schema:
    props: dict[str, Schema] = {name: NSTR for name in BEHAVIOUR_TEMPLATES}
    for channel, attrs in CHANNEL_TEMPLATES.items():
        fields = {attr: NSTR for attr in attrs}
        props[channel] = nullable(closed(fields)) if inputs else closed(fields, tuple(fields))
    return closed(props, () if inputs else tuple(props))


def destinations(inputs: bool = False) -> dict[str, Schema]:
    shapes = {"slack": {"channel_id": NSTR, "enabled": BOOL}}
    shapes.update({backend: {"id": NSTR, "enabled": BOOL} for backend in ROUTE_BACKENDS})
    return {
        name: nullable(closed(fields)) if inputs else closed(fields, tuple(fields))
        for name, fields in shapes.items()
    }


SCHEMAS: dict[str, Schema] = {
    "Detail": obj({"detail": STR}),
    "FieldErrors": {"type": "object", "additionalProperties": {"type": ["array", "object"]}},
    "Labels": label_list(),
    "Templates": templates_schema(),
    "DefaultRoute": obj({"id": STR, "escalation_chain_id": NSTR, **destinations()}),
    "Integration": obj(
        {
            "id": {"type": "string", "pattern": "^C[A-Z1-9]{12,}$"},
            "name": STR,
            "description_short": NSTR,
            "team_id": NSTR,
            "link": NSTR,
            "inbound_email": NSTR,
            "type": {"enum": list(INTEGRATION_TYPES)},
            "labels": ref("Labels"),
            "dynamic_labels": ref("Labels"),
            "alert_group_labels_template": NSTR,
            "templates": ref("Templates"),
            "default_route": ref("DefaultRoute"),
            "heartbeat": nullable(HEARTBEAT),
            "maintenance_mode": {"enum": ["debug", "maintenance", None]},
            "maintenance_started_at": NSTR,
            "maintenance_end_at": NSTR,
            "rate_limit": NSTR,
            "auto_resolve_after": AUTO_RESOLVE,
        }
    ),
    "IntegrationInput": {
        "type": "object",
        "properties": {
            "type": {"enum": list(INTEGRATION_TYPES)},
            "name": STR,
            "description_short": NSTR,
            "team_id": NSTR,
            "labels": ref("Labels"),
            "dynamic_labels": ref("Labels"),
            "alert_group_labels_template": NSTR,
            "templates": templates_schema(inputs=True),
            "default_route": closed(
                {
                    "id": {**STR, "description": "Read-only: accepted, ignored."},
                    "escalation_chain_id": NSTR,
                    **destinations(inputs=True),
                }
            ),
            "rate_limit": NSTR,
            "heartbeat_timeout": HEARTBEAT_TIMEOUT,
            "heartbeat": nullable(
                closed(
                    {
                        "timeout": {**HEARTBEAT_TIMEOUT, "description": "As heartbeat_timeout."},
                        **{
                            name: {"description": "Read-only: accepted, ignored."}
                            for name in ("link", "last_heartbeat_at", "status")
                        },
                    }
                )
            ),
            "auto_resolve_after": AUTO_RESOLVE,
        },
    },
    "MaintenanceStart": obj(
        {"mode": {"enum": ["debug", "maintenance"]}, "duration": {"type": "integer", "minimum": 1}}
    ),
}


def page_of(item: str) -> Schema:
    return obj(
        {
            "count": {"type": "integer"},
            "next": NSTR,
            "previous": NSTR,
            "results": {"type": "array", "items": ref(item)},
            "current_page_number": {"type": "integer"},
            "page_size": {"type": "integer"},
            "total_pages": {"type": "integer"},
        }
    )


def content(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def response(description: str, schema: Schema | None = None) -> Schema:
    out: Schema = {"description": description}
    if schema is not None:
        out.update(content(schema))
    return out


ERRORS: dict[str, Schema] = {
    "400": response("Invalid input", {"anyOf": [ref("Detail"), ref("FieldErrors")]}),
    "401": response("Missing or unknown token", ref("Detail")),
    "403": response("Token lacks the scope", ref("Detail")),
    "429": response("Rate limited", ref("Detail")),
}
NOT_FOUND = {"404": response("Not found, or another organization's", ref("Detail"))}
ID_PARAM: Schema = {"name": "id", "in": "path", "required": True, "schema": STR}


def operation(
    summary: str,
    ok: tuple[str, Schema],
    body: Schema | None = None,
    params: list[Schema] | None = None,
    detail: bool = False,
) -> Schema:
    op: Schema = {
        "summary": summary,
        "security": [{"token": []}],
        "responses": {ok[0]: ok[1], **ERRORS, **(NOT_FOUND if detail else {})},
    }
    if detail:
        op["parameters"] = [ID_PARAM]
    if params:
        op["parameters"] = op.get("parameters", []) + params
    if body is not None:
        op["requestBody"] = {"required": False, **content(body)}
    return op


def query(name: str, schema: Schema = STR) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema}


LENIENT = "Lenient like Grafana OnCall: a value that is not an integer of at least 1 means {}."
PAGING = [
    query("page", {"type": ["integer", "string"], "description": LENIENT.format("page 1")}),
    query(
        "perpage",
        {
            "type": ["integer", "string"],
            "description": "Page size, at most 100. " + LENIENT.format("the default size"),
        },
    ),
]
INTEGRATION_OK = response("The integration", ref("Integration"))

PATHS: dict[str, Schema] = {
    "/api/v1/integrations/": {
        "get": operation(
            "List integrations",
            ("200", response("A page of integrations", page_of("Integration"))),
            params=[*PAGING, query("name"), query("team_id"), query("type"), query("label")],
        ),
        "post": operation(
            "Create an integration", ("201", INTEGRATION_OK), body=ref("IntegrationInput")
        ),
    },
    "/api/v1/integrations/{id}/": {
        "get": operation("Get an integration", ("200", INTEGRATION_OK), detail=True),
        "put": operation(
            "Update an integration (partial)",
            ("200", INTEGRATION_OK),
            body=ref("IntegrationInput"),
            detail=True,
        ),
        "patch": operation(
            "Update an integration (partial)",
            ("200", INTEGRATION_OK),
            body=ref("IntegrationInput"),
            detail=True,
        ),
        "delete": operation("Delete an integration", ("204", response("Deleted")), detail=True),
    },
    "/api/v1/integrations/{id}/maintenance_start/": {
        "post": operation(
            "Start maintenance or debug mode",
            ("200", INTEGRATION_OK),
            body=ref("MaintenanceStart"),
            detail=True,
        )
    },
    "/api/v1/integrations/{id}/maintenance_stop/": {
        "post": operation("Stop maintenance", ("200", INTEGRATION_OK), detail=True)
    },
}


# Modules that contribute ``PATHS`` and ``SCHEMAS`` dicts of their own (one per resource).
FRAGMENT_MODULES: tuple[str, ...] = (
    "ingest.api.openapi_routes",
    "ingest.api.openapi_groups",
    "ingest.api.openapi_webhooks",
)


def document() -> Schema:
    paths = dict(PATHS)
    schemas = dict(SCHEMAS)
    for name in FRAGMENT_MODULES:
        module = importlib.import_module(name)
        paths.update(module.PATHS)
        schemas.update(module.SCHEMAS)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "alert-ingest public API",
            "version": "1",
            "description": "Compatible with the Grafana OnCall Integrations HTTP API.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`<token>` or `Bearer <token>`",
                }
            },
        },
    }


_CACHED: list[bytes] = []


async def serve(request: web.Request) -> web.Response:
    if not _CACHED:
        _CACHED.append(orjson.dumps(document()))
    return web.Response(body=_CACHED[0], content_type="application/json")
