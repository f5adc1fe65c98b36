"""Every command fails in one line on stderr, naming the cause and the variable, no traceback.

Exit 2 for bad configuration, 1 for an unreachable dependency (Redis, a port to listen on).
Real ``alert-ingest`` processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

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


STARTED = "started"
LAUNCH = (
    f"from alert_ingest.entry import main; print({STARTED!r}, flush=True); raise SystemExit(main())"
)


@pytest.mark.parametrize("delay", [0.02, 0.05, 0.15, 0.3])
def test_ctrl_c_while_starting_is_130_without_a_traceback(delay: float) -> None:
    """Ctrl-C while the command's modules are still being imported (about half a second) or
    while it reads its settings ends it with 130 and nothing on stderr, as Ctrl-C later does.
    The process says when Python itself has started and the light entry module is loaded, so
    the signal lands in our part, not in Python's own start-up (which no program can catch)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALERT_INGEST_")}
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "worker"],
        env={**clean, "ALERT_INGEST_REDIS_URL": UNREACHABLE},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None and process.stdout.readline().strip() == STARTED
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert process.returncode in (130, 0), (process.returncode, err)  # 0: a worker's clean stop
    if delay == 0.02:  # certainly still importing
        assert process.returncode == 130 and not err.strip(), err


def test_the_console_script_is_the_entry_that_catches_ctrl_c() -> None:
    script = Path(sys.executable).with_name("alert-ingest").read_text()
    assert "from alert_ingest.entry import main" in script, script
