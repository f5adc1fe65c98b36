"""OpenAPI fragment: alert groups (with actions), alerts (with trace) and template preview."""

from __future__ import annotations

from ingest.api.alert_groups import MAX_SILENCE_SECONDS
from ingest.api.alerts import SEARCH_DOC
from ingest.api.openapi import (
    BOOL,
    NSTR,
    PAGING,
    STR,
    Schema,
    nullable,
    obj,
    operation,
    page_of,
    query,
    ref,
    response,
    templates_schema,
)

ANY: Schema = {}
NTIME: Schema = NSTR
ISSUE = obj({"template": STR, "kind": STR, "message": STR})
NAMED = obj({"id": STR, "name": STR})
STATES = ["firing", "acknowledged", "resolved", "silenced"]

SCHEMAS: dict[str, Schema] = {
    "AlertBrief": obj(
        {
            "id": {"type": "string", "pattern": "^A[0-9A-Z]{12,}$"},
            "alert_group_id": NSTR,
            "created_at": STR,
            "payload": ANY,
        }
    ),
    "Trace": {
        "type": "object",
        "description": "What the pipeline decided for the alert, and why.",
        "properties": {
            "labels": {
                "type": "array",
                "items": obj({"key": STR, "value": STR, "source": STR}),
            },
            "dropped_labels": {"type": "array", "items": {"type": "object"}},
            "grouping_key": NSTR,
            "grouping_id": STR,
            "own_group": BOOL,
            "own_group_reason": NSTR,
            "resolve_signal": BOOL,
            "resolve_text": NSTR,
            "acknowledge_signal": BOOL,
            "acknowledge_text": NSTR,
            "source_link": NSTR,
            "issues": {"type": "array", "items": ISSUE},
            "route": obj(
                {
                    "route_id": NSTR,
                    "tried": {
                        "type": "array",
                        "items": obj(
                            {
                                "route_id": STR,
                                "routing_type": STR,
                                "matched": BOOL,
                                "reason": STR,
                                "error": NSTR,
                            }
                        ),
                    },
                }
            ),
            "maintenance_mode": NSTR,
            "group": obj({"id": NSTR, "result": NSTR}),
            "notes": {
                "type": "array",
                "items": STR,
                "description": "How the body was read, when it was not as sent: e.g. a JSON "
                "object posted with a form content type (`curl --data`) was read as JSON.",
            },
        },
    },
    "Alert": obj(
        {
            "id": {"type": "string", "pattern": "^A[0-9A-Z]{12,}$"},
            "alert_group_id": NSTR,
            "created_at": STR,
            "payload": ANY,
            "trace": {"allOf": [ref("Trace"), {"required": ["group"]}]},
        }
    ),
    "AlertGroup": obj(
        {
            "id": {"type": "string", "pattern": "^I[A-Z1-9]{12,}$"},
            "integration_id": NSTR,
            "team_id": NSTR,
            "route_id": NSTR,
            "alerts_count": {"type": "integer", "minimum": 0},
            "state": {"enum": STATES},
            "created_at": STR,
            "resolved_at": NTIME,
            "resolved_by": NSTR,
            "acknowledged_at": NTIME,
            "acknowledged_by": NSTR,
            "labels": {"type": "array", "items": obj({"key": NAMED, "value": NAMED})},
            "title": NSTR,
            "permalinks": obj({"slack": NSTR, "slack_app": NSTR, "telegram": NSTR, "web": STR}),
            "silenced_at": NTIME,
            "last_alert": nullable(ref("AlertBrief")),
            "silenced_until": NTIME,
        }
    ),
    "SilenceInput": obj(
        {
            "delay": {
                "description": (
                    "Seconds to silence; -1 or 0: until unsilenced. Parsed like Python's int() "
                    "(Grafana OnCall's rule): a number is truncated, a string must be an "
                    "integer's text, true is 1; the result must lie in -1.."
                    f"{MAX_SILENCE_SECONDS}."
                ),
                "anyOf": [
                    {
                        "type": "number",
                        "exclusiveMinimum": -2,
                        "exclusiveMaximum": MAX_SILENCE_SECONDS + 1,
                    },
                    {"type": ["string", "boolean"]},
                ],
            }
        }
    ),
    "DeleteGroupInput": {
        "type": "object",
        "properties": {
            "mode": {"enum": ["wipe", "delete", None], "description": "Absent or null: wipe."}
        },
    },
    "PreviewInput": {
        "type": "object",
        "properties": {
            "payload": ANY,
            "templates": templates_schema(inputs=True),
            "dynamic_labels": nullable(ref("Labels")),
            "alert_group_labels_template": NSTR,
        },
        "required": ["payload"],
    },
    "Preview": obj(
        {
            "trace": ref("Trace"),
            "channels": {
                "type": "object",
                "additionalProperties": obj({"title": NSTR, "message": NSTR, "image_url": NSTR}),
            },
            "source_link": NSTR,
            "channel_issues": {"type": "array", "items": ISSUE},
        }
    ),
}

GROUP_OK = response("The alert group, after the action", ref("AlertGroup"))
GROUP_FILTERS = [
    query("id"),
    query("integration_id"),
    query("route_id"),
    query("team_id"),
    query(
        "state",
        {
            "enum": ["new", "acknowledged", "resolved", "silenced"],
            "description": "Case-insensitive. Anything else, firing included, is a 400 "
            '`{"state": "Must be one of the following: ..."}` (a string, as in OnCall).',
        },
    ),
    query("started_at"),
    query("label"),
]


def _action(verb: str, body: Schema | None = None) -> Schema:
    return {
        "post": operation(
            f"{verb.capitalize()} an alert group", ("200", GROUP_OK), body=body, detail=True
        )
    }


def _group_list() -> Schema:
    """The list operation; its 400 may also be OnCall's ``{"state": "<message>"}`` (a string)."""
    op = operation(
        "List alert groups, newest first",
        ("200", response("A page of alert groups", page_of("AlertGroup"))),
        params=[*PAGING, *GROUP_FILTERS],
    )
    state_error = obj({"state": STR})
    op["responses"]["400"] = response(
        "Invalid filter", {"anyOf": [ref("Detail"), ref("FieldErrors"), state_error]}
    )
    return op


PATHS: dict[str, Schema] = {
    "/api/v1/alert_groups/": {"get": _group_list()},
    "/api/v1/alert_groups/{id}/": {
        "get": operation(
            "Get an alert group", ("200", response("The group", ref("AlertGroup"))), detail=True
        ),
        "delete": operation(
            "Wipe (default) or delete an alert group",
            ("204", response("Wiped or deleted")),
            body=ref("DeleteGroupInput"),
            detail=True,
        ),
    },
    **{
        f"/api/v1/alert_groups/{{id}}/{verb}/": _action(verb)
        for verb in ("acknowledge", "unacknowledge", "resolve", "unresolve", "unsilence")
    },
    "/api/v1/alert_groups/{id}/silence/": _action("silence", ref("SilenceInput")),
    "/api/v1/alerts/": {
        "get": operation(
            "List alerts, newest first",
            ("200", response("A page of alerts", page_of("Alert"))),
            params=[
                *PAGING,
                query("alert_group_id"),
                query("id"),
                query("search", {"type": "string", "description": SEARCH_DOC}),
            ],
        )
    },
    "/api/v1/alerts/{id}/": {
        "get": operation("Get an alert", ("200", response("The alert", ref("Alert"))), detail=True)
    },
    "/api/v1/integrations/{id}/preview/": {
        "post": operation(
            "Preview what the pipeline would decide for a payload (creates nothing)",
            ("200", response("Trace and every channel's rendering", ref("Preview"))),
            body=ref("PreviewInput"),
            detail=True,
        )
    },
}
