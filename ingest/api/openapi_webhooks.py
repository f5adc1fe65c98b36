"""OpenAPI fragment: ``/api/v1/webhooks/`` and ``/api/v1/webhooks/{id}/responses/``."""

from __future__ import annotations

from ingest.api.openapi import (
    BOOL,
    NSTR,
    PAGING,
    STR,
    Schema,
    obj,
    operation,
    page_of,
    query,
    ref,
    response,
)
from ingest.webhook import HTTP_METHODS, SECRET_MASK, TRIGGER_TYPES

WEBHOOK_OK = response("The webhook", ref("Webhook"))
SECRET: Schema = {
    "type": ["string", "null"],
    "description": f"Write-only: reads show {SECRET_MASK} when set; sending that mask keeps it.",
}
TEMPLATE: Schema = {"type": ["string", "null"], "description": "A Jinja2 template."}
NINT: Schema = {"type": ["integer", "null"]}

SCHEMAS: dict[str, Schema] = {
    "Webhook": obj(
        {
            "id": {"type": "string", "pattern": "^WH[A-Z1-9]{12,}$"},
            "name": STR,
            "is_webhook_enabled": BOOL,
            "team": NSTR,
            "data": TEMPLATE,
            "username": NSTR,
            "password": SECRET,
            "authorization_header": SECRET,
            "trigger_template": TEMPLATE,
            "headers": TEMPLATE,
            "url": STR,
            "forward_all": BOOL,
            "http_method": {"enum": list(HTTP_METHODS)},
            "trigger_type": {"enum": list(TRIGGER_TYPES)},
            "integration_filter": {"type": ["array", "null"], "items": STR},
            "preset": {"type": "null"},
            "signing_secret": SECRET,
        }
    ),
    "WebhookInput": {
        "type": "object",
        "description": (
            "name, url, http_method and trigger_type are required on create. PUT and PATCH "
            "change only the fields sent."
        ),
        "properties": {
            "name": {"type": "string", "maxLength": 100},
            "is_webhook_enabled": {"type": ["boolean", "null"]},
            "team": NSTR,
            "data": TEMPLATE,
            "username": {"type": ["string", "null"], "maxLength": 100},
            "password": SECRET,
            "authorization_header": SECRET,
            "signing_secret": SECRET,
            "trigger_template": TEMPLATE,
            "headers": TEMPLATE,
            "url": {"type": "string", "description": "A Jinja2 template rendering an http(s) URL."},
            "forward_all": BOOL,
            "http_method": {"enum": list(HTTP_METHODS)},
            "trigger_type": {"enum": list(TRIGGER_TYPES)},
            "integration_filter": {"type": ["array", "null"], "items": STR},
            "preset": {"type": "null"},
        },
    },
    "WebhookResponse": obj(
        {
            "timestamp": STR,
            "url": NSTR,
            "request_trigger": NSTR,
            "request_headers": NSTR,
            "request_data": NSTR,
            "status_code": NINT,
            "content": NSTR,
            "event_data": NSTR,
            "event_type": NSTR,
            "delivery_id": NSTR,
            "attempt": NINT,
            "outcome": NSTR,
            "duration_ms": {"type": ["number", "null"]},
            "error": NSTR,
        }
    ),
}

_BODY = ref("WebhookInput")
PATHS: dict[str, Schema] = {
    "/api/v1/webhooks/": {
        "get": operation(
            "List outgoing webhooks",
            ("200", response("A page of webhooks", page_of("Webhook"))),
            params=[*PAGING, query("name"), query("team_id")],
        ),
        "post": operation("Create an outgoing webhook", ("201", WEBHOOK_OK), body=_BODY),
    },
    "/api/v1/webhooks/{id}/": {
        "get": operation("Get an outgoing webhook", ("200", WEBHOOK_OK), detail=True),
        "put": operation(
            "Update an outgoing webhook (partial, like PATCH)",
            ("200", WEBHOOK_OK),
            body=_BODY,
            detail=True,
        ),
        "patch": operation(
            "Update an outgoing webhook (partial)", ("200", WEBHOOK_OK), body=_BODY, detail=True
        ),
        "delete": operation(
            "Delete an outgoing webhook", ("204", response("Deleted")), detail=True
        ),
    },
    "/api/v1/webhooks/{id}/responses/": {
        "get": operation(
            "The webhook's newest 100 delivery attempts, newest first",
            ("200", response("A page of attempts", page_of("WebhookResponse"))),
            params=PAGING,
            detail=True,
        )
    },
}
