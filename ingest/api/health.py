"""``/health/live`` (the process answers) and ``/health/ready`` (and Redis answers).

Ready is 503 while Redis does not answer within a second, and also at once while a Sentinel
failover holds commands: link posts then wait up to 2 s and may answer 503, so a load balancer
should not count on this instance until the new primary is known.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ingest.api import context
from ingest.api.errors import json_response
from ingest.redis_conn import failing_over


async def live(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    if failing_over(context.redis(request)):
        return json_response({"status": "unavailable", "redis": "failover in progress"}, 503)
    try:
        async with asyncio.timeout(1.0):
            await context.redis(request).ping()
    except Exception as exc:
        return json_response({"status": "unavailable", "redis": type(exc).__name__}, 503)
    return json_response({"status": "ok", "redis": "ok"})
