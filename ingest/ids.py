"""Public ids and secrets.

Object ids have Grafana OnCall's shape: a one-letter prefix and 12 characters of
``ABCDEFGHIJKLMNPQRSTUVWXYZ123456789`` (no ``O``, no ``0``); alerts too (``A`` + 12), assigned at
ingest. Ids carry no time: whatever lists things in time order uses the index scores. On a
collision the caller draws a longer id (up to 20 characters, like Grafana OnCall's column). Ids
made before OnCall-shaped alert ids (``A`` + 22 characters with digits ``0``-``9``) keep working:
an id is only ever looked up, never parsed. Link tokens are 32 random ``[A-Za-z0-9]`` (about 190
bits).
"""

from __future__ import annotations

import os
import secrets
import string

PUBLIC_ID_ALPHABET = "ABCDEFGHIJKLMNPQRSTUVWXYZ123456789"
_TOKEN_ALPHABET = string.ascii_letters + string.digits


def public_id(prefix: str, length: int = 12) -> str:
    return prefix + "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(length))


def link_token(length: int = 32) -> str:
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(length))


def api_token() -> str:
    """A new API token: ``aik_`` + 40 random ``[A-Za-z0-9]`` characters."""
    return "aik_" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(40))


# Bytes below 238 (7 x 34) map uniformly onto the 34 characters; the others are skipped. One
# urandom call serves ~300 alert ids: twelve ``secrets.choice`` calls cost ~25 µs per id on the
# link hot path.
_ALPHABET_OF_BYTE = bytes(ord(PUBLIC_ID_ALPHABET[b % len(PUBLIC_ID_ALPHABET)]) for b in range(256))
_SKIPPED_BYTES = bytes(range(7 * len(PUBLIC_ID_ALPHABET), 256))
MAX_ID_LENGTH = 20


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


def alert_id(length: int = 12) -> str:
    """``A`` + ``length`` characters of ``PUBLIC_ID_ALPHABET``, from the pooled random bytes."""
    chars = b""
    while len(chars) < length:
        chars += _POOL.take(length + 4).translate(_ALPHABET_OF_BYTE, _SKIPPED_BYTES)
    return "A" + chars[:length].decode("ascii")
