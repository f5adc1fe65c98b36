"""Every command fails in one line on stderr, naming the cause and the variable, no traceback.

Exit 2 for bad configuration, 1 for an unreachable dependency (Redis, a port to listen on).
Real ``alert-ingest`` processes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from ingest.embedded_redis import EmbeddedRedis

UNREACHABLE = "redis://:hunter2@127.0.0.1:1/0"  # nothing listens on port 1; a password to hide


def run(args: list[str], **env: str) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALERT_INGEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "alert_ingest.cli", *args],
        env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("alert-ingest: "), err
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["tokens", "list"],
        ["tokens", "create", "--org", "acme"],
        ["tokens", "revoke", "tok1"],
        ["dlq", "list"],
        ["dlq", "replay"],
        ["migrate"],
        ["import", "oncall", "--url", "http://127.0.0.1:9", "--token", "t", "--org", "acme"],
    ],
    ids=lambda args: "-".join(args[:2]),
)
def test_unreachable_redis_is_one_line_and_exit_1(args: list[str]) -> None:
    code, out, err = run(args, ALERT_INGEST_REDIS_URL=UNREACHABLE)
    line = one_line(err)
    assert code == 1, err
    assert not out.strip(), out  # nothing else first (import printed its plan's header)
    assert "cannot reach Redis at redis://:***@127.0.0.1:1/0 (ALERT_INGEST_REDIS_URL)" in line
    assert "hunter2" not in err


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("REDIS_URL", "redis://127.0.0.1:notaport/0", "port 'notaport'"),
        ("REDIS_URL", "redis+sentinel://127.0.0.1:26379", "Sentinel service name"),
        ("REDIS_URL", "redis+sentinel://:pw@s1:26379,s2:x/primary", "port 'x'"),
        ("REDIS_URL", "redis://:secret@127.0.0.1:6379/zero", "database 'zero'"),
        ("REDIS_URL", "127.0.0.1:6379", "must start with"),
        ("PORT", "80a", "not an integer"),
        ("PORT", "70000", "out of range"),
        ("RATE_LIMIT_API", "fast", "is not a rate"),
        ("LOG_LEVEL", "loud", "is not one of"),
        ("BASE_URL", "ftp://example.com", "must start with"),
        ("WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/33", "10.0.0.0/33"),
        ("SERVE", "everything", "is not one of"),
        ("REDIS_MIN_REPLICAS", "-1", "out of range"),
        ("METRICS_PORT", "99999", "out of range"),
        ("METRICS_PORT", "8080", "is the api port too"),
        ("ACCESS_LOG", "maybe", "is not one of 1, true"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(name: str, value: str, reason: str) -> None:
    code, _, err = run(["api"], **{f"ALERT_INGEST_{name}": value})
    line = one_line(err)
    assert code == 2, err
    assert f"configuration error: ALERT_INGEST_{name}: " in line and reason in line, line
    assert "secret" not in line and ":pw@" not in line


@pytest.mark.parametrize("command", ["api", "worker"])
def test_a_port_in_use_is_one_line_and_exit_1(command: str, redis_server: EmbeddedRedis) -> None:
    """Redis is reachable (the test's own), so the command gets as far as listening; what it
    logged on the way (JSON lines, such as a first start's index build) may come first."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        flags = ["--port", port] if command == "api" else ["--metrics-port", port]
        env = {"ALERT_INGEST_HOST": "127.0.0.1", "ALERT_INGEST_REDIS_URL": redis_server.url}
        code, _, err = run([command, *flags], **env)
    logged = [line for line in err.splitlines() if line.startswith('{"ts":')]
    unlogged = "\n".join(line for line in err.splitlines() if line not in logged)
    assert code == 1 and "address already in use" in one_line(unlogged), err


@pytest.mark.parametrize("args", [["worker"], ["dev"], ["tokens", "list"], ["dlq", "list"]])
def test_every_command_checks_the_configuration_first(args: list[str]) -> None:
    code, _, err = run(args, ALERT_INGEST_REDIS_URL="redis+sentinel://127.0.0.1:26379")
    assert code == 2 and "Sentinel service name" in one_line(err), err
