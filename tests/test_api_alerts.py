"""Alerts API: list, filters, search, retrieve, trace, tenancy."""

from __future__ import annotations

from typing import Any

from ingest.settings import Settings
from tests.conftest import TokenFactory
from tests.group_helpers import ALERTS, Client, fire, get_json, list_groups, webhook
from tests.openapi_check import assert_valid
from tests.test_pipeline import make

DETAIL = "/api/v1/alerts/{id}/"


async def alerts(client: Client, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    page: dict[str, Any] = await get_json(client, ALERTS, auth, **params)
    assert_valid(page, ALERTS, "get", 200)
    return page


async def test_list_newest_first_with_trace(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a", "n": 1}, {"k": "a", "n": 2})
    page = await alerts(client, auth)
    assert page["count"] == 2 and page["page_size"] == 50 and page["total_pages"] == 1
    newest, oldest = page["results"]
    assert list(newest) == ["id", "alert_group_id", "created_at", "payload", "trace"]
    assert newest["payload"] == {"k": "a", "n": 2} and oldest["payload"] == {"k": "a", "n": 1}
    assert newest["created_at"].endswith("Z") and newest["created_at"] >= oldest["created_at"]
    assert oldest["trace"]["group"] == {"id": oldest["alert_group_id"], "result": "new_group"}
    assert newest["trace"]["group"]["result"] == "grouped"
    trace = newest["trace"]
    assert trace["grouping_key"] == "a" and trace["resolve_signal"] is False
    assert trace["route"]["route_id"] == integration["default_route"]["id"]
    detail = await get_json(client, ALERTS + newest["id"], auth)
    assert_valid(detail, DETAIL, "get", 200)
    assert detail == newest
    second = await alerts(client, auth, perpage=1, page=2)
    assert [a["id"] for a in second["results"]] == [oldest["id"]]
    assert second["previous"] == "http://testserver/api/v1/alerts/?perpage=1"


async def test_filters_and_search(client: Client, auth: dict[str, str], settings: Settings) -> None:
    integration = await webhook(client, auth)
    await fire(
        client,
        settings,
        integration,
        {"k": "a", "evalMatches": [1]},
        {"k": "b", "msg": "Value X"},
        {"k": "b", "msg": "café"},
    )
    group_b, group_a = await list_groups(client, auth)
    assert (await alerts(client, auth, alert_group_id=group_a["id"]))["count"] == 1
    assert (await alerts(client, auth, alert_group_id=group_b["id"]))["count"] == 2
    assert (await alerts(client, auth, alert_group_id="invalid_alert_group_id"))["count"] == 0
    one = group_a["last_alert"]["id"]
    assert [a["id"] for a in (await alerts(client, auth, id=one))["results"]] == [one]
    assert (await alerts(client, auth, id=one, alert_group_id=group_b["id"]))["count"] == 0
    assert (await alerts(client, auth, id="ANOPE"))["count"] == 0

    async def found(term: str, **params: Any) -> list[Any]:
        return [
            a["payload"] for a in (await alerts(client, auth, search=term, **params))["results"]
        ]

    assert await found("evalMatches") == [{"k": "a", "evalMatches": [1]}]
    assert await found("value x") == [{"k": "b", "msg": "Value X"}]
    assert await found('"msg": "value') == [{"k": "b", "msg": "Value X"}]  # json.dumps spacing
    assert await found("CAFÉ") == [{"k": "b", "msg": "café"}]
    assert len(await found('"k": "b"')) == 2
    assert await found('"k": "b"', alert_group_id=group_a["id"]) == []
    assert await found("impossible payload") == []


async def test_tenancy_and_scopes(
    client: Client, auth: dict[str, str], make_token: TokenFactory, settings: Settings
) -> None:
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"})
    [alert] = (await alerts(client, auth))["results"]
    other = await make_token(org="org2")
    assert (await alerts(client, other))["count"] == 0
    assert (await alerts(client, other, alert_group_id=alert["alert_group_id"]))["count"] == 0
    assert (await alerts(client, other, id=alert["id"]))["count"] == 0
    assert (await alerts(client, other, search="k"))["count"] == 0
    resp = await client.get(ALERTS + alert["id"], headers=other)
    assert (resp.status, await resp.json()) == (404, {"detail": "Not found."})
    assert_valid(await resp.json(), DETAIL, "get", 404)
    assert (await client.get(ALERTS + "ANOPE", headers=auth)).status == 404
    no_scope = await make_token(scopes=["integrations:read"])
    assert (await client.get(ALERTS, headers=no_scope)).status == 403
    assert (await client.get(ALERTS)).status == 401


async def test_trace_names_failing_label_and_grouping_templates(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration = await make(
        client,
        auth,
        "webhook",
        dynamic_labels=[
            {"key": {"name": "team"}, "value": {"name": "{{ 1 // 0 }}"}},
            {"key": {"name": "env"}, "value": {"name": "{{ payload.env }}"}},
        ],
        templates={"grouping_key": "{{ payload.service.name }}"},
    )
    await fire(client, settings, integration, {"env": "prod"})
    [group] = await list_groups(client, auth)
    page = await alerts(client, auth, alert_group_id=group["id"])
    [alert] = page["results"]
    trace = alert["trace"]
    issues = {i["template"]: i for i in trace["issues"]}
    assert set(issues) == {"dynamic_labels.team", "grouping_key"}
    assert "division" in issues["dynamic_labels.team"]["message"]
    assert issues["dynamic_labels.team"]["kind"] == "error"
    assert "service" in issues["grouping_key"]["message"]
    assert trace["dropped_labels"] == [
        {"key": "team", "value": None, "source": "dynamic", "reason": "failed"}
    ]
    assert trace["labels"] == [{"key": "env", "value": "prod", "source": "dynamic"}]
    assert trace["own_group"] is True and trace["grouping_key"] is None
    assert "grouping key failed" in trace["own_group_reason"]
    assert "service" in trace["own_group_reason"]
    assert trace["group"] == {"id": group["id"], "result": "new_group"}
    assert group["labels"] == [
        {"key": {"id": "env", "name": "env"}, "value": {"id": "prod", "name": "prod"}}
    ]
