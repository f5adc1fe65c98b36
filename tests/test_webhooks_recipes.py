"""The recipes of ``docs/webhooks.md`` render, against the Alertmanager fixture grouped by the
real pipeline, into the shape each service expects."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.batching import BatchedScript
from ingest.settings import Settings
from ingest.trace import template_limits
from ingest.webhook import Webhook
from tests.conftest import FIXTURES
from tests.group_helpers import list_groups
from tests.test_pipeline import make, post_and_drain
from worker.webhooks.payload import FETCH, build
from worker.webhooks.request import Prepared, prepare

DOC = Path(__file__).resolve().parent.parent / "docs" / "webhooks.md"
RECIPES = dict(re.findall(r"```jinja (\w+)\n(.*?)\n```", DOC.read_text(), re.S))
FIRING = orjson.loads((FIXTURES / "alertmanager" / "firing.json").read_bytes())
RESOLVED = orjson.loads((FIXTURES / "alertmanager" / "resolved.json").read_bytes())
Client = TestClient[Any, Any]


def test_every_recipe_is_there() -> None:
    assert set(RECIPES) == {"slack", "teams", "discord", "ntfy", "pagerduty"}


async def render(
    redis: Redis, settings: Settings, recipe: str, group: dict[str, Any], event_type: str
) -> dict[str, Any]:
    hook = Webhook(
        id="WHTEST", org_id="org1", name="r", url="https://hooks.example.com/x",
        http_method="POST", trigger_type="status change", created_at=time.time(),
        forward_all=False, data=RECIPES[recipe],
    )  # fmt: skip
    event = {"type": event_type, "alert_group_id": group["id"], "org_id": "org1",
             "integration_id": group["integration_id"], "data": "{}",
             "stream_id": f"{int(time.time() * 1000)}-0"}  # fmt: skip
    payload = await build(BatchedScript(redis, FETCH), settings, hook, event)
    assert payload is not None
    prepared = prepare(hook, payload, delivery_id="d", settings=settings,
                       limits=template_limits(settings), now=int(time.time()))  # fmt: skip
    assert isinstance(prepared, Prepared), prepared
    assert prepared.headers["Content-Type"] == "application/json", prepared.body
    assert prepared.body is not None
    body: dict[str, Any] = orjson.loads(prepared.body)
    return body


@pytest.fixture
async def groups(client: Client, settings: Settings, auth: dict[str, str]) -> dict[str, Any]:
    """A firing and a resolved Alertmanager group; titles with quotes, backslashes, newlines."""
    integ = await make(client, auth, "alertmanager", name='Prod "AM" \\ east')
    other = dict(FIRING, groupKey='{}:{alertname="Other"}')
    other["commonLabels"] = dict(FIRING["commonLabels"], severity='weird\n"sev"')
    await post_and_drain(client, settings, integ["path"], FIRING, RESOLVED, other)
    found = await list_groups(client, auth)
    by_state = {g["state"]: g for g in found}
    return {"resolved": by_state["resolved"], "firing": by_state["firing"]}


async def test_slack(redis: Redis, settings: Settings, groups: dict[str, Any]) -> None:
    body = await render(redis, settings, "slack", groups["firing"], "alert_group_created")
    assert isinstance(body["text"], str) and body["text"].startswith("[FIRING]")
    assert [b["type"] for b in body["blocks"]] == ["section", "context"]
    assert body["blocks"][0]["text"]["type"] == "mrkdwn"
    assert "\n" in body["blocks"][0]["text"]["text"]


async def test_teams(redis: Redis, settings: Settings, groups: dict[str, Any]) -> None:
    body = await render(redis, settings, "teams", groups["resolved"], "alert_group_resolved")
    assert body["type"] == "message"
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Event"] == "resolve" and facts["State"] == "resolved"
    assert facts["Integration"] == 'Prod "AM" \\ east'
    assert card["actions"][0]["url"].startswith("http")


async def test_discord(redis: Redis, settings: Settings, groups: dict[str, Any]) -> None:
    firing = await render(redis, settings, "discord", groups["firing"], "alert_group_created")
    resolved = await render(redis, settings, "discord", groups["resolved"], "alert_group_resolved")
    for body in (firing, resolved):
        assert 0 < len(body["content"]) <= 2000
        [embed] = body["embeds"]
        assert 0 < len(embed["title"]) <= 256 and len(embed["description"]) <= 4096
        assert isinstance(embed["color"], int)
    assert firing["embeds"][0]["color"] != resolved["embeds"][0]["color"]


async def test_ntfy(redis: Redis, settings: Settings, groups: dict[str, Any]) -> None:
    body = await render(redis, settings, "ntfy", groups["firing"], "alert_group_acknowledged")
    assert body["topic"] == "my-alerts" and body["message"].startswith("Acknowledge")
    assert 1 <= body["priority"] <= 5 and isinstance(body["tags"], list)
    assert body["click"].startswith("http") and len(body["title"]) <= 123


async def test_pagerduty(redis: Redis, settings: Settings, groups: dict[str, Any]) -> None:
    actions = {}
    for event_type, group in (
        ("alert_group_created", groups["firing"]),
        ("alert_group_acknowledged", groups["firing"]),
        ("alert_group_unresolved", groups["firing"]),
        ("alert_group_resolved", groups["resolved"]),
    ):
        body = await render(redis, settings, "pagerduty", group, event_type)
        actions[event_type] = body["event_action"]
        assert body["dedup_key"] == group["id"] and body["routing_key"]
        payload = body["payload"]
        assert payload["summary"] and payload["source"] == 'Prod "AM" \\ east'
        assert payload["severity"] in ("critical", "error", "warning", "info")
    assert actions == {
        "alert_group_created": "trigger",
        "alert_group_acknowledged": "acknowledge",
        "alert_group_unresolved": "trigger",
        "alert_group_resolved": "resolve",
    }
