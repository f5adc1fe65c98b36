"""Signing a test client in to the web console, and reading what its pages carry."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

Client = TestClient[Any, Any]
NONCE = re.compile(r'name="login_nonce" value="([^"]+)"')
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


async def sign_in(client: Client, secret: str, status: int = 303) -> str:
    """Sign ``client`` in with token ``secret``; returns the CSRF token (empty if refused)."""
    form = await client.get("/console/sign-in")
    match = NONCE.search(await form.text())
    assert match is not None
    resp = await client.post(
        "/console/sign-in",
        data={"login_nonce": match.group(1), "token": secret},
        allow_redirects=False,
    )
    assert resp.status == status, await resp.text()
    if status != 303:
        return ""
    return await csrf_of(client)


async def csrf_of(client: Client) -> str:
    page = await client.get("/console/integrations")
    assert page.status == 200
    match = CSRF.search(await page.text())
    assert match is not None
    return match.group(1)


def secret_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")
