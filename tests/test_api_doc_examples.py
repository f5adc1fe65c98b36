"""Every curl example of the Integrations HTTP API document, run as written against a real api.

The commands are the document's, with ``{{API_URL}}`` and the token substituted and the example
integration id replaced by the one created. They run through ``curl`` when it is installed (and
through aiohttp with the same method, headers and body otherwise).
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from redis.asyncio import Redis

from ingest.embedded_redis import EmbeddedRedis
from ingest.store import tokens
from tests.conftest import ALL_SCOPES
from tests.processes import api, environment, running, wait_ready

pytestmark = pytest.mark.slow

CREATE = """curl "{{API_URL}}/api/v1/integrations/" \\
  --request POST \\
  --header "Authorization: Bearer meowmeowmeow" \\
  --header "Content-Type: application/json" \\
  --header "X-Grafana-URL: https://your-stack.grafana.net" \\
  --data '{
      "type":"grafana"
  }'"""
GET = """curl "{{API_URL}}/api/v1/integrations/CFRPV98RPR1U8/" \\
  --request GET \\
  --header "Authorization: Bearer meowmeowmeow" \\
  --header "Content-Type: application/json" \\
  --header "X-Grafana-URL: https://your-stack.grafana.net\""""
LIST = """curl "{{API_URL}}/api/v1/integrations/" \\
  --request GET \\
  --header "Authorization: Bearer meowmeowmeow" \\
  --header "Content-Type: application/json" \\
  --header "X-Grafana-URL: https://your-stack.grafana.net\""""
UPDATE = """curl "{{API_URL}}/api/v1/integrations/CFRPV98RPR1U8/" \\
  --request PUT \\
  --header "Authorization: Bearer meowmeowmeow" \\
  --header "Content-Type: application/json" \\
  --header "X-Grafana-URL: https://your-stack.grafana.net" \\
  --data '{
    "templates": {
      "grouping_key": null,
      "resolve_signal": null,
      "slack": {
        "title": null,
        "message": null,
        "image_url": null
      }
    }
  }'"""
DELETE = """curl "{{API_URL}}/api/v1/integrations/CFRPV98RPR1U8/" \\
  --request DELETE \\
  --header "Authorization: Bearer meowmeowmeow" \\
  --header "X-Grafana-URL: https://your-stack.grafana.net\""""

DOC_KEYS = {"id", "name", "team_id", "link", "inbound_email", "type", "default_route", "templates"}
TEMPLATE_KEYS = {
    "grouping_key", "resolve_signal", "acknowledge_signal", "source_link", "slack", "web", "sms",
    "phone_call", "telegram", "mobile_app", "email", "msteams",
    "webhook",  # not in the document: OnCall's open-source backend has it
}  # fmt: skip


async def run(command: str, api_url: str, token: str, integration_id: str = "") -> tuple[int, Any]:
    text = command.replace("{{API_URL}}", api_url).replace("meowmeowmeow", token)
    if integration_id:
        text = text.replace("CFRPV98RPR1U8", integration_id)
    args = shlex.split(text.replace("\\\n", " "))
    if shutil.which("curl"):
        proc = await asyncio.create_subprocess_exec(
            *args[:1], "-sS", "-w", "\n%{http_code}", *args[1:], stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        body, _, code = out.decode().rpartition("\n")
        return int(code), orjson.loads(body) if body else None
    url, method, headers, data = args[1], "GET", {}, None
    for flag, value in zip(args[2::2], args[3::2], strict=False):
        if flag == "--request":
            method = value
        elif flag == "--header":
            name, _, header_value = value.partition(": ")
            headers[name] = header_value
        elif flag == "--data":
            data = value.encode()
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, headers=headers, data=data) as resp,
    ):
        raw = await resp.read()
        return resp.status, orjson.loads(raw) if raw else None


@pytest.mark.parametrize("bearer", [True, False])
async def test_document_examples_as_written(
    own_redis_server: EmbeddedRedis, tmp_path: Path, bearer: bool
) -> None:
    redis = Redis.from_url(own_redis_server.url)
    _, secret = await tokens.create_token(redis, "org1", ALL_SCOPES)
    server = api(environment(own_redis_server.url), tmp_path)
    with running(server):
        await wait_ready(server.url)
        commands = [c if bearer else c.replace("Bearer meowmeowmeow", "meowmeowmeow")
                    for c in (CREATE, GET, LIST, UPDATE, DELETE)]  # fmt: skip
        code, created = await run(commands[0], server.url, secret)
        assert code == 201
        assert set(created) >= DOC_KEYS and set(created["templates"]) == TEMPLATE_KEYS
        assert created["name"] == "Grafana :blush:" and created["type"] == "grafana"
        assert created["link"].endswith(
            f"/integrations/v1/grafana/{created['link'].split('/')[-2]}/"
        )
        code, got = await run(commands[1], server.url, secret, created["id"])
        assert code == 200 and got == created
        code, listed = await run(commands[2], server.url, secret)
        assert code == 200 and listed["count"] == 1 and listed["results"] == [created]
        assert set(listed) == {"count", "next", "previous", "results", "current_page_number",
                               "page_size", "total_pages"}  # fmt: skip
        code, updated = await run(commands[3], server.url, secret, created["id"])
        assert code == 200 and updated["templates"] == created["templates"]
        code, _ = await run(commands[4], server.url, secret, created["id"])
        assert code == 204
        code, _ = await run(commands[1], server.url, secret, created["id"])
        assert code == 404
    await redis.aclose()
