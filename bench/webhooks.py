"""Webhook delivery benchmark: deliveries/s of one worker, and alert-to-receiver latency.

Starts a private Redis, the real api and one real worker (``bench/common.py``), and a receiver
(aiohttp, in this process) on 127.0.0.1, allowed with ``ALERT_INGEST_WEBHOOK_ALLOWED_NETWORKS``.

1. **Throughput.** ``--groups`` alert groups are made through the link, then the worker is
   stopped, ``--events`` acknowledge events over those groups are appended to ``ai:events`` and a
   ``status change`` webhook (``forward_all``) waits for them. A fresh worker starts; the result
   is deliveries received per second, from the first to the last, one worker.
2. **Latency.** Alerts, each opening a new group, are posted at ``--rate`` (200/s) for
   ``--duration`` s to a webhook on ``alert group created``. Each alert carries the time it was
   posted; the receiver reads it back from ``alert_payload`` on arrival. p50/p99 of the difference
   are the time from the alert's receipt at the api to the receiver's receipt.

Targets (issue 14): >= 1,000 deliveries/s per worker, p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import common  # noqa: E402
import orjson  # noqa: E402
from aiohttp import web  # noqa: E402

from ingest.embedded_redis import free_port  # noqa: E402

NAME = "bench/webhooks"


class Receiver:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.latencies: list[float] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        self.times.append(now)
        if request.path == "/latency":
            sent = orjson.loads(body)["alert_payload"].get("bench_sent")
            if sent:
                self.latencies.append(now - float(sent))
        return web.Response(text="ok")


async def start_receiver(receiver: Receiver) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def wait_for(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise common.BenchError(f"timed out waiting for {what}")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def api_post(base: str, token: str, path: str, body: Any) -> Any:
    return await asyncio.to_thread(common.http_json, "POST", base + path, body, token)


async def make_token(redis_url: str) -> str:
    from ingest.models import SCOPES
    from ingest.redis_conn import connect
    from ingest.store.tokens import create_token

    redis = connect(redis_url)
    try:
        _, secret = await create_token(redis, common.ORG, list(SCOPES), "bench")
    finally:
        await redis.aclose()
    return str(secret)


async def throughput(stack: common.Stack, args: argparse.Namespace, port: int, rx: Receiver,
                     token: str) -> tuple[float, float]:  # fmt: skip
    from redis.asyncio import Redis

    redis = Redis.from_url(stack.redis_url)
    worker = common.start_worker(stack, args.concurrency, stack.workdir / "worker-1.log")
    payloads = common.bodies(args.groups, "tp")
    async with common.client_session(20) as session:
        stats = common.PostStats()
        await asyncio.gather(*(common.post_one(session, stack.link, b, stats) for b in payloads))
    await wait_for(lambda: _groups_at_least(redis, args.groups), 60, "groups")
    common.stop_group(worker)
    await api_post(stack.base, token, "/api/v1/webhooks/", {
        "name": "tp", "url": f"http://127.0.0.1:{port}/tp", "http_method": "POST",
        "trigger_type": "status change"})  # fmt: skip
    group_ids = [g.decode() for g in await redis.zrange(f"ai:org:{common.ORG}:groups", 0, -1)]
    integration = (await redis.hget(f"ai:group:{group_ids[0]}", "integration_id")).decode()
    async with redis.pipeline(transaction=False) as pipe:
        for i in range(args.events):
            pipe.xadd("ai:events", {"type": "alert_group_acknowledged",
                                    "alert_group_id": group_ids[i % len(group_ids)],
                                    "alert_id": "", "integration_id": integration,
                                    "org_id": common.ORG, "data": "{}"})  # fmt: skip
        await pipe.execute()
    before = len(rx.times)
    worker = common.start_worker(stack, args.concurrency, stack.workdir / "worker-2.log")
    cpu_before = common.cpu_seconds(worker.pid)
    spy = None
    if args.profile:  # py-spy's folded stacks of the delivering worker
        spy = common.start_py_spy(stack.children, common.py_spy_path(), worker.pid, args.profile)
    await wait_for(lambda: _received(rx, before + args.events), 300, "deliveries")
    cpu = common.cpu_seconds(worker.pid) - cpu_before
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        await asyncio.to_thread(spy.wait, 30)
    await redis.aclose()
    span = rx.times[-1] - rx.times[before]
    return (args.events - 1) / span if span > 0 else float("inf"), cpu


async def _groups_at_least(redis: Any, n: int) -> bool:
    return int(await redis.zcard(f"ai:org:{common.ORG}:groups")) >= n


async def _received(rx: Receiver, n: int) -> bool:
    return len(rx.times) >= n


async def latency(stack: common.Stack, args: argparse.Namespace, port: int, rx: Receiver,
                  token: str) -> list[float]:  # fmt: skip
    await api_post(stack.base, token, "/api/v1/webhooks/", {
        "name": "lat", "url": f"http://127.0.0.1:{port}/latency", "http_method": "POST",
        "trigger_type": "alert group created"})  # fmt: skip
    doc = json.loads(common.FIXTURE.read_text())
    total = int(args.rate * args.duration)
    loop = asyncio.get_running_loop()
    tasks = set()
    stats = common.PostStats()
    async with common.client_session(50) as session:
        started = loop.time()
        for i in range(total):
            delay = started + i / args.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            doc["groupKey"] = f'{{}}:{{alertname="lat-{i}"}}'
            doc["bench_sent"] = time.time()
            task = loop.create_task(common.post_one(session, stack.link, json.dumps(doc).encode(),
                                                    stats))  # fmt: skip
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    try:
        await wait_for(lambda: _latencies(rx, total), 60, "latency deliveries")
    except common.BenchError as exc:
        raise common.BenchError(f"{exc}: {len(rx.latencies)} of {total} arrived") from None
    if stats.failed:
        raise common.BenchError(f"{stats.failed} posts failed: {stats.errors}")
    return rx.latencies


async def _latencies(rx: Receiver, n: int) -> bool:
    return len(rx.latencies) >= n


async def run(children: common.Children, workdir: Path, args: argparse.Namespace) -> int:
    os.environ["ALERT_INGEST_WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    stack = await asyncio.to_thread(common.start_stack, children, workdir, args.aof)
    token = await make_token(stack.redis_url)
    rx = Receiver()
    runner, port = await start_receiver(rx)
    try:
        rate, cpu = await throughput(stack, args, port, rx, token)
        lat = await latency(stack, args, port, rx, token)
    except common.BenchError:
        common.print_log_tail("worker", stack.workdir / "worker-2.log")
        raise
    finally:
        await runner.cleanup()
    print(common.machine(args.aof))
    print(f"throughput: {args.events} deliveries over {args.groups} groups, one worker "
          f"(concurrency {args.concurrency}): {rate:,.0f} deliveries/s"
          " (target >= 1,000)")  # fmt: skip
    print(f"  worker CPU: {cpu * 1000 / args.events:.2f} ms per delivery, so "
          f"{args.events / cpu:,.0f} deliveries per CPU second")  # fmt: skip
    print(f"latency at {args.rate:.0f} alerts/s for {args.duration:.0f} s ({len(lat)} deliveries):"
          f" p50 {quantile(lat, 0.5) * 1000:.1f} ms, p99 {quantile(lat, 0.99) * 1000:.1f} ms,"
          f" max {max(lat) * 1000:.1f} ms (target p99 <= 100 ms)")  # fmt: skip
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--profile", type=Path, help="py-spy the worker's deliveries to this file")
    common.add_aof_argument(parser)
    args = parser.parse_args()
    return common.run_main(
        NAME, lambda children, workdir: asyncio.run(run(children, workdir, args))
    )


if __name__ == "__main__":
    sys.exit(main())
