"""A Grafana OnCall-shaped public API for the import tests (objects and envelopes as OnCall's).

Serves ``/api/v1/{integrations,routes,escalation_chains,webhooks}/`` with page-number pagination
(``next``/``previous`` built from OnCall's own ``BASE_URL``, which is *not* this server, as when
OnCall sits behind another name), raw-token auth (403 ``Invalid token.`` otherwise) and OnCall's
throttle: a request whose number is listed in ``throttle`` closes the API for ``throttle_window``
seconds, and every request meanwhile gets a 429 with ``Retry-After`` (the time left, rounded down,
as OnCall sends it: ``0`` in the last second) and ``RateLimit-Reset`` (rounded up).
"""

from __future__ import annotations

import math
import secrets
import string
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

ONCALL_BASE = "http://oncall.example"
ID_ALPHABET = "ABCDEFGHIJKLMNPQRSTUVWXYZ123456789"
TOKEN = "oncall-api-token-0123456789abcdef"
BACKENDS = ("mobile_app", "mobile_app_critical", "email", "webhook")


def oncall_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(ID_ALPHABET) for _ in range(12))


def link_token() -> str:
    """OnCall's link token: 25 characters of ``[A-Za-z0-9]``."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(25))


def templates(**set_: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "grouping_key": None,
        "resolve_signal": None,
        "acknowledge_signal": None,
        "source_link": None,
        "slack": {"title": None, "message": None, "image_url": None},
        "web": {"title": None, "message": None, "image_url": None},
        "sms": {"title": None},
        "phone_call": {"title": None},
        "telegram": {"title": None, "message": None, "image_url": None},
        "mobile_app": {"title": None, "message": None},
        "email": {"title": None, "message": None},
        "webhook": {"title": None, "message": None, "image_url": None},
    }
    for key, value in set_.items():
        if isinstance(value, dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def destinations() -> dict[str, Any]:
    out: dict[str, Any] = {
        "slack": {"channel_id": None, "enabled": True},
        "telegram": {"id": None, "enabled": False},
    }
    out.update({name: {"id": None, "enabled": False} for name in BACKENDS})
    return out


class FakeOnCall:
    def __init__(self, page_size: int = 3, base: str = ONCALL_BASE) -> None:
        self.page_size = page_size
        self.base = base  # OnCall's BASE_URL, which its links and "next" are built from
        self.chains: list[dict[str, Any]] = []
        self.integrations: list[dict[str, Any]] = []
        self.routes: list[dict[str, Any]] = []
        self.webhooks: list[dict[str, Any]] = []
        self.throttle: set[int] = set()  # request numbers that close the API for a while
        self.throttle_window = 0.9  # under a second: Retry-After 0, RateLimit-Reset 1
        self.reset_header = True  # send RateLimit-Reset along with Retry-After
        self.clock: Callable[[], float] = time.monotonic
        self._closed_until = 0.0
        self.requests: list[tuple[str, int]] = []  # (path with query, status)

    def chain(self, name: str) -> str:
        chain_id = oncall_id("F")
        self.chains.append({"id": chain_id, "name": name, "team_id": None})
        return chain_id

    def integration(
        self,
        name: str,
        kind: str,
        chain: str | None = None,
        heartbeat: bool = True,
        **template_changes: Any,
    ) -> dict[str, Any]:
        integration_id, route_id = oncall_id("C"), oncall_id("R")
        token = link_token()
        link = None if kind in ("manual", "inbound_email") else (
            f"{self.base}/integrations/v1/{kind}/{token}/"
        )  # fmt: skip
        item = {
            "maintenance_mode": None,
            "maintenance_started_at": None,
            "maintenance_end_at": None,
            "id": integration_id,
            "name": name,
            "description_short": None,
            "team_id": None,
            "link": link,
            "inbound_email": f"{token}@inbound.oncall.example" if kind == "inbound_email" else None,
            "type": kind,
            "templates": templates(**template_changes),
            "heartbeat": {"link": f"{link}heartbeat/"} if heartbeat and link else None,
            "default_route": {"id": route_id, "escalation_chain_id": chain, **destinations()},
        }
        self.integrations.append(item)
        self.routes.append(self._route(route_id, integration_id, 0, "regex", None, chain, True))
        return item

    def route(
        self,
        integration: dict[str, Any],
        position: int,
        routing_type: str,
        expression: str | None,
        chain: str | None = None,
    ) -> dict[str, Any]:
        route = self._route(
            oncall_id("R"), integration["id"], position, routing_type, expression, chain, False
        )
        self.routes.append(route)
        return route

    def webhook(self, name: str, trigger_type: str, url: str, **fields: Any) -> dict[str, Any]:
        """An outgoing webhook as OnCall shows it (secrets masked when set)."""
        item: dict[str, Any] = {
            "id": oncall_id("WH"),
            "name": name,
            "is_webhook_enabled": True,
            "team": None,
            "data": None,
            "username": None,
            "password": None,
            "authorization_header": None,
            "trigger_template": None,
            "headers": None,
            "url": url,
            "forward_all": True,
            "http_method": "POST",
            "trigger_type": trigger_type,
            "integration_filter": None,
            "preset": None,
        }
        item.update(fields)
        self.webhooks.append(item)
        return item

    @staticmethod
    def _route(
        route_id: str,
        integration_id: str,
        position: int,
        routing_type: str,
        expression: str | None,
        chain: str | None,
        is_default: bool,
    ) -> dict[str, Any]:
        return {
            "position": position,
            "id": route_id,
            "integration_id": integration_id,
            "escalation_chain_id": chain,
            "routing_type": routing_type,
            "routing_regex": expression,
            "is_the_last_route": is_default,
            **destinations(),
        }

    def _ordered_routes(self) -> list[dict[str, Any]]:
        order = {item["id"]: n for n, item in enumerate(self.integrations)}
        return sorted(
            (r for r in self.routes if r["integration_id"] in order),
            key=lambda r: (order[r["integration_id"]], r["is_the_last_route"], r["position"]),
        )

    async def handle(self, request: web.Request) -> web.Response:
        number = len(self.requests) + 1
        if request.headers.get("Authorization") != TOKEN:
            self.requests.append((request.path_qs, 403))
            return web.json_response({"detail": "Invalid token."}, status=403)
        now = self.clock()
        if number in self.throttle:
            self._closed_until = now + self.throttle_window
        if now < self._closed_until:
            self.requests.append((request.path_qs, 429))
            left = self._closed_until - now
            headers = {"Retry-After": str(math.floor(left))}
            if self.reset_header:
                headers["RateLimit-Reset"] = str(math.ceil(left))
            return web.json_response(
                {"detail": f"Request was throttled. Expected available in {math.ceil(left)} "
                 "seconds."},
                status=429,
                headers=headers,
            )  # fmt: skip
        self.requests.append((request.path_qs, 200))
        resource = request.match_info["resource"]
        items = {
            "integrations": self.integrations,
            "routes": self._ordered_routes(),
            "escalation_chains": self.chains,
            "webhooks": self.webhooks,
        }[resource]
        return web.json_response(self._page(request, resource, items))

    def _page(self, request: web.Request, resource: str, items: list[Any]) -> dict[str, Any]:
        def number(name: str, default: int) -> int:
            raw = request.query.get(name, "")
            return int(raw) if raw.isdigit() and int(raw) >= 1 else default

        size = min(number("perpage", 50), self.page_size)
        total_pages = max(1, -(-len(items) // size))
        page = min(number("page", 1), total_pages)

        def link(target: int) -> str:
            query = {k: v for k, v in request.query.items() if k != "page"}
            if target > 1:
                query["page"] = str(target)
            return f"{self.base}/api/v1/{resource}/?{urlencode(sorted(query.items()))}"

        return {
            "count": len(items),
            "next": link(page + 1) if page < total_pages else None,
            "previous": link(page - 1) if page > 1 else None,
            "results": items[(page - 1) * size : page * size],
            "page_size": size,
            "current_page_number": page,
            "total_pages": total_pages,
        }

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/{resource:integrations|routes|escalation_chains|webhooks}/",
                           self.handle)  # fmt: skip
        return app
