"""Typed application storage shared by every handler of the api process."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis

from ingest.ratelimit import RateLimiter
from ingest.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
LIMITER = web.AppKey("limiter", RateLimiter)


def settings(request: web.Request) -> Settings:
    return request.app[SETTINGS]


def redis(request: web.Request) -> Redis:
    return request.app[REDIS]
