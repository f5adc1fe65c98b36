"""The HTTP connector outgoing webhooks use: it connects only to addresses the SSRF guard
accepted, and to exactly those.

aiohttp resolves a host name once per connection attempt and hands the resulting addresses to
the socket code; ``GuardedConnector`` checks them in between (``_resolve_host``, which also sees
IP literals), so the address judged is the address connected to: a name cannot resolve to a
public address for the check and to a private one for the connection (DNS rebinding). A host
whose addresses include any refused one is refused as a whole. ``limit_per_host`` bounds the
connections, hence the requests in flight, per destination.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import TCPConnector
from aiohttp.abc import ResolveResult

from ingest.netguard import IPNetwork, address_refusal

DESTINATION_LIMIT = 10


class RefusedAddress(Exception):
    """The destination resolved to an address outgoing webhooks may not reach."""


class GuardedConnector(TCPConnector):
    def __init__(self, allowed: Iterable[IPNetwork] = (), **kwargs: Any) -> None:
        kwargs.setdefault("limit_per_host", DESTINATION_LIMIT)
        kwargs.setdefault("limit", 0)
        super().__init__(**kwargs)
        self._allowed = tuple(allowed)

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Any] | None = None
    ) -> list[ResolveResult]:
        results = await super()._resolve_host(host, port, traces=traces)
        for result in results:
            address = ipaddress.ip_address(result["host"].split("%")[0])
            reason = address_refusal(address, self._allowed)
            if reason is not None:
                raise RefusedAddress(f"{host} resolves to a refused address: {reason}")
        return results
