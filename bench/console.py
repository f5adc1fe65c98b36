"""The web console's alert-groups page with many groups in the store: server time and weight.

    bench/console [--groups 1000000] [--integrations 20] [--samples 60]

1. Starts a private Redis (AOF off) and the real ``alert-ingest api``, creates ``--integrations``
   webhook integrations through the API and populates ``--groups`` groups with
   ``bench/queries.py``'s ``populate`` (the worker's grouping script called directly; every
   state, the last 30 days).
2. Signs in to the console with a token that may read integrations and alert groups, as a
   browser does (sign-in form, session cookie).
3. For each page of ``PAGES`` (the groups page unfiltered, filtered by state, by state and
   integration, and its middle page), ``--samples`` requests one at a time: p50 / p99 of the
   server time (the ``Server-Timing`` header the console sets: from the session check to the
   rendered page) and of the round trip, and the page's bytes (the HTML; the stylesheet and
   scripts are cached files, listed once).

The target (issue: web console) is a groups page under 300 ms of server time at 1,000,000 groups
and every page under 200 KB. Population at 1,000,000 groups takes many minutes; keep it off the
test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import ORG, Children, Stack, missing_tools, run_main  # noqa: E402
from queries import pct, populate, start_with_integrations  # noqa: E402

NAME = "bench/console"
SCOPES = ["integrations:read", "alert_groups:read"]
ASSETS = ("console.css", "console.js", "playground.js")
NONCE = re.compile(r'name="login_nonce" value="([^"]+)"')
PAGES_OF = re.compile(r"page (\d+) of (\d+)")
COUNT = re.compile(r"(\d+) groups?, newest first")
SERVER_TIME = re.compile(r"dur=([0-9.]+)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=NAME, description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=1_000_000)
    parser.add_argument("--integrations", type=int, default=20)
    parser.add_argument("--samples", type=int, default=60, help="requests per page")
    return parser.parse_args(argv)


async def console_token(stack: Stack) -> str:
    from ingest.redis_conn import connect
    from ingest.store import tokens

    redis = connect(stack.redis_url)
    try:
        _, secret = await tokens.create_token(redis, ORG, SCOPES, "bench-console")
    finally:
        await redis.aclose()
    return str(secret)


async def sign_in(session: Any, base: str, secret: str) -> None:
    async with session.get(f"{base}/console/sign-in") as resp:
        found = NONCE.search(await resp.text())
    if found is None:
        raise RuntimeError("no sign-in form")
    form = {"login_nonce": found.group(1), "token": secret}
    async with session.post(f"{base}/console/sign-in", data=form, allow_redirects=False) as resp:
        if resp.status != 303:
            raise RuntimeError(f"sign-in answered {resp.status}")


async def fetch(session: Any, url: str) -> tuple[float, float | None, bytes]:
    """Round-trip seconds, the server's own seconds (``Server-Timing``) and the body."""
    began = time.perf_counter()
    async with session.get(url, allow_redirects=False) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url}: {resp.status}")
        timing = SERVER_TIME.search(resp.headers.get("Server-Timing", ""))
    took = time.perf_counter() - began
    return took, float(timing.group(1)) / 1000 if timing else None, body


def pages(integrations: list[dict[str, Any]], deep: int) -> list[tuple[str, str]]:
    integ = integrations[3 % len(integrations)]["id"]
    return [
        ("page 1", "/console/groups"),
        ("state=new", "/console/groups?state=new"),
        ("state=new & integration", f"/console/groups?state=new&integration_id={integ}"),
        (f"deep page {deep}", f"/console/groups?page={deep}"),
    ]


async def measure(stack: Stack, integrations: list[dict[str, Any]], samples: int) -> None:
    import aiohttp

    jar = aiohttp.CookieJar(unsafe=True)  # cookies of 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        await sign_in(session, stack.base, await console_token(stack))
        _, _, first = await fetch(session, f"{stack.base}/console/groups")
        total_pages = PAGES_OF.search(first.decode())
        deep = max(1, int(total_pages.group(2)) // 2) if total_pages else 1
        assets = 0
        for name in ASSETS:
            assets += len((await fetch(session, f"{stack.base}/console/static/{name}"))[2])
        print(f"assets (cached after the first page): {assets} bytes", flush=True)
        print("| page | groups | page bytes | p50 server | p99 server | p50 round trip "
              "| p99 round trip |\n|---|---:|---:|---:|---:|---:|---:|", flush=True)  # fmt: skip
        for name, path in pages(integrations, deep):
            trips: list[float] = []
            server: list[float] = []
            body = b""
            for _ in range(samples):
                took, own, body = await fetch(session, stack.base + path)
                trips.append(took)
                server.append(own if own is not None else took)
            count = COUNT.search(body.decode())
            print(
                f"| {name} | {count.group(1) if count else '?'} | {len(body)} "
                f"| {pct(server, 0.5):.1f} ms | {pct(server, 0.99):.1f} ms "
                f"| {pct(trips, 0.5):.1f} ms | {pct(trips, 0.99):.1f} ms |",
                flush=True,
            )


def bench(children: Children, workdir: Path, args: argparse.Namespace) -> int:
    stack, integrations = start_with_integrations(children, workdir, args.groups, args.integrations)
    filled = asyncio.run(populate(stack, integrations, args.groups, 0))
    print(f"populated {args.groups} groups in {filled['seconds']:.0f} s", flush=True)
    asyncio.run(measure(stack, integrations, args.samples))
    return 0


if __name__ == "__main__":
    ARGS = parse_args()
    PROBLEM = missing_tools(NAME)
    if PROBLEM:
        print(PROBLEM, file=sys.stderr)
        raise SystemExit(1)
    raise SystemExit(run_main(NAME, lambda children, workdir: bench(children, workdir, ARGS)))
