"""The worker's ``/health/ready`` says whether its job loop runs, not only whether Redis answers.

After an outage the worker retries with a growing pause (0.5 s, 1 s, 2 s ...). Redis may be back
while the job loop still waits out a pause: no job runs then, so the worker is not ready.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import orjson

from ingest.embedded_redis import EmbeddedRedis
from tests.processes import Service, environment, running, wait_ready, worker


def logged_at(service: Service, event: str) -> float | None:
    """The epoch time of the first log line of ``event`` (None: not logged yet)."""
    for line in service.log.read_text().splitlines():
        if line.startswith("{") and f'"event":"{event}"' in line:
            stamp = orjson.loads(line)["ts"].replace("Z", "+00:00")
            return datetime.fromisoformat(stamp).timestamp()
    return None


async def until_logged(service: Service, event: str, within: float = 20) -> float:
    deadline = time.monotonic() + within
    while (at := logged_at(service, event)) is None:
        assert time.monotonic() < deadline, f"{event!r} not logged"
        await asyncio.sleep(0.05)
    return at


async def test_worker_is_not_ready_while_its_job_loop_waits_to_restart(
    own_redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    service = worker(environment(own_redis_server.url), tmp_path)
    probes: list[tuple[float, int]] = []  # (epoch time of the answer, status)
    stop = asyncio.Event()
    answered = asyncio.Event()

    async def poll() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while not stop.is_set():
                try:
                    async with session.get(service.url + "/health/ready") as resp:
                        probes.append((time.time(), resp.status))
                except (aiohttp.ClientError, TimeoutError):
                    probes.append((time.time(), 0))
                answered.set()
                await asyncio.sleep(0.05)

    with running(service):
        await wait_ready(service.url)
        polling = asyncio.create_task(poll())
        own_redis_server.stop()
        await until_logged(service, "redis unreachable; retrying")
        # pauses of 0.5, 1 and 2 s end with failed retries; Redis comes back about 1.5 s into the
        # 4 s pause after them (3.5 to 7.5 s), with a margin for a loaded machine on each side
        await asyncio.sleep(5.0)
        own_redis_server.start()
        back = time.time()
        restarted = await until_logged(service, "redis reachable again; worker restarting")
        await wait_ready(service.url, within=10)
        for _ in range(2):  # the second probe the poller sends from now was sent after ready
            answered.clear()
            await asyncio.wait_for(answered.wait(), 10)
        stop.set()
        await polling
    assert restarted - back > 0.5, "the loop was not waiting: nothing to check"
    waiting = [status for at, status in probes if back < at < restarted]
    assert waiting and all(status == 503 for status in waiting), waiting
    assert probes[-1][1] == 200
