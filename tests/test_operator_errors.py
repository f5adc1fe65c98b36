"""Error bodies that help the person reading them: the limit, the missing scope, the word shown."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.api.app import create_app
from ingest.settings import Settings
from tests.conftest import AiohttpClient, TokenFactory
from tests.group_helpers import GROUPS, fire, list_groups, webhook
from tests.test_links import make

Client = TestClient[Any, Any]


async def test_413_states_the_limit_in_bytes(
    aiohttp_client: AiohttpClient, settings: Settings, auth: dict[str, str], redis: Redis
) -> None:
    client = await aiohttp_client(create_app(settings.replace(max_body_bytes=10_000)))
    _, link = await make(client, auth, "webhook")
    big = b'{"a": "' + b"x" * 20_000 + b'"}'
    for path, headers in [(link, {}), ("/api/v1/integrations/", auth)]:
        headers = {"Content-Type": "application/json", **headers}
        resp = await client.post(path, data=big, headers=headers)
        assert resp.status == 413
        assert "10000 bytes" in (await resp.json())["detail"]


async def test_403_names_the_missing_scope(client: Client, make_token: TokenFactory) -> None:
    reader = await make_token(scopes=["alert_groups:read"])
    resp = await client.post("/api/v1/integrations/", json={"type": "webhook"}, headers=reader)
    assert resp.status == 403
    detail = (await resp.json())["detail"]
    assert "integrations:write" in detail and "alert_groups:read" in detail, detail


async def test_state_firing_gets_the_word_to_use(
    client: Client, settings: Settings, auth: dict[str, str]
) -> None:
    """A group shows ``firing`` but the filter takes ``new``: ``state=firing`` is a 400, as in
    OnCall (a client relying on it here would break there), whose message lists ``new``."""
    integration = await webhook(client, auth)
    await fire(client, settings, integration, {"k": "a"}, {"k": "b", "state": "ok"})
    [firing] = await list_groups(client, auth, state="NEW")
    assert firing["state"] == "firing"
    for word in ("firing", "FIRING", "burning"):
        resp = await client.get(GROUPS, params={"state": word}, headers=auth)
        assert resp.status == 400 and "one of the following: new," in (await resp.json())["state"]
