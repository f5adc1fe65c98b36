"""OpenAPI fragment: ``/api/v1/routes/`` and ``/api/v1/escalation_chains/``."""

from __future__ import annotations

from ingest.api.openapi import (
    BOOL,
    NSTR,
    PAGING,
    STR,
    Schema,
    destinations,
    label_list,
    obj,
    operation,
    page_of,
    query,
    ref,
    response,
)

ROUTE_OK = response("The route", ref("Route"))
CHAIN_OK = response("The escalation chain", ref("EscalationChain"))
ROUTING_TYPE: Schema = {"enum": ["regex", "jinja2", "labels"]}
POSITION: Schema = {"type": "integer", "minimum": -1, "maximum": 2147483647}

SCHEMAS: dict[str, Schema] = {
    "Route": obj(
        {
            "position": {"type": "integer"},
            "id": {"type": "string", "pattern": "^R[A-Z1-9]{12,}$"},
            "integration_id": STR,
            "escalation_chain_id": NSTR,
            "routing_type": ROUTING_TYPE,
            "routing_regex": NSTR,
            "is_the_last_route": BOOL,
            **destinations(),
            "labels": label_list(),
        }
    ),
    "RouteInput": {
        "type": "object",
        "description": (
            "integration_id, escalation_chain_id (null allowed) and routing_regex are required "
            "on create, routing_regex except for routing_type labels, which needs labels. "
            "Position -1 is the end; inserting at a taken position shifts the later routes."
        ),
        "properties": {
            "integration_id": STR,
            "escalation_chain_id": NSTR,
            "routing_type": ROUTING_TYPE,
            "routing_regex": {"type": ["string", "null"], "maxLength": 1024},
            "labels": label_list(),
            "position": POSITION,
            "manual_order": BOOL,
            **destinations(inputs=True),
        },
    },
    "EscalationChain": obj(
        {
            "id": {"type": "string", "pattern": "^F[A-Z1-9]{12,}$"},
            "name": STR,
            "team_id": NSTR,
        }
    ),
    "EscalationChainInput": {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 100}, "team_id": NSTR},
    },
}


def _crud(
    kind: str, plural: str, schema: str, ok: Schema, list_params: list[Schema]
) -> dict[str, Schema]:
    body = ref(schema + "Input")
    return {
        f"/api/v1/{plural}/": {
            "get": operation(
                f"List {kind}s",
                ("200", response(f"A page of {kind}s", page_of(schema))),
                params=[*PAGING, *list_params],
            ),
            "post": operation(f"Create a {kind}", ("201", ok), body=body),
        },
        f"/api/v1/{plural}/{{id}}/": {
            "get": operation(f"Get a {kind}", ("200", ok), detail=True),
            "put": operation(f"Update a {kind}", ("200", ok), body=body, detail=True),
            "patch": operation(f"Update a {kind} (partial)", ("200", ok), body=body, detail=True),
            "delete": operation(f"Delete a {kind}", ("204", response("Deleted")), detail=True),
        },
    }


PATHS: dict[str, Schema] = {
    **_crud(
        "route", "routes", "Route", ROUTE_OK, [query("integration_id"), query("routing_regex")]
    ),
    **_crud(
        "escalation chain",
        "escalation_chains",
        "EscalationChain",
        CHAIN_OK,
        [query("name"), query("team_id")],
    ),
}
PATHS["/api/v1/routes/{id}/"]["put"]["summary"] = "Update a route (partial, like PATCH)"
PATHS["/api/v1/routes/{id}/"]["delete"]["description"] = (
    'The default route cannot be deleted: 400 {"detail": "Unable to delete default filter"}.'
)
