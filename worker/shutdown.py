"""One shutdown request per worker process, observed by every loop and wait in it.

``Shutdown.install`` puts SIGTERM and SIGINT handlers on the running loop once, for the life of
the process. arq workers are built with ``handle_signals=False``: arq's own handlers cancel only
the task of the ``Worker`` object that installed them, and the service builds a new one after
each Redis outage, so a signal that arrived while it waited between two of them went unheard.

The first signal asks for a graceful stop (jobs in flight may finish within the drain limit); a
second one asks to stop at once (``urgent``), ending the drain early.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

log = logging.getLogger("worker.service")

T = TypeVar("T")
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Shutdown:
    """Set by a signal (or ``request``); ``wait``, ``sleep`` and ``unless_stopped`` observe it."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.urgent = asyncio.Event()
        self.reason = ""

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            loop.add_signal_handler(sig, self.request, sig.name)

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)

    def request(self, reason: str) -> None:
        if self.requested.is_set():
            log.warning("second stop request; stopping now", extra={"signal": reason})
            self.urgent.set()
            return
        log.info("stop requested", extra={"signal": reason})
        self.reason = reason
        self.requested.set()

    @property
    def stopping(self) -> bool:
        return self.requested.is_set()

    async def sleep(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when woken by a stop request."""
        try:
            async with asyncio.timeout(seconds):
                await self.requested.wait()
        except TimeoutError:
            return False
        return True

    async def unless_stopped(self, awaitable: Awaitable[T]) -> tuple[bool, T | None]:
        """Await ``awaitable`` unless a stop request comes first (then it is cancelled).

        Returns ``(True, result)`` when it finished, ``(False, None)`` when stopped."""
        task = asyncio.ensure_future(awaitable)
        if await self.first(task, self.requested):
            return True, task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False, None

    async def first(self, task: asyncio.Future[T], event: asyncio.Event) -> bool:
        """Wait for ``task`` or ``event``; True when the task is done."""
        waiter: asyncio.Future[Any] = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        return task.done()

    async def within(self, task: asyncio.Future[T], seconds: float) -> bool:
        """Wait up to ``seconds`` for ``task``, less if a second (urgent) request comes.

        True when the task is done; it is not cancelled here."""
        try:
            async with asyncio.timeout(seconds):
                return await self.first(task, self.urgent)
        except TimeoutError:
            return False


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]], within: float) -> bool:
    """Cancel ``tasks`` and wait up to ``within`` seconds for them to end; True when all did.

    Cancelled again every 0.1 s while they go on: a cancellation that lands while the Redis
    client is in the middle of a read can be lost (the client then reads again), and one lost
    cancellation must not hold a shutdown forever."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (pending := [task for task in tasks if not task.done()]) and loop.time() < deadline:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.1)
    return all(task.done() for task in tasks)
