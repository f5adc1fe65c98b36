"""Real ``alert-ingest`` processes (api, worker) for fault and replica tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

from ingest.embedded_redis import free_port


class Service:
    """One child process; ``url`` is set for an api."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, url: str = "") -> None:
        self.args = args
        self.env = env
        self.log = log
        self.url = url
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "alert_ingest.cli", *self.args],
                env=self.env,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def stop_within(self, sig: int, seconds: float) -> int | None:
        """Send ``sig``; the exit code, or None when the process outlived ``seconds`` (killed)."""
        assert self.process is not None
        os.killpg(self.process.pid, sig)
        try:
            return self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def wait_for_log(self, text: str, within: float = 30) -> None:
        """Poll the log until ``text`` appears in it."""
        deadline = time.monotonic() + within
        while text.encode() not in self.log.read_bytes():
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} not logged in {within}s: {self.log.read_text()}")
            time.sleep(0.05)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def stop(self) -> None:
        self.signal(signal.SIGTERM)


def environment(redis_url: str, **extra: str) -> dict[str, str]:
    big = "1000000/1m"
    env = {
        **os.environ,
        "ALERT_INGEST_REDIS_URL": redis_url,
        "ALERT_INGEST_RATE_LIMIT_INTEGRATION": big,
        "ALERT_INGEST_RATE_LIMIT_ORGANIZATION": big,
        "ALERT_INGEST_RATE_LIMIT_API": big,
        "ALERT_INGEST_BASE_URL": "http://testserver",
        "ALERT_INGEST_LOG_LEVEL": "warning",
    }
    env.update(extra)
    return env


def api(env: dict[str, str], log_dir: Path) -> Service:
    port = free_port()
    service = Service(["api", "--host", "127.0.0.1", "--port", str(port)], env,
                      log_dir / f"api-{port}.log", f"http://127.0.0.1:{port}")  # fmt: skip
    service.start()
    return service


def worker(env: dict[str, str], log_dir: Path, concurrency: int = 20) -> Service:
    port = free_port()
    args = ["worker", "--concurrency", str(concurrency), "--metrics-port", str(port)]
    service = Service(args, env, log_dir / f"worker-{port}.log", f"http://127.0.0.1:{port}")
    service.start()
    return service


async def wait_ready(url: str, path: str = "/health/ready", within: float = 20) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url + path) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{url}{path} not ready in {within}s")


@contextmanager
def running(*services: Service) -> Iterator[None]:
    try:
        yield
    finally:
        for service in services:
            service.kill()
