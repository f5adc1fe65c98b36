"""Settings: every ALERT_INGEST_* value is validated once; a bad one stops with one clear line."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

import templates_engine.evaluate
import templates_engine.limits
from ingest import settings as settings_module
from ingest.settings import Rate, SettingsError, load_settings, parse_rate
from templates_engine import Limits


def test_defaults() -> None:
    settings = load_settings({})
    assert settings.rate_limit_integration == Rate(300, 300)
    assert settings.rate_limit_organization == Rate(900, 300)
    assert settings.rate_limit_api == Rate(300, 60)
    assert settings.max_body_bytes == 2_621_440
    assert settings.redis_url_from_env is False
    assert (settings.redis_min_replicas, settings.redis_replica_timeout_ms) == (0, 500)


def test_engine_defaults_are_read_from_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The template limits and the label cap are written once, in ``templates_engine``: the
    settings module, loaded afresh with other engine values, follows them."""
    monkeypatch.setattr(templates_engine.evaluate, "MAX_LABELS", 7)
    monkeypatch.setattr(templates_engine.limits, "DEFAULT_LIMITS", Limits(template_length=123))
    assert settings_module.__file__ is not None
    spec = importlib.util.spec_from_file_location("settings_probe", settings_module.__file__)
    assert spec is not None and spec.loader is not None
    probe = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "settings_probe", probe)
    spec.loader.exec_module(probe)
    fresh = probe.Settings()
    assert (fresh.max_labels, fresh.template_max_length) == (7, 123)


@pytest.mark.parametrize(
    ("text", "rate"),
    [("300/5m", Rate(300, 300)), ("10/s", Rate(10, 1)), ("1000/1h", Rate(1000, 3600)),
     (" 5 / 30s ", Rate(5, 30))],
)  # fmt: skip
def test_rates(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate
    assert parse_rate(str(rate)) == rate


@pytest.mark.parametrize("text", ["", "300", "300/5d", "0/5m", "x/5m", "5/0m", "1/25h"])
def test_bad_rates(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("PORT", "http", "not an integer"),
        ("PORT", "70000", "out of range"),
        ("MAX_BODY_BYTES", "-1", "out of range"),
        ("RATE_LIMIT_INTEGRATION", "lots", "not a rate"),
        ("REDIS_URL", "localhost:6379", "must start with"),
        ("BASE_URL", "ftp://x", "must start with"),
        ("LOG_LEVEL", "loud", "not one of"),
        ("TEMPLATE_BUDGET_MS", "0", "out of range"),
        ("REDIS_MIN_REPLICAS", "-1", "out of range"),
        ("REDIS_MIN_REPLICAS", "one", "not an integer"),
        ("REDIS_REPLICA_TIMEOUT_MS", "0", "out of range"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, reason: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({f"ALERT_INGEST_{name}": value})
    message = str(caught.value)
    assert message.startswith(f"ALERT_INGEST_{name}: ") and reason in message
    assert "\n" not in message


def test_sentinel_url_is_accepted() -> None:
    url = "redis+sentinel://:secret@s1:26379,s2:26379/mymaster/0"
    assert load_settings({"ALERT_INGEST_REDIS_URL": url}).redis_url == url


def test_the_process_stops_with_one_line() -> None:
    env = {"ALERT_INGEST_RATE_LIMIT_API": "fast", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "alert_ingest.cli", "api"], env=env, capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "ALERT_INGEST_RATE_LIMIT_API" in lines[0]
