"""Alert-group lists at scale: filtered, counted, deep pages; and the link endpoint meanwhile.

    bench/queries [--groups 1000000] [--integrations 20] [--samples 60] [--link-seconds 15]
                  [--console]

1. Starts a private Redis (AOF off) and the real ``alert-ingest api`` (``--serve all``: links and
   public API in one process, the case where a slow list would stall intake), creates a token
   and ``--integrations`` webhook integrations through the API.
2. Populates ``--groups`` groups in one organization, spread over the integrations, the four
   states and the last 30 days, each with one alert: by calling the worker's grouping script
   directly (``worker.grouping.Grouper``, many calls per ``EVALSHA``; resolve and acknowledge
   as source signals) and the silence action's script for one group in eight; prints the rate
   (what one Redis primary sustains for group commits) and Redis memory per group. Then adds
   alerts to existing groups: memory per alert.
3. For each filter and combination: ``--samples`` requests of page 1 and of a deep page (the
   middle page, perpage 50), one at a time: p50 / p99 in ms.
4. Link POST latency (``LINK_RATE`` posts/s) idle, then while 10 filtered list
   requests per second run (rotating filters, page 1 and deep pages): p50 / p99 of both and the
   ratio. Then the api's RSS.
5. With ``--console``: ``bench/console.py``'s measurement of the console's groups pages on the
   same store (server time, round trip, page bytes), which saves populating twice.

Keep it off the test suite: at 1,000,000 groups population takes many minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import orjson  # noqa: E402
from common import (  # noqa: E402
    ORG,
    Children,
    Stack,
    client_session,
    http_json,
    machine,
    missing_tools,
    rss_mb,
    run_main,
    start_stack,
)

NAME = "bench/queries"
DAY = 86400.0
LINK_RATE = 50.0  # link posts per second during both link measurements
LIST_RATE = 10.0  # filtered list requests per second under "polling"
CONCURRENT_COMMITS = 4000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=NAME, description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=1_000_000)
    parser.add_argument("--integrations", type=int, default=20)
    parser.add_argument("--samples", type=int, default=60, help="requests per query and page")
    parser.add_argument("--extra-alerts", type=int, default=100_000, help="for memory/alert")
    parser.add_argument("--link-seconds", type=float, default=15.0)
    parser.add_argument(
        "--console", action="store_true", help="also bench/console's pages on the same store"
    )
    return parser.parse_args(argv)


async def redis_memory(redis: Any) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def populate(
    stack: Stack, integrations: list[dict[str, Any]], total: int, extra_alerts: int
) -> dict[str, Any]:
    """``total`` groups through the grouping script; acks and silences through the actions';
    then ``extra_alerts`` alerts added to existing groups (memory per alert). Also used by
    ``bench/console.py``."""
    from ingest.redis_conn import connect
    from ingest.store.group_actions import GroupActions
    from worker.grouping import Commit, Grouper, Placement

    redis = connect(stack.redis_url)
    grouper, actions = Grouper(redis), GroupActions(redis)
    org = ORG
    now = time.time()
    start = now - 30 * DAY
    versions = {i["id"]: int(await redis.get(f"ai:integration:{i['id']}:version") or 0)
                for i in integrations}  # fmt: skip
    memory_before = await redis_memory(redis)

    async def commit(i: int, alert: str, group: str, received: float) -> str:
        integration = integrations[i % len(integrations)]
        doc = {"id": alert, "received_at": received, "payload": {"n": i, "status": "firing"},
               "trace": {}}  # fmt: skip
        place = Placement(integration["id"], org, integration["default_route"]["id"])
        labels = [{"key": "severity", "value": ("critical", "warning", "info")[i % 3]},
                  {"key": "service", "value": f"svc-{i % 50}"}]  # fmt: skip
        commit_ = Commit(
            alert_id=alert,
            place=place,
            grouping_id=f"k{i}",
            alert_doc=orjson.dumps(doc),
            now=time.time(),
            received_at=received,
            title=f"[bench] service svc-{i % 50} group {i}",
            labels=orjson.dumps(labels).decode(),
            resolve=i % 4 == 2,
            acknowledge=i % 4 == 1,
            new_group_id=group or f"BG{i:08d}",
        )
        decision = await grouper.commit(commit_, versions[integration["id"]], max_alerts=100)
        return decision.group_id

    began = time.monotonic()
    acted = 0
    for chunk in range(0, total, CONCURRENT_COMMITS):
        span = range(chunk, min(chunk + CONCURRENT_COMMITS, total))
        ids = await asyncio.gather(
            *(commit(i, f"BA{i:08d}", f"BG{i:08d}", start + i * 30 * DAY / total) for i in span)
        )
        acts = []
        for i, gid in zip(span, ids, strict=True):
            group = {"id": gid, "integration_id": integrations[i % len(integrations)]["id"]}
            if i % 8 == 3:
                acts.append(actions.act(group, "silence", "bench", time.time(), now + DAY))
        await asyncio.gather(*acts)
        acted += len(acts)
        if chunk % 100_000 == 0 and chunk:
            rate = chunk / (time.monotonic() - began)
            print(f"  populated {chunk} groups ({rate:.0f}/s)", flush=True)
    seconds = time.monotonic() - began
    memory_groups = await redis_memory(redis)
    extra = min(total, extra_alerts)
    for chunk in range(0, extra, CONCURRENT_COMMITS):
        span = range(chunk, min(chunk + CONCURRENT_COMMITS, extra))
        await asyncio.gather(*(commit(i, f"BX{i:08d}", "", now) for i in span))
    memory_alerts = await redis_memory(redis)
    await redis.aclose()
    return {
        "seconds": seconds,
        "commits_per_s": total / seconds,
        "actions": acted,
        "per_group": (memory_groups - memory_before) / total,
        "per_alert": (memory_alerts - memory_groups) / extra if extra else 0.0,
        "used_mb": memory_alerts / 2**20,
    }


def queries(integrations: list[dict[str, Any]], now: float) -> list[tuple[str, dict[str, str]]]:
    fmt = "%Y-%m-%dT%H:%M:%S"
    day = (
        time.strftime(fmt, time.gmtime(now - 11 * DAY)),
        time.strftime(fmt, time.gmtime(now - 10 * DAY)),
    )
    week = (
        time.strftime(fmt, time.gmtime(now - 14 * DAY)),
        time.strftime(fmt, time.gmtime(now - 7 * DAY)),
    )
    integ, route = integrations[3]["id"], integrations[5]["default_route"]["id"]
    return [
        ("all", {}),
        ("state=new", {"state": "new"}),
        ("state=acknowledged", {"state": "acknowledged"}),
        ("state=resolved", {"state": "resolved"}),
        ("state=silenced", {"state": "silenced"}),
        ("integration", {"integration_id": integ}),
        ("route", {"route_id": route}),
        ("state=new & integration", {"state": "new", "integration_id": integ}),
        ("state=resolved & route", {"state": "resolved", "route_id": route}),
        ("started_at (1 day)", {"started_at": "_".join(day)}),
        ("started_at (7 days) & state=new", {"started_at": "_".join(week), "state": "new"}),
        ("started_at (7 days) & state & integration",
         {"started_at": "_".join(week), "state": "new", "integration_id": integ}),
        ("scan: label & state & integration",
         {"label": "severity:critical", "state": "new", "integration_id": integ}),
    ]  # fmt: skip


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def timed_get(
    session: Any, url: str, params: dict[str, Any], token: str
) -> tuple[float, Any]:
    # The client parses with orjson: it shares the 2 cores with the api, and its own parsing
    # should weigh on the api's numbers as little as it can.
    began = time.perf_counter()
    async with session.get(url, params=params, headers={"Authorization": token}) as resp:
        body = orjson.loads(await resp.read())
        if resp.status != 200:
            raise RuntimeError(f"{resp.status}: {body}")
    return time.perf_counter() - began, body


async def measure_queries(
    stack: Stack, named: list[tuple[str, dict[str, str]]], samples: int
) -> list[str]:
    url = f"{stack.base}/api/v1/alert_groups/"
    rows = ["| query | count | p50 page 1 | p99 page 1 | deep page | p50 deep | p99 deep |",
            "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    async with client_session(4) as session:
        for name, params in named:
            first: list[float] = []
            for _ in range(samples):
                took, body = await timed_get(session, url, {**params, "perpage": 50}, stack.secret)
                first.append(took)
            deep_page = max(1, body["total_pages"] // 2)
            deep: list[float] = []
            for _ in range(samples):
                took, _ = await timed_get(
                    session, url, {**params, "perpage": 50, "page": deep_page}, stack.secret
                )
                deep.append(took)
            rows.append(
                f"| {name} | {body['count']} | {pct(first, 0.5):.1f} | {pct(first, 0.99):.1f} "
                f"| {deep_page} | {pct(deep, 0.5):.1f} | {pct(deep, 0.99):.1f} |"
            )
            print(rows[-1], flush=True)
    return rows


async def link_latency(stack: Stack, seconds: float, polling: list[dict[str, str]]) -> list[float]:
    """Link POST latencies at ``LINK_RATE``/s for ``seconds``; with ``polling`` filtered lists
    run at ``LIST_RATE``/s meanwhile (page 1 and deep pages in turn)."""
    from common import bodies

    payloads = bodies(200, "queries")
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[Any]] = set()
    url = f"{stack.base}/api/v1/alert_groups/"

    async def post(session: Any, body: bytes) -> None:
        began = time.perf_counter()
        async with session.post(
            stack.link, data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            await resp.read()
        latencies.append(time.perf_counter() - began)

    async def poll(session: Any, params: dict[str, str]) -> None:
        await timed_get(session, url, params, stack.secret)

    async with client_session(50) as session:
        began = loop.time()
        n_links = int(seconds * LINK_RATE)
        events = [(i / LINK_RATE, "link", i) for i in range(n_links)]
        if polling:
            events += [(i / LIST_RATE, "list", i) for i in range(int(seconds * LIST_RATE))]
        for at, kind, i in sorted(events):
            delay = began + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if kind == "link":
                coro = post(session, payloads[i % len(payloads)])
            else:
                params = {
                    **polling[i % len(polling)],
                    "perpage": "50",
                    "page": str(1 + (i % 3) * 500),
                }
                coro = poll(session, params)
            task = loop.create_task(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    return latencies


def start_with_integrations(
    children: Children, workdir: Path, groups: int, count: int
) -> tuple[Stack, list[dict[str, Any]]]:
    """Print the machine line; start the stack (AOF off) with ``count`` webhook integrations
    created through the API. Also used by ``bench/console.py``."""
    print(machine("no") + f"; {groups} groups over {count} integrations", flush=True)
    stack = start_stack(children, workdir, "no")
    integrations = [
        http_json("POST", f"{stack.base}/api/v1/integrations/",
                  {"type": "webhook", "name": f"bench-{n}"}, stack.secret)
        for n in range(count)
    ]  # fmt: skip
    return stack, integrations


def bench(children: Children, workdir: Path) -> int:
    args = ARGS
    stack, integrations = start_with_integrations(children, workdir, args.groups, args.integrations)
    stack.secret = asyncio.run(_reader_token(stack))
    filled = asyncio.run(populate(stack, integrations, args.groups, args.extra_alerts))
    print(
        f"populated {args.groups} groups in {filled['seconds']:.0f} s "
        f"({filled['commits_per_s']:.0f} group commits/s through the grouping script, "
        f"{filled['actions']} silence actions); redis memory: "
        f"{filled['per_group']:.0f} B per group (with its one alert), "
        f"{filled['per_alert']:.0f} B per further alert, {filled['used_mb']:.0f} MB used",
        flush=True,
    )
    named = queries(integrations, time.time())
    asyncio.run(measure_queries(stack, named, args.samples))
    idle = asyncio.run(link_latency(stack, args.link_seconds, []))
    polling = [params for _, params in named if not _is_scan(params)]
    busy = asyncio.run(link_latency(stack, args.link_seconds, polling))
    idle99, busy99 = pct(idle, 0.99), pct(busy, 0.99)
    print(
        f"link POST at {LINK_RATE:.0f}/s: idle p50 {pct(idle, 0.5):.1f} ms p99 {idle99:.1f} ms; "
        f"with {LIST_RATE:.0f} filtered lists/s p50 {pct(busy, 0.5):.1f} ms p99 {busy99:.1f} ms "
        f"({busy99 / idle99:.2f}x idle)"
    )
    print(f"api RSS after the run: {rss_mb(stack.api.pid):.0f} MB")
    if args.console:  # the console's groups pages on the same store (saves a second population)
        from console import measure

        asyncio.run(measure(stack, integrations, args.samples))
    return 0


def _is_scan(params: dict[str, str]) -> bool:
    return "label" in params or "team_id" in params


async def _reader_token(stack: Stack) -> str:
    """A token of the populated organization that may read alert groups."""
    from common import ORG

    from ingest.redis_conn import connect
    from ingest.store import tokens

    redis = connect(stack.redis_url)
    try:
        _, secret = await tokens.create_token(redis, ORG, ["alert_groups:read"], "bench-reader")
    finally:
        await redis.aclose()
    return f"Bearer {secret}"


ARGS = parse_args([])


def main() -> int:
    global ARGS
    ARGS = parse_args()
    problem = missing_tools(NAME)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return run_main(NAME, bench)


if __name__ == "__main__":
    raise SystemExit(main())
