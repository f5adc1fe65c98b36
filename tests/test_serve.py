"""``alert-ingest api --serve links|api|all``: one code base, links and public API apart."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from ingest.api.app import create_app
from ingest.settings import Settings, SettingsError, load_settings
from tests.group_helpers import GROUPS, Client, webhook


async def serving(aiohttp_client: AiohttpClient, settings: Settings, mode: str) -> Client:
    app = create_app(dataclasses.replace(settings, serve=mode))
    served: TestClient[Any, Any] = await aiohttp_client(app)
    return served


async def test_links_and_api_processes_serve_their_half(
    aiohttp_client: AiohttpClient, client: Client, auth: dict[str, str], settings: Settings
) -> None:
    integration = await webhook(client, auth)  # created through an "all" process
    links = await serving(aiohttp_client, settings, "links")
    api = await serving(aiohttp_client, settings, "api")
    assert (await links.post(integration["path"], json={"k": "a"})).status == 200
    assert (await api.post(integration["path"], json={"k": "a"})).status == 404
    assert (await api.get(GROUPS, headers=auth)).status == 200
    assert (await links.get(GROUPS, headers=auth)).status == 404
    assert (await links.get("/api/v1/openapi.json")).status == 404
    for served in (links, api):
        assert (await served.get("/health/ready")).status == 200
        assert (await served.get("/metrics")).status == 200


def test_serve_setting() -> None:
    assert load_settings({}).serve == "all"
    assert load_settings({"ALERT_INGEST_SERVE": "Links"}).serve == "links"
    assert load_settings({}, serve="api").serve == "api"
    with pytest.raises(SettingsError, match=r"^ALERT_INGEST_SERVE: 'both' is not one of"):
        load_settings({"ALERT_INGEST_SERVE": "both"})


async def test_links_base_url_is_where_links_point(
    aiohttp_client: AiohttpClient, client: Client, auth: dict[str, str], settings: Settings
) -> None:
    apart = dataclasses.replace(settings, serve="api", links_base_url="http://links.example:81/")
    api: TestClient[Any, Any] = await aiohttp_client(create_app(apart))
    resp = await api.post("/api/v1/integrations/", json={"type": "webhook"}, headers=auth)
    body = await resp.json()
    assert body["link"].startswith("http://links.example:81/integrations/v1/webhook/")
    page = await (
        await api.get("/api/v1/integrations/", headers=auth, params={"perpage": 1})
    ).json()
    assert page["next"] is None or page["next"].startswith("http://testserver/")
