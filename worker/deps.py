"""What every worker job needs, built once per worker process and kept in arq's job context."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from ingest.settings import Settings
from ingest.trace import template_limits
from templates_engine import Limits
from worker.config_cache import ConfigCache
from worker.events import EventSender
from worker.grouping import Grouper

DEPS = "deps"  # the key of ``Deps`` in arq's job context


@dataclass
class Deps:
    redis: Redis
    settings: Settings
    cache: ConfigCache
    grouper: Grouper
    events: EventSender
    limits: Limits
    retry_base: float = 1.0  # seconds before the first retry; doubles each try

    @classmethod
    def create(cls, redis: Redis, settings: Settings, retry_base: float = 1.0) -> Deps:
        return cls(
            redis,
            settings,
            ConfigCache(redis),
            Grouper(redis),
            EventSender(redis),
            template_limits(settings),
            retry_base,
        )
