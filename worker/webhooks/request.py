"""From a webhook and an event payload to the HTTP request to send (or why none is sent).

In order, as in Grafana OnCall: the ``trigger_template`` (rendered, stripped and lower-cased, it
must be ``true`` or ``1``; otherwise nothing is sent and nothing is logged), the ``url``
(rendered, then ``ingest.netguard.url_problem``), the ``headers`` (must render a JSON object),
the body (``POST``/``PUT``/``PATCH`` only: the whole payload as JSON with ``forward_all``, else
the rendered ``data``, sent as JSON when it parses as JSON and as UTF-8 text otherwise). A template
error is a :class:`Problem` naming the part (``URL - …``): recorded, never retried.

Headers set by us win over the template's: ``Authorization`` from ``authorization_header`` (or
basic auth from ``username``/``password``), ``Content-Type``, ``User-Agent``,
``X-Alert-Ingest-Delivery`` (the delivery id, the same on every retry), ``X-Alert-Ingest-Event``,
and, with a ``signing_secret``, ``X-Alert-Ingest-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
"<t>.<body>">``. A template cannot set ``Host``, ``Content-Length``, ``Transfer-Encoding`` or
``Connection``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

import orjson

from ingest.netguard import url_problem
from ingest.settings import Settings
from ingest.webhook import BODY_METHODS, Webhook
from templates_engine import Limits, freeze, get_engine
from worker.webhooks.payload import escaped

USER_AGENT = "alert-ingest-webhooks/1"
DELIVERY_HEADER = "X-Alert-Ingest-Delivery"
EVENT_HEADER = "X-Alert-Ingest-Event"
SIGNATURE_HEADER = "X-Alert-Ingest-Signature"
_OURS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


@dataclass
class Prepared:
    url: str
    method: str
    headers: dict[str, str]
    body: bytes | None
    trigger_output: str = ""
    payload_json: bytes | None = None  # the payload as JSON when the body is it (forward_all)


@dataclass
class Skip:
    """The trigger template said no."""

    trigger_output: str


@dataclass
class Problem:
    """A template or URL problem: recorded under ``part`` (``URL``, ``Headers``...)."""

    part: str
    message: str
    url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return f"{self.part} - {self.message}"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


_MARKERS = ("{{", "{%", "{#")


def _render(source: str, context: dict[str, Any], limits: Limits) -> tuple[str | None, str]:
    if not source.endswith("\n") and not any(m in source for m in _MARKERS):
        return source, ""  # plain text (most URLs): what rendering would give, without the cost
    result = get_engine(limits).render(source, freeze(context))
    if result.ok and result.text is not None:
        return result.text, ""
    return None, result.message or "Template Error"


def prepare(
    webhook: Webhook,
    payload: dict[str, Any],
    *,
    delivery_id: str,
    settings: Settings,
    limits: Limits,
    now: int,
) -> Prepared | Skip | Problem:
    trigger_output = ""
    if webhook.trigger_template:
        out, error = _render(webhook.trigger_template, payload, limits)
        if out is None:
            return Problem("Trigger", error)
        trigger_output = out
        if out.strip().lower() not in ("true", "1"):
            return Skip(out)
    url, error = _render(webhook.url, payload, limits)
    if url is None:
        return Problem("URL", error)
    url = url.strip()
    problem = url_problem(url, settings.own_urls, settings.webhook_allowed_networks)
    if problem:
        return Problem("URL", problem, url)
    context = escaped(payload) if webhook.headers or webhook.data else payload
    headers: dict[str, str] = {}
    if webhook.headers:
        text, error = _render(webhook.headers, context, limits)
        parsed: Any = None
        if text is not None:
            try:
                parsed = orjson.loads(text)
            except orjson.JSONDecodeError:
                error = "Template did not result in json/dict"
        if not isinstance(parsed, dict):
            return Problem("Headers", error or "Template did not result in json/dict", url)
        headers = {str(k): str(v) for k, v in parsed.items() if str(k).lower() not in _OURS}
    body: bytes | None = None
    payload_json: bytes | None = None
    content_type = ""
    if webhook.http_method in BODY_METHODS:
        if webhook.forward_all:
            payload_json = body = orjson.dumps(payload)
            content_type = "application/json"
        elif webhook.data:
            text, error = _render(webhook.data, context, limits)
            if text is None:
                return Problem("Data", error, url)
            body = text.encode()
            content_type = _content_type(text)
    sent = {k: v for k, v in headers.items() if k.lower() not in _AUTH_AND_OURS}
    chosen = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if body is not None and (chosen or content_type):
        sent["Content-Type"] = chosen or content_type
    sent["User-Agent"] = USER_AGENT
    sent[DELIVERY_HEADER] = delivery_id
    sent[EVENT_HEADER] = str(payload.get("event", {}).get("type", ""))
    if webhook.authorization_header:
        sent["Authorization"] = webhook.authorization_header
    elif webhook.username and webhook.password:
        pair = f"{webhook.username}:{webhook.password}".encode()
        sent["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    elif "authorization" in {k.lower() for k in headers}:
        sent["Authorization"] = next(v for k, v in headers.items() if k.lower() == "authorization")
    if webhook.signing_secret:
        sent[SIGNATURE_HEADER] = sign(webhook.signing_secret, now, body or b"")
    return Prepared(url, webhook.http_method, sent, body, trigger_output, payload_json)


_AUTH_AND_OURS = frozenset(
    {"authorization", "content-type", "user-agent", "x-alert-ingest-delivery",
     "x-alert-ingest-event", "x-alert-ingest-signature"}
)  # fmt: skip


def _content_type(text: str) -> str:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return "text/plain; charset=utf-8"
    return "application/json"
