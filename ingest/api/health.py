"""``/health/live`` (the process answers) and ``/health/ready`` (and Redis answers)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ingest.api import context
from ingest.api.errors import json_response


async def live(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(1.0):
            await context.redis(request).ping()
    except Exception as exc:
        return json_response({"status": "unavailable", "redis": type(exc).__name__}, 503)
    return json_response({"status": "ok", "redis": "ok"})
