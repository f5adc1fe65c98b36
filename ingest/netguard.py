"""Where outgoing webhooks may connect: the SSRF guard's decisions, pure and without I/O.

A webhook URL comes from a user and is hostile. An address is refused unless it is globally
routable unicast: loopback, private (RFC 1918, ULA), link-local (including the cloud metadata
address 169.254.169.254), shared (100.64/10), multicast, unspecified, reserved and documentation
ranges are all refused. IPv6 forms that embed an IPv4 address (``::ffff:a.b.c.d`` mapped,
``::a.b.c.d`` compatible, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by the embedded
IPv4 address too. ``ALERT_INGEST_WEBHOOK_ALLOWED_NETWORKS`` opts networks back in.

The worker applies :func:`address_refusal` to every address a name resolves to, then connects to
exactly those addresses (``worker.webhooks.connector``); the api applies :func:`url_problem` on
save to catch what is knowable before any template is rendered.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs (a bare address is a /32 or /128); raises ValueError naming one."""
    out: list[IPNetwork] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"{part!r} is not a network like 10.0.0.0/8 or fd00::/8") from None
    return tuple(out)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _kind(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast destination; None when it is one."""
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    )
    for name, hit in checks:
        if hit:
            return name
    return None if address.is_global else "non-public"


def address_refusal(address: IPAddress, allowed: Iterable[IPNetwork] = ()) -> str | None:
    """None when the webhook may connect to ``address``; otherwise the reason, for the log."""
    inner = embedded_ipv4(address)
    candidates = [address] if inner is None else [inner, address]
    allowed = tuple(allowed)
    if any(c in net for c in candidates for net in allowed if c.version == net.version):
        return None
    judged = address if inner is None else inner  # a wrapper is only as good as what it wraps
    kind = _kind(judged)
    return None if kind is None else f"{kind} address {judged} is not allowed"


def literal_address(host: str) -> IPAddress | None:
    """The address when ``host`` (from a URL, maybe ``[v6]``) is an IP literal."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, lower-case host, port) of an http(s) URL, or None when it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def url_problem(url: str, own_urls: Iterable[str], allowed: Iterable[IPNetwork] = ()) -> str | None:
    """Why a (rendered) URL may not be used: malformed, this service itself (any of
    ``own_urls``: the API's base URL and, where links are served apart, the links' base URL),
    or a refused literal address. A host name passes here; its addresses are checked after
    resolution."""
    target = origin(url)
    if target is None:
        return "must be an http:// or https:// URL with a host"
    for own_url in own_urls:
        own = origin(own_url)
        if own is not None and target[1:] == own[1:]:
            return "must not point at this service's own base URL"
    address = literal_address(target[1])
    if address is not None:
        return address_refusal(address, allowed)
    if target[1] == "localhost" or target[1].endswith(".localhost"):
        return address_refusal(ipaddress.IPv4Address("127.0.0.1"), allowed)
    return None
