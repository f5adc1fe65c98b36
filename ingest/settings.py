"""All configuration of alert-ingest, read once from the environment (and CLI flags), validated.

Every variable is optional and prefixed ``ALERT_INGEST_``:

``REDIS_URL``                 Redis to use: ``redis://``, ``rediss://``, ``unix://`` or
                              ``redis+sentinel://[:pw@]host:port[,host:port...]/service[/db]``.
                              Default ``redis://127.0.0.1:6379/0``; ``alert-ingest dev`` starts an
                              embedded Redis when it is unset.
``BASE_URL``                  Public base URL used to build ``link`` and pagination links.
                              Default ``http://localhost:8080``.
``LINKS_BASE_URL``            Public base URL of the integration links (``link``, heartbeat link),
                              when the ``links`` processes have their own address. Default: the
                              ``BASE_URL``.
``HOST`` / ``PORT``           Where the api listens. Default ``0.0.0.0`` / ``8080``.
``MAX_BODY_BYTES``            Largest accepted request body. Default 2.5 MiB (2621440).
``RATE_LIMIT_INTEGRATION``    Link posts per integration (``<count>/<n><s|m|h>``), ``300/5m``.
``RATE_LIMIT_ORGANIZATION``   Link posts per organization. Default ``900/5m``.
``RATE_LIMIT_API``            Public API requests per token. Default ``300/1m``.
``TEMPLATE_MAX_LENGTH``       Longest template source accepted on save. Default 50000.
``TEMPLATE_MAX_OUTPUT``       Longest rendered output before it is cut. Default 50000.
``TEMPLATE_BUDGET_MS``        Render time budget per template. Default 100.
                              (The three template defaults are the sandbox's own,
                              ``templates_engine.limits.Limits``.)
``MAX_LABELS``                Labels kept per alert group. Default 15.
``RETENTION_DAYS``            How long resolved groups and their alerts are kept. Default 30.
``MAX_ALERTS_PER_GROUP``      Newest alerts kept per group (the count stays exact). Default 1000.
``LOG_LEVEL``                 ``debug``, ``info``, ``warning`` or ``error``. Default ``info``.
``QUEUE_NAME``                arq queue name. Default ``alert-ingest:queue``.
``REDIS_MIN_REPLICAS``        Replicas that must hold an alert's job before the link endpoint
                              answers 2xx (Redis ``WAIT``); 503 when fewer confirm in time.
                              Default 0 (the primary's acknowledgement). See
                              ``docs/operating-redis.md``.
``REDIS_REPLICA_TIMEOUT_MS``  How long to wait for those replicas. Default 500.
``WEBHOOK_ALLOWED_NETWORKS``  Comma-separated CIDRs outgoing webhooks may reach although they are
                              loopback, private, link-local... (``ingest.netguard``). Default
                              empty: only public addresses.
``IMPORT_TOKEN``              OnCall API token for ``alert-ingest import oncall`` when ``--token``
                              is not given (keeps it off the command line). No default.
``ACCESS_LOG``                ``1`` (or ``true``/``yes``/``on``): the api logs one JSON line per
                              request: method, route pattern (never the path: links carry
                              tokens), status, duration_ms. Default ``0``.
``METRICS_PORT``              When set (1-65535), the api serves ``/metrics`` on this port of
                              ``HOST`` instead of its main port (where it then answers 404), so
                              metrics need not be exposed with the public API; the worker's
                              ``--metrics-port`` defaults to it. Default 0: on the main port.
``SERVE``                     What ``alert-ingest api`` serves: ``links`` (integration links and
                              the PagerDuty/Opsgenie endpoints), ``api`` (the public API) or
                              ``all``. Default ``all``.

An invalid value raises :class:`SettingsError` whose message is one line naming the variable.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ingest.netguard import IPNetwork, parse_networks
from templates_engine.evaluate import MAX_LABELS
from templates_engine.limits import DEFAULT_LIMITS

PREFIX = "ALERT_INGEST_"


SERVE_MODES = ("all", "links", "api")


class SettingsError(ValueError):
    """A configuration value is invalid; the message names the variable and the reason."""


@dataclass(frozen=True)
class Rate:
    """``count`` events per ``period`` seconds."""

    count: int
    period: int

    def __str__(self) -> str:
        for unit, seconds in (("h", 3600), ("m", 60)):
            if self.period % seconds == 0:
                return f"{self.count}/{self.period // seconds}{unit}"
        return f"{self.count}/{self.period}s"


_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smh])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


@functools.lru_cache(maxsize=1024)  # the link endpoint parses an integration's override per post
def parse_rate(text: str) -> Rate:
    """Parse ``<count>/<n><s|m|h>`` (``n`` defaults to 1), e.g. ``300/5m``."""
    match = _RATE_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a rate like '300/5m' (<count>/<n><s|m|h>)")
    count = int(match.group(1))
    period = int(match.group(2) or "1") * _UNIT_SECONDS[match.group(3)]
    if count < 1 or period < 1:
        raise ValueError(f"{text!r}: count and period must both be at least 1")
    if period > 86400:
        raise ValueError(f"{text!r}: period must be at most 24h")
    return Rate(count, period)


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    base_url: str = "http://localhost:8080"
    links_base_url: str = ""
    host: str = "0.0.0.0"
    port: int = 8080
    max_body_bytes: int = 2_621_440
    rate_limit_integration: Rate = Rate(300, 300)
    rate_limit_organization: Rate = Rate(900, 300)
    rate_limit_api: Rate = Rate(300, 60)
    template_max_length: int = DEFAULT_LIMITS.template_length
    template_max_output: int = DEFAULT_LIMITS.output_length
    template_budget_ms: int = round(DEFAULT_LIMITS.render_budget * 1000)
    max_labels: int = MAX_LABELS
    retention_days: int = 30
    max_alerts_per_group: int = 1000
    log_level: str = "info"
    queue_name: str = "alert-ingest:queue"
    redis_min_replicas: int = 0
    redis_replica_timeout_ms: int = 500
    webhook_allowed_networks: tuple[IPNetwork, ...] = ()
    # OnCall API token for ``alert-ingest import oncall`` (so it need not be on the command line)
    import_token: str | None = dataclasses.field(default=None, repr=False)
    serve: str = "all"
    access_log: bool = False
    metrics_port: int = 0
    redis_url_from_env: bool = False

    @property
    def link_base(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def links_base(self) -> str:
        """Where the integration links are served (``LINKS_BASE_URL``, else ``BASE_URL``)."""
        return self.links_base_url.rstrip("/") or self.link_base

    @property
    def own_urls(self) -> tuple[str, ...]:
        """This service's own addresses, which an outgoing webhook may not call (a loop)."""
        return tuple(url for url in (self.base_url, self.links_base_url) if url)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _int(name: str, raw: str, lo: int, hi: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{PREFIX}{name}: {raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{PREFIX}{name}: {value} is out of range {lo}..{hi}")
    return value


def _url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in schemes:
        raise SettingsError(
            f"{PREFIX}{name}: {raw!r} must start with one of "
            + ", ".join(s + "://" for s in schemes)
        )
    if parts.scheme not in ("unix",) and not parts.netloc:
        raise SettingsError(f"{PREFIX}{name}: {raw!r} has no host")
    return raw.strip()


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    auth, hosts = parts.netloc.rsplit("@", 1)
    user, colon, _ = auth.partition(":")
    return parts._replace(netloc=f"{user if colon else ''}:***@{hosts}").geturl()


def _redis_url(name: str, raw: str) -> str:
    """A Redis URL redis-py and ``ingest.redis_conn`` can use: ports, service name, db checked."""
    url = _url(name, redacted(raw), ("redis", "rediss", "unix", "redis+sentinel"))
    parts = urlsplit(url)
    if parts.scheme == "unix":
        if not parts.path:
            raise SettingsError(f"{PREFIX}{name}: {url!r} has no socket path")
        return raw.strip()
    hosts = parts.netloc.rsplit("@", 1)[-1].split(",")
    if parts.scheme != "redis+sentinel" and len(hosts) > 1:
        raise SettingsError(f"{PREFIX}{name}: {url!r} names several hosts (only Sentinel may)")
    for host in hosts:
        address, _, port = host.rpartition(":")
        if not address or host.endswith("]"):  # no port (``host``, ``[::1]``)
            address, port = host, ""
        if not (address or port):
            raise SettingsError(f"{PREFIX}{name}: {url!r} has an empty host")
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise SettingsError(f"{PREFIX}{name}: port {port!r} of {url!r} is not a port number")
    path = [p for p in parts.path.split("/") if p]
    if parts.scheme == "redis+sentinel":
        if not path:
            raise SettingsError(
                f"{PREFIX}{name}: {url!r} needs the Sentinel service name as its path "
                "(redis+sentinel://host:26379/<service>[/<db>])"
            )
        path = path[1:]
    if len(path) > 1 or (path and not path[0].isdigit()):
        raise SettingsError(
            f"{PREFIX}{name}: database {'/'.join(path)!r} of {url!r} is not a number"
        )
    return raw.strip()


_INT_FIELDS: dict[str, tuple[int, int]] = {
    "port": (1, 65535),
    "max_body_bytes": (1024, 1 << 30),
    "template_max_length": (100, 10_000_000),
    "template_max_output": (100, 10_000_000),
    "template_budget_ms": (1, 60_000),
    "max_labels": (1, 1000),
    "retention_days": (1, 3650),
    "max_alerts_per_group": (1, 1_000_000),
    "redis_min_replicas": (0, 16),
    "redis_replica_timeout_ms": (1, 60_000),
    "metrics_port": (0, 65535),
}
_RATE_FIELDS = ("rate_limit_integration", "rate_limit_organization", "rate_limit_api")
_FLAGS = {"1": True, "true": True, "yes": True, "on": True,
          "0": False, "false": False, "no": False, "off": False, "": False}  # fmt: skip
_LOG_LEVELS = ("debug", "info", "warning", "error")


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build :class:`Settings` from ``env`` (default ``os.environ``) and explicit overrides."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Settings):
        name = field.name.upper()
        raw = env.get(PREFIX + name)
        if raw is None or field.name == "redis_url_from_env":
            continue
        values[field.name] = _convert(field.name, name, raw)
    values["redis_url_from_env"] = PREFIX + "REDIS_URL" in env
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
    settings = Settings(**values)
    if settings.metrics_port and settings.metrics_port == settings.port:
        raise SettingsError(
            f"{PREFIX}METRICS_PORT: {settings.metrics_port} is the api port too; give it its own"
        )
    return settings


def _convert(field: str, name: str, raw: str) -> Any:
    if field in _INT_FIELDS:
        return _int(name, raw, *_INT_FIELDS[field])
    if field in _RATE_FIELDS:
        try:
            return parse_rate(raw)
        except ValueError as exc:
            raise SettingsError(f"{PREFIX}{name}: {exc}") from None
    if field == "redis_url":
        return _redis_url(name, raw)
    if field in ("base_url", "links_base_url"):
        return _url(name, raw, ("http", "https")).rstrip("/")
    if field == "log_level":
        level = raw.strip().lower()
        if level not in _LOG_LEVELS:
            raise SettingsError(f"{PREFIX}{name}: {raw!r} is not one of {', '.join(_LOG_LEVELS)}")
        return level
    if field == "webhook_allowed_networks":
        try:
            return parse_networks(raw)
        except ValueError as exc:
            raise SettingsError(f"{PREFIX}{name}: {exc}") from None
    if field == "access_log":
        flag = raw.strip().lower()
        if flag not in _FLAGS:
            raise SettingsError(
                f"{PREFIX}{name}: {raw!r} is not one of {', '.join(filter(None, _FLAGS))}"
            )
        return _FLAGS[flag]
    if field == "import_token":
        return raw.strip() or None
    if field == "serve":
        serve = raw.strip().lower()
        if serve not in SERVE_MODES:
            raise SettingsError(f"{PREFIX}{name}: {raw!r} is not one of {', '.join(SERVE_MODES)}")
        return serve
    if field in ("host", "queue_name"):
        if not raw.strip():
            raise SettingsError(f"{PREFIX}{name}: must not be empty")
        return raw.strip()
    raise SettingsError(f"{PREFIX}{name}: not a known setting")  # pragma: no cover
