"""Helpers for the alert-group, alert and preview API tests (real app, real worker)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.settings import Settings
from ingest.store import tokens
from tests.test_pipeline import make, post_and_drain

Client = TestClient[Any, Any]
GROUPS = "/api/v1/alert_groups/"
ALERTS = "/api/v1/alerts/"
# Groups by payload.k; payload.state == "ok" resolves, == "ack" acknowledges.
TEMPLATES = {
    "grouping_key": "{{ payload.k }}",
    "resolve_signal": "{{ payload.state == 'ok' }}",
    "acknowledge_signal": "{{ payload.state == 'ack' }}",
    "web": {"title": "Alert {{ payload.k }}"},
}


async def webhook(client: Client, auth: dict[str, str], **extra: Any) -> dict[str, Any]:
    return await make(client, auth, "webhook", templates=TEMPLATES, **extra)


async def labelled_pair(client: Client, auth: dict[str, str]) -> tuple[Any, Any]:
    """Two webhook integrations with an ``env`` label from the payload: one with the static
    label ``a:b`` and no team, one in team ``T1``."""
    dynamic = [{"key": {"name": "env"}, "value": {"name": "{{ payload.env }}"}}]
    static = [{"key": {"name": "a"}, "value": {"name": "b"}}]
    plain = await webhook(client, auth, dynamic_labels=dynamic, labels=static)
    return plain, await webhook(client, auth, team_id="T1", dynamic_labels=dynamic)


async def fire(
    client: Client, settings: Settings, integration: dict[str, Any], *bodies: Any
) -> None:
    await post_and_drain(client, settings, integration["path"], *bodies)


async def named_token(
    redis: Redis, name: str, org: str = "org1", scopes: list[str] | None = None
) -> dict[str, str]:
    scopes = scopes or ["integrations:read", "integrations:write", "alert_groups:read",
                        "alert_groups:write"]  # fmt: skip
    _, secret = await tokens.create_token(redis, org, scopes, name=name)
    return {"Authorization": secret}


async def get_json(client: Client, url: str, auth: dict[str, str], **params: Any) -> Any:
    resp = await client.get(url, params=params, headers=auth)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def list_groups(client: Client, auth: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = (await get_json(client, GROUPS, auth, **params))["results"]
    return results


async def only_group(client: Client, auth: dict[str, str]) -> dict[str, Any]:
    [group] = await list_groups(client, auth)
    return group


async def one_fired_group(client: Client, auth: dict[str, str], settings: Settings) -> str:
    """The id of the one group a new webhook integration's first alert opens."""
    await fire(client, settings, await webhook(client, auth), {"k": "a"})
    return str((await only_group(client, auth))["id"])


async def act(
    client: Client, auth: dict[str, str], group_id: str, verb: str, **kwargs: Any
) -> tuple[int, Any]:
    resp = await client.post(f"{GROUPS}{group_id}/{verb}/", headers=auth, **kwargs)
    body = await resp.json() if resp.content_type == "application/json" else await resp.text()
    return resp.status, body
