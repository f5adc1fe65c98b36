"""The group indexes as the api sees them: built at start when the store predates them.

At start the api runs ``ingest.store.migrate.build_indexes`` (one replica builds, the others
wait; see there). It waits up to ``START_WAIT`` seconds for it (a small or current store is done
by then), then lets it finish in the background, retrying when Redis is unreachable. Until the
store is current the group lists answer 503 with ``Retry-After``; nothing else waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from ingest.api import context
from ingest.api.errors import detail
from ingest.store import migrate

log = logging.getLogger("ingest.migrate")
START_WAIT = 5.0
RETRY_AFTER = "5"


@dataclass
class IndexState:
    ready: bool = False


INDEX_STATE = web.AppKey("index_state", IndexState)


async def require_indexes(request: web.Request) -> None:
    """Return when the group indexes are complete; else a 503 the client may retry."""
    state = request.app[INDEX_STATE]
    if state.ready:
        return
    if await migrate.is_current(context.redis(request)):
        state.ready = True
        return
    message = "The alert group indexes are being built after an upgrade; try again shortly."
    raise detail(503, message, {"Retry-After": RETRY_AFTER})


async def _keep_building(app: web.Application, failed: asyncio.Event) -> None:
    while True:
        try:
            await migrate.build_indexes(app[context.REDIS], progress=log.info)
        except Exception as exc:  # Redis away: try again, the build resumes where it stopped
            log.warning("group index build interrupted: %s", exc)
            failed.set()
            await asyncio.sleep(2.0)
        else:
            app[INDEX_STATE].ready = True
            return


async def index_builder(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx`` (after the Redis one): build or wait for the indexes, at most briefly."""
    app[INDEX_STATE] = IndexState()
    failed = asyncio.Event()
    task = asyncio.create_task(_keep_building(app, failed))
    failure = asyncio.create_task(failed.wait())
    await asyncio.wait({task, failure}, timeout=START_WAIT, return_when=asyncio.FIRST_COMPLETED)
    failure.cancel()
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
