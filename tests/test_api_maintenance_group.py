"""The maintenance group: opened at ``maintenance_start`` with one alert, as OnCall does.

Expectations from a side-by-side run against a real Grafana OnCall engine: after
``maintenance_start`` ``{"mode": "maintenance", "duration": 100}`` on an integration named N, the
alert-group list shows at once a firing group titled "Maintenance of N for 100" with one alert
(payload title "Maintenance of N for a minute"), a route, and an ``integration_id`` of its own (a
maintenance integration's, which the integrations list does not show), so ``?integration_id=`` of
N lists only N's own groups. Alerts that arrive meanwhile open groups under N (attached to the
maintenance group); resolving the maintenance group ends the maintenance. In ``debug`` mode
OnCall opens no maintenance group (alerts are grouped as usual, only without escalation).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.domain.groups import humanize_seconds
from ingest.settings import Settings
from tests.group_helpers import GROUPS, act, fire, get_json, list_groups, webhook
from tests.openapi_check import assert_valid

Client = TestClient[Any, Any]
ID = re.compile(r"[A-Z][A-NP-Z1-9]{12}")


async def start(
    client: Client, auth: dict[str, str], integration_id: str, mode: str = "maintenance"
) -> None:
    url = f"/api/v1/integrations/{integration_id}/maintenance_start/"
    resp = await client.post(url, json={"mode": mode, "duration": 100}, headers=auth)
    assert resp.status == 200, await resp.text()


async def test_start_opens_the_maintenance_group_at_once(
    client: Client, auth: dict[str, str]
) -> None:
    integration = await webhook(client, auth, name="db-2", team_id="T1")
    await start(client, auth, integration["id"])
    listed = await get_json(client, GROUPS, auth)  # no alert posted, no worker run
    assert_valid(listed, GROUPS, "get", 200)
    [group] = listed["results"]
    assert group["title"] == "Maintenance of db-2 for 100"
    assert group["alerts_count"] == 1 and group["state"] == "firing"
    assert group["team_id"] == "T1"
    assert ID.fullmatch(group["integration_id"]) and group["integration_id"] != integration["id"]
    assert ID.fullmatch(group["route_id"]) and group["route_id"][0] == "R"
    last = group["last_alert"]
    assert last["alert_group_id"] == group["id"] and ID.fullmatch(last["id"])
    assert last["payload"]["title"] == "Maintenance of db-2 for a minute"
    assert re.fullmatch(
        r"Initiated by token-\w+\. During this time all alerts from integration will be "
        r"collected here without escalations",
        last["payload"]["message"],
    )  # OnCall's words, naming the token
    alerts = await get_json(client, "/api/v1/alerts/", auth, alert_group_id=group["id"])
    assert [a["id"] for a in alerts["results"]] == [last["id"]]


async def test_debug_mode_opens_no_maintenance_group(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    """In debug mode OnCall opens no maintenance group: alerts are grouped as usual (without
    escalation), nothing is attached, and stopping leaves those groups as they are."""
    integration = await webhook(client, auth, name="db-2")
    await start(client, auth, integration["id"], "debug")
    url = f"/api/v1/integrations/{integration['id']}/"
    assert (await get_json(client, url, auth))["maintenance_mode"] == "debug"
    assert await list_groups(client, auth) == []
    await fire(client, settings, integration, {"k": "a"})
    [own] = await list_groups(client, auth)
    assert own["title"] == "Alert a" and own["integration_id"] == integration["id"]
    assert (await act(client, auth, own["id"], "acknowledge"))[0] == 200
    assert (await client.post(url + "maintenance_stop/", headers=auth)).status == 200
    assert (await get_json(client, url, auth))["maintenance_mode"] is None
    [after] = await list_groups(client, auth)
    assert after["id"] == own["id"] and after["state"] == "acknowledged"


async def test_the_integration_filter_lists_only_its_own_groups(
    client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration = await webhook(client, auth, name="db-2")
    await start(client, auth, integration["id"])
    await fire(client, settings, integration, {"k": "a"})
    groups = {g["title"]: g for g in await list_groups(client, auth)}
    maintenance, own = groups["Maintenance of db-2 for 100"], groups["Alert a"]
    assert own["integration_id"] == integration["id"]
    assert own["route_id"] == integration["default_route"]["id"]
    mine = await list_groups(client, auth, integration_id=integration["id"])
    assert [g["id"] for g in mine] == [own["id"]]
    theirs = await list_groups(client, auth, integration_id=maintenance["integration_id"])
    assert [g["id"] for g in theirs] == [maintenance["id"]]
    by_route = await list_groups(client, auth, route_id=maintenance["route_id"])
    assert [g["id"] for g in by_route] == [maintenance["id"]]
    # the maintenance integration is not an integration a client can see or change
    listed = await get_json(client, "/api/v1/integrations/", auth)
    assert [i["id"] for i in listed["results"]] == [integration["id"]]
    hidden = f"/api/v1/integrations/{maintenance['integration_id']}/"
    assert (await client.get(hidden, headers=auth)).status == 404


async def test_resolving_the_maintenance_group_ends_maintenance(
    client: Client, auth: dict[str, str], settings: Settings, redis: Redis
) -> None:
    integration = await webhook(client, auth, name="db-2")
    await start(client, auth, integration["id"])
    await fire(client, settings, integration, {"k": "a"})
    groups = {g["title"]: g["id"] for g in await list_groups(client, auth)}
    maintenance, own = groups["Maintenance of db-2 for 100"], groups["Alert a"]
    refused = await act(client, auth, own, "acknowledge")
    assert refused == (400, {"detail": "Can't acknowledge an attached alert group"})
    status, body = await act(client, auth, maintenance, "resolve")
    assert status == 200 and body["state"] == "resolved"
    shown = await get_json(client, f"/api/v1/integrations/{integration['id']}/", auth)
    assert shown["maintenance_mode"] is None and shown["maintenance_end_at"] is None
    assert (await get_json(client, GROUPS + own, auth))["state"] == "resolved"
    assert await redis.zcard("ai:maintenance-ends") == 0
    # a new alert is no longer attached to anything
    await fire(client, settings, integration, {"k": "b"})
    newest = (await list_groups(client, auth))[0]
    assert newest["title"] == "Alert b"
    assert (await act(client, auth, newest["id"], "acknowledge"))[0] == 200


async def test_stop_resolves_the_group_and_a_new_window_opens_another(
    client: Client, auth: dict[str, str]
) -> None:
    integration = await webhook(client, auth, name="db-2")
    url = f"/api/v1/integrations/{integration['id']}/"
    await start(client, auth, integration["id"])
    assert (await client.post(url + "maintenance_stop/", headers=auth)).status == 200
    [first] = await list_groups(client, auth)
    assert first["state"] == "resolved"
    await start(client, auth, integration["id"])
    second, again = await list_groups(client, auth)
    assert again["id"] == first["id"] and second["state"] == "firing"
    assert second["integration_id"] != first["integration_id"]


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "a second"), (30, "30 seconds"), (100, "a minute"), (600, "10 minutes"),
        (3600, "an hour"), (7200, "2 hours"), (86400, "a day"), (3 * 86400, "3 days"),
    ],
)  # fmt: skip
def test_durations_in_words(seconds: int, words: str) -> None:
    assert humanize_seconds(seconds) == words
