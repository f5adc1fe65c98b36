"""Retry-After is honest: a client that waits it is admitted, at exactly the configured rate.

The limiter's script runs in the real Redis; the clock is the ``now_ms`` the caller passes, so
hours of obeying client run in a moment. One test goes through a real link with the wall clock.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from ingest.ratelimit import RateLimiter
from ingest.settings import Rate
from tests.test_links import make

Client = TestClient[Any, Any]


async def obey(redis: Redis, rate: Rate, start_ms: int, duration_s: int) -> list[int]:
    """A sender that posts back to back and waits each Retry-After; returns admission times (ms).

    Fails if a request sent after waiting the announced time is refused again.
    """
    limiter = RateLimiter(redis)
    key = f"ai:rl:test:{rate}:{start_ms}:tat"
    now, admitted, retried = start_ms, [], False
    while now < start_ms + duration_s * 1000:
        verdict = await limiter.hit([(key, rate)], now)
        if verdict.allowed:
            admitted.append(now)
            retried = False
            continue
        assert not retried, f"refused again at {now - start_ms} ms after obeying Retry-After"
        assert verdict.retry_after >= 1
        now += verdict.retry_after * 1000
        retried = True
    return admitted


# start offsets: on a second boundary, just before one, just after one, mid-way
OFFSETS = [1_700_000_000_000, 1_700_000_009_990, 1_700_000_010_010, 1_700_000_004_321]


@pytest.mark.parametrize("start_ms", OFFSETS)
@pytest.mark.parametrize("rate", [Rate(2, 10), Rate(1, 20), Rate(300, 300), Rate(7, 60)])
async def test_a_client_obeying_retry_after_gets_the_configured_rate(
    redis: Redis, rate: Rate, start_ms: int
) -> None:
    duration = rate.period * 10
    admitted = await obey(redis, rate, start_ms, duration)
    # a burst of `count`, then one every period/count on average: Retry-After is whole seconds,
    # so a gap may be up to a second longer, and the next one shorter (the budget was not lost)
    interval_ms = rate.period * 1000 / rate.count
    steady = admitted[rate.count :]
    gaps = [b - a for a, b in itertools.pairwise(steady)]
    assert all(interval_ms - 1000 < gap < interval_ms + 1000 for gap in gaps), gaps[:10]
    assert abs((steady[-1] - steady[0]) - (len(steady) - 1) * interval_ms) < 1000
    assert len(admitted) <= rate.count + duration * rate.count // rate.period


async def test_a_refused_request_spends_nothing(redis: Redis) -> None:
    limiter = RateLimiter(redis)
    own, org = ("ai:rl:test:own:tat", Rate(1, 60)), ("ai:rl:test:org:tat", Rate(2, 60))
    now = 1_700_000_000_000
    assert (await limiter.hit([own, org], now)).allowed
    refused = await limiter.hit([own, org], now)
    assert not refused.allowed and refused.retry_after == 60
    other = ("ai:rl:test:other:tat", Rate(5, 60))
    # the organization still has its second unit: the refusal above did not spend it
    assert (await limiter.hit([other, org], now)).allowed
    assert (await limiter.hit([other, org], now)).retry_after == 30


async def test_retry_after_through_a_real_link(client: Client, auth: dict[str, str]) -> None:
    """Two per 2 s: the third post gets 429, waiting its Retry-After gets 200, twice in a row."""
    _, link = await make(client, auth, "webhook", rate_limit="2/2s")
    assert [(await client.post(link, json={})).status for _ in range(2)] == [200, 200]
    for _ in range(2):
        refused = await client.post(link, json={})
        assert refused.status == 429
        await asyncio.sleep(int(refused.headers["Retry-After"]))
        assert (await client.post(link, json={})).status == 200
