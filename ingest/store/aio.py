"""``aw``: await a redis-py asyncio command whose stubs say ``Awaitable[T] | T``."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def aw(result: Awaitable[T] | T) -> T:
    if inspect.isawaitable(result):
        return await result
    return result
