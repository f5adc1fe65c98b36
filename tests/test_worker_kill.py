"""A worker process SIGKILLed mid-burst: after arq re-runs its jobs, every alert is stored once.

The killed worker held jobs (their ``arq:in-progress:<id>`` marks outlive it for
``job_timeout + 10`` = 30 s), some of them already grouped (the grouping script ran) but not
finished. A new worker runs the rest at once, reading past the held ones at the head of the queue
(``worker.runner``), and the held ones after the marks expire: the pipeline's idempotency on the
alert id (``worker.grouping``: ``duplicate``) and the events' ``events_sent`` mark
(``worker.events``) make each re-run add nothing. With one hot key the held alerts are pushed out of
the group's newest 1,000 before they run again; a stub of each stays while its job may re-run.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis, free_port
from ingest.queue import ARQ_JOB_PREFIX
from ingest.store import groups as group_store
from tests.processes import Service, api, environment, running, wait_ready
from tests.test_faults import org_groups, setup_integration, wait_processed
from tests.worker_helpers import events
from worker.grouping import Commit, GroupDecision, Grouper, Placement

ALERTS = 2000
CAP = 1000  # alerts kept per group (ALERT_INGEST_MAX_ALERTS_PER_GROUP)
IN_PROGRESS = b"arq:in-progress:A*"  # alert jobs (their id is the alert id); not cron jobs


def unstarted_worker(env: dict[str, str], log_dir: Path) -> Service:
    """A worker process as ``tests.processes.worker`` makes it, not started yet."""
    port = free_port()
    args = ["worker", "--concurrency", "50", "--metrics-port", str(port)]
    return Service(args, env, log_dir / f"worker-{port}.log", f"http://127.0.0.1:{port}")


async def post_all(url: str, bodies: list[dict[str, Any]]) -> None:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def sender(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            async with session.post(url, json=body) as resp:
                assert resp.status == 200, await resp.text()

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(sender(session) for _ in range(20)))


async def grouped(redis: Redis) -> int:
    return sum(int(g["alerts_count"]) for g in await org_groups(redis))


async def wait_grouped_at_least(redis: Redis, count: int, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while await grouped(redis) < count:
        assert time.monotonic() < deadline, f"fewer than {count} grouped in {within}s"
        await asyncio.sleep(0.005)


async def jobs_outcome(metrics_url: str, outcome: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(metrics_url + "/metrics") as resp:
        text = await resp.text()
    match = re.search(rf'^\w+_jobs_total{{outcome="{outcome}"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "keys",
    [
        8,  # 250 alerts per group: every alert is kept
        # a storm on one key: the held alerts are pushed out of the group's newest 1,000 before
        # their re-run, so the re-run must still recognise them (``worker.grouping``)
        1,
    ],
)
async def test_worker_killed_mid_burst_stores_every_alert_once(
    own_redis_server: EmbeddedRedis, tmp_path: Path, keys: int
) -> None:
    env = environment(own_redis_server.url)
    redis = Redis.from_url(own_redis_server.url)
    the_api = api(env, tmp_path)
    first, second = unstarted_worker(env, tmp_path), unstarted_worker(env, tmp_path)
    with running(the_api, first, second):
        await wait_ready(the_api.url)
        link = the_api.url + await setup_integration(the_api.url, redis)
        bodies = [
            {"alert_uid": f"key-{n % keys}", "state": "alerting", "n": n} for n in range(ALERTS)
        ]
        await post_all(link, bodies)  # every one answered 200: accepted
        assert await redis.zcard("alert-ingest:queue") >= ALERTS

        first.start()
        await wait_grouped_at_least(redis, ALERTS // 4)
        first.kill()  # SIGKILL, mid-burst
        at_kill = await grouped(redis)
        held = [k async for k in redis.scan_iter(match=IN_PROGRESS)]
        assert at_kill < ALERTS, "the burst was over before the kill"
        assert held, "the killed worker held no jobs"
        held_ids = [k.decode().removeprefix("arq:in-progress:") for k in held]
        done = [await redis.exists(f"ai:alert:{a}") for a in held_ids]

        second.start()
        await wait_ready(second.url, "/health/live")
        # the new worker reads past the dead one's held jobs at the head of the queue: everything
        # else is grouped well before their in-progress marks expire (30 s)
        await wait_grouped_at_least(redis, ALERTS - len(held), within=15)
        groups = await wait_processed(redis, ALERTS, within=120)  # waits out the 30 s marks
        assert [k async for k in redis.scan_iter(match=IN_PROGRESS)] == []

        # the count: every accepted alert is grouped, exactly once
        assert sum(int(g["alerts_count"]) for g in groups) == ALERTS
        assert len(groups) == keys
        kept = min(ALERTS // keys, CAP) * keys
        alert_ids = [a.decode() for a in await redis.zrange("ai:org:org1:alerts", 0, -1)]
        assert len(alert_ids) == kept
        stored = await group_store.alerts(redis, alert_ids)
        numbers = Counter(a["payload"]["n"] for a in stored)
        assert max(numbers.values()) == 1
        assert len(numbers) == kept
        per_group = [len(await group_store.alert_ids(redis, g["id"])) for g in groups]
        assert sum(per_group) == kept

        # the events: one per alert (all firing, so created or added), one created per group
        stream = await events(redis)
        per_alert = Counter(e["alert_id"] for e in stream)
        assert max(per_alert.values()) == 1
        assert len(per_alert) == ALERTS and set(alert_ids) <= set(per_alert)
        created = Counter(e["alert_group_id"] for e in stream if e["type"] == "alert_group_created")
        assert created == Counter({g["id"]: 1 for g in groups})

        # the held jobs really ran again on the second worker, which found them (partly) done
        processed = await jobs_outcome(second.url, "processed")
        duplicate = await jobs_outcome(second.url, "duplicate")
        assert processed + duplicate >= ALERTS - at_kill
        assert duplicate >= sum(done)  # each held job it had grouped: recognised on its re-run
        assert second.process is not None and second.process.poll() is None
    await redis.aclose()


async def commit(grouper: Grouper, alert_id: str) -> GroupDecision:
    alert = Commit(
        alert_id=alert_id,
        place=Placement("C1", "org1", "R1"),
        grouping_id="k",
        alert_doc=b'{"doc": 1}',
        now=1.0,
        received_at=float(alert_id[1:]),
        new_group_id="I" + alert_id,
    )
    return await grouper.commit(alert, config_version=0, max_alerts=2)


async def test_alert_pushed_out_by_the_cap_is_still_a_duplicate_while_its_job_may_rerun(
    redis: Redis,
) -> None:
    grouper = Grouper(redis)
    await redis.set(ARQ_JOB_PREFIX + "A1", b"job", px=60_000)  # A1's job unfinished (worker died)
    for alert_id in ("A1", "A2", "A3", "A4"):  # no job: finished
        assert (await commit(grouper, alert_id)).result in ("new_group", "grouped")
    # both pushed out of the group's newest two and of the org's index
    assert await redis.zrange("ai:org:org1:alerts", 0, -1) == [b"A3", b"A4"]
    assert await redis.exists("ai:alert:A2") == 0  # finished job: deleted (memory stays bounded)
    stub = await redis.hgetall("ai:alert:A1")  # type: ignore[misc]
    assert b"doc" not in stub and stub[b"group_id"] == b"IA1"
    assert 0 < await redis.pttl("ai:alert:A1") <= 60_000  # gone when the job would expire
    again = await commit(grouper, "A1")  # the dead worker's job, run again
    assert (again.result, again.group_id) == ("duplicate", "IA1")
    assert again.events == ("alert_group_created",)
    group = await redis.hgetall("ai:group:IA1")  # type: ignore[misc]
    assert group[b"alerts_count"] == b"4"
