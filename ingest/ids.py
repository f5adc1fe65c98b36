"""Public ids and secrets.

Object ids follow the reference: a one-letter prefix and 12 characters of
``ABCDEFGHIJKLMNPQRSTUVWXYZ123456789`` (no ``O``, no ``0``). Alert ids are assigned at ingest and
must sort by time: ``A`` + 10 characters of milliseconds since the epoch (Crockford base32) +
12 random characters. Link tokens are 32 random ``[A-Za-z0-9]`` (about 190 bits).
"""

from __future__ import annotations

import os
import secrets
import string
import time

PUBLIC_ID_ALPHABET = "ABCDEFGHIJKLMNPQRSTUVWXYZ123456789"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TOKEN_ALPHABET = string.ascii_letters + string.digits


def public_id(prefix: str, length: int = 12) -> str:
    return prefix + "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(length))


def link_token(length: int = 32) -> str:
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(length))


def api_token() -> str:
    """A new API token: ``aik_`` + 40 random ``[A-Za-z0-9]`` characters."""
    return "aik_" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(40))


# Maps each byte to a Crockford character by its low 5 bits: 256 is a multiple of 32, so a
# uniformly random byte gives a uniformly random character (one urandom call per id instead of
# twelve ``secrets.choice`` calls, which cost ~25 µs per id on the link hot path).
_CROCKFORD_OF_BYTE = bytes.maketrans(
    bytes(range(256)), bytes(ord(_CROCKFORD[b & 31]) for b in range(256))
)


class _RandomPool:
    """Random bytes from the OS in 4 KiB draws: one system call per ~340 alert ids, not per id."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._buffer = b""
        self._offset = 0

    def reset(self) -> None:
        self._buffer = b""
        self._offset = 0

    def take(self, count: int) -> bytes:
        if self._offset + count > len(self._buffer):
            self._buffer = os.urandom(self._size)
            self._offset = 0
        chunk = self._buffer[self._offset : self._offset + count]
        self._offset += count
        return chunk


_POOL = _RandomPool()
# a forked child must not hand out the bytes its parent still holds (the same ids, twice)
os.register_at_fork(after_in_child=_POOL.reset)


def alert_id(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    stamp = []
    for _ in range(10):
        stamp.append(_CROCKFORD[ms & 31])
        ms >>= 5
    rand = _POOL.take(12).translate(_CROCKFORD_OF_BYTE).decode("ascii")
    return "A" + "".join(reversed(stamp)) + rand
