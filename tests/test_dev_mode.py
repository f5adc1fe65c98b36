"""``alert-ingest dev`` from a clean folder: the printed curl gives an alert group in the API."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from alert_ingest.dev import dev_token
from ingest.embedded_redis import EmbeddedRedis, free_port
from ingest.store import tokens

pytestmark = pytest.mark.slow


async def read_banner(stdout: asyncio.StreamReader, within: float = 60) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        raw = await asyncio.wait_for(stdout.readline(), deadline - time.monotonic())
        if not raw:
            break
        lines.append(raw.decode().rstrip("\n"))
        if lines[-1].startswith("aik_"):  # the token is the banner's last line
            return lines
    raise AssertionError("dev mode printed no banner:\n" + "\n".join(lines))


async def start_dev(tmp_path: Path, port: int, data: str) -> asyncio.subprocess.Process:
    """``alert-ingest dev`` with its stdout and stderr (the children's logs) in one pipe."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERT_INGEST_")}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alert_ingest.cli", "dev", "--port", str(port),
        "--data-dir", str(tmp_path / data), cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


async def stop_dev(proc: asyncio.subprocess.Process) -> list[str]:
    """Ctrl-C; the lines it printed from then on."""
    assert proc.stdout is not None
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    rest, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    return rest.decode().splitlines()


async def tokens_list(banner: list[str]) -> list[str]:
    """``alert-ingest tokens list --org demo`` in "another shell" set up as the banner says."""
    [export] = [line.strip() for line in banner if line.strip().startswith("export ")]
    name, _, value = export.removeprefix("export ").partition("=")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERT_INGEST_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alert_ingest.cli", "tokens", "list", "--org", "demo",
        env={**env, name: shlex.split(value)[0]}, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0
    return out.decode().splitlines()


async def test_second_dev_restart_and_a_banner_whose_token_is_last(tmp_path: Path) -> None:
    port = free_port()
    first = await start_dev(tmp_path, port, "data")
    assert first.stdout is not None
    try:
        banner = await read_banner(first.stdout)
        token = banner[-1]
        started = [i for i, line in enumerate(banner) if '"worker started"' in line]
        assert started and started[0] < banner.index(
            "alert-ingest dev is running (Ctrl-C stops everything)"
        )
        assert [line.split("\t")[3] for line in await tokens_list(banner)] == ["active"]
        # a second dev on the same port: one line, non-zero, nothing started
        second = await start_dev(tmp_path, port, "other")
        out, _ = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode == 1
        [line] = out.decode().splitlines()
        assert f"port {port} is already in use" in line
        assert not (tmp_path / "other" / "redis").exists()
    finally:
        after = await stop_dev(first)
    assert not any('"worker started"' in line or "ingest.migrate" in line for line in after)
    again = await start_dev(tmp_path, port, "data")
    assert again.stdout is not None
    try:
        rerun = await read_banner(again.stdout)
        assert rerun[-1] == token  # the previous run's token, reused
        assert "reused" in rerun[-2]
        [listed] = await tokens_list(rerun)  # no second all-scope token
        assert listed.split("\t")[3] == "active"
    finally:
        await stop_dev(again)


async def test_a_dev_token_is_reused_while_valid_else_replaced(
    redis: Redis, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    saved = tmp_path / "dev-token.json"
    secret, reused = await dev_token(redis_server.url, saved)
    assert not reused and saved.stat().st_mode & 0o077 == 0  # the secret is for its owner only
    assert await dev_token(redis_server.url, saved) == (secret, True)
    [token] = await tokens.list_tokens(redis, "demo")
    await tokens.revoke_token(redis, token.id)
    replaced, reused = await dev_token(redis_server.url, saved)
    assert not reused and replaced != secret
    live = [t for t in await tokens.list_tokens(redis, "demo") if t.revoked_at is None]
    assert len(live) == 1 and await tokens.authenticate(redis, replaced) is not None
    saved.write_text(json.dumps({"id": live[0].id, "secret": "aik_not-the-secret"}))
    third, reused = await dev_token(redis_server.url, saved)  # a saved secret that fails
    assert not reused and await tokens.authenticate(redis, replaced) is None  # revoked
    live = [t for t in await tokens.list_tokens(redis, "demo") if t.revoked_at is None]
    assert len(live) == 1 and await tokens.authenticate(redis, third) is not None


async def test_dev_mode_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERT_INGEST_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alert_ingest.cli", "dev", "--port", str(port),
        "--data-dir", str(tmp_path / "data"),
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        banner = await read_banner(proc.stdout)
        text = "\n".join(banner)
        token = banner[-1]
        post = next(line.strip() for line in banner if line.strip().startswith("curl -sS -X POST"))
        show = next(line.strip() for line in banner if "alert_groups" in line)
        assert f"http://localhost:{port}" in text and "embedded" in text
        if shutil.which("curl"):
            curl = await asyncio.create_subprocess_shell(post, stdout=asyncio.subprocess.PIPE)
            out, _ = await curl.communicate()
            assert out.decode().strip() == '"Ok."'
        else:  # the same request, without curl
            args = shlex.split(post)
            data = _read(args[args.index("--data") + 1].lstrip("@"))
            async with aiohttp.ClientSession() as session:
                headers = {"Content-Type": "application/json"}
                async with session.post(args[-1], data=data, headers=headers) as resp:
                    assert resp.status == 200
        groups_url = re.search(r"http://\S+/api/v1/alert_groups/", show)
        assert groups_url is not None and token in show
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                async with session.get(groups_url.group(0), headers={"Authorization": token}) as r:
                    body = await r.json()
                if body["count"] == 1:
                    break
                await asyncio.sleep(0.1)
        assert body["count"] == 1
        assert body["results"][0]["alerts_count"] == 1
        assert body["results"][0]["state"] == "firing"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0
    await asyncio.sleep(0.2)
    survivors = _processes_mentioning(str(tmp_path)) + _processes_in_session(proc.pid)
    assert survivors == [], survivors  # api, worker and redis-server all stopped


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def _processes() -> list[tuple[str, str, bytes]]:
    """(pid, stat, cmdline) of every live process."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append((entry.name, (entry / "stat").read_text(),
                              (entry / "cmdline").read_bytes()))  # fmt: skip
            except OSError:
                continue
    return found


def _processes_in_session(sid: int) -> list[str]:
    out = []
    for pid, stat, cmdline in _processes():
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(f"{pid}: {cmdline[:80]!r}")
    return out


def _processes_mentioning(text: str) -> list[str]:
    """The embedded redis-server runs in a session of its own, with its data dir on the line."""
    return [f"{pid}: {cmd[:80]!r}" for pid, _, cmd in _processes() if text.encode() in cmd]
