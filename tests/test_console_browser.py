"""The web console in a real headless Chromium, through real ``alert-ingest api`` and ``worker``
processes on a private Redis.

One browser serves the whole module and the tests run in order, as a user would: sign in, create
an integration, edit its grouping template in the playground and watch the preview follow, save,
post an alert to the link and see its group appear without a reload, acknowledge it, read its
trace; then hostile payloads, a webhook whose deliveries (to a loopback receiver the test runs)
show up in its log, a read-only token, and CSRF. The tests save screenshots of the main
pages into ``docs/screenshots/`` (shown in the README).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from ingest.embedded_redis import EmbeddedRedis, free_port
from ingest.store import tokens
from tests.conftest import ALL_SCOPES
from tests.processes import Service, environment, running, wait_ready, worker
from tests.programs import require_program

pytestmark = pytest.mark.slow
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
CHROME_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
WAIT = 15
HOSTILE = {
    "id": "evil",
    "title": "<script>window.pwned=1</script>",
    "message": '<img src=x onerror="window.pwned=1">',
    "link": "javascript:window.pwned=1",
}


RECEIVER_ANSWER = b'{"ok": true, "note": "<script>window.pwned=3</script><img src=x onerror=x()>"}'


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver on loopback: records each request, answers ``RECEIVER_ANSWER``."""

    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(RECEIVER_ANSWER)))
        self.end_headers()
        self.wfile.write(RECEIVER_ANSWER)

    def log_message(self, format: str, *args: Any) -> None:
        return


class Stack:
    def __init__(self, url: str, secrets: dict[str, str]) -> None:
        self.url = url
        self.secrets = secrets
        self.state: dict[str, Any] = {}
        self.receiver_url = ""


async def _make_tokens(url: str) -> dict[str, str]:
    redis = Redis.from_url(url)
    try:
        _, full = await tokens.create_token(redis, "acme", ALL_SCOPES, name="alice")
        reader_scopes = ["integrations:read", "alert_groups:read"]
        _, reader = await tokens.create_token(redis, "acme", reader_scopes, name="reader")
    finally:
        await redis.aclose()
    return {"full": full, "reader": reader}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("console")
    server = EmbeddedRedis(folder / "redis")
    server.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    env = environment(server.url, ALERT_INGEST_BASE_URL=url,
                      ALERT_INGEST_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8")  # fmt: skip
    the_api = Service(["api", "--host", "127.0.0.1", "--port", str(port)], env,
                      folder / "api.log", url)  # fmt: skip
    the_api.start()
    the_worker = worker(env, folder)
    try:
        with running(the_api, the_worker):
            asyncio.run(wait_ready(url))
            stack = Stack(url, asyncio.run(_make_tokens(server.url)))
            stack.receiver_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
            yield stack
    finally:
        receiver.shutdown()
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = require_program("chromium")
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument("--window-size=1280,900")
        driver = webdriver.Chrome(
            options=options, service=DriverService(require_program("chromedriver"))
        )
        try:
            yield driver
        finally:
            driver.quit()


def wait_for(driver: WebDriver, check: Callable[[WebDriver], Any], timeout: float = WAIT) -> Any:
    ignored = (StaleElementReferenceException,)  # the page reloaded under the check
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(
        check
    )


def cdp(driver: WebDriver, command: str, args: dict[str, Any]) -> None:
    assert isinstance(driver, webdriver.Chrome)
    driver.execute_cdp_cmd(command, args)


def shot(driver: WebDriver, name: str, width: int = 1280) -> None:
    """A full-page screenshot at ``width`` CSS pixels (390: a phone) into ``docs/screenshots``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}
    cdp(driver, "Emulation.setDeviceMetricsOverride", metrics)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    metrics["height"] = min(max(height, 600), 2400)
    cdp(driver, "Emulation.setDeviceMetricsOverride", metrics)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    cdp(driver, "Emulation.clearDeviceMetricsOverride", {})


def post_alert(link: str, payload: dict[str, Any]) -> None:
    request = urllib.request.Request(
        link, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200


def sign_in(driver: WebDriver, stack: Stack, which: str) -> None:
    driver.get(stack.url + "/console/sign-in")
    field = driver.find_element(By.ID, "token")
    field.send_keys(stack.secrets[which])
    field.send_keys(Keys.ENTER)
    wait_for(driver, lambda d: d.current_url.endswith("/console/integrations"))


def fetch_status(driver: WebDriver, method: str, path: str, with_csrf: bool) -> int:
    """``fetch`` from inside the signed-in page (same origin, its cookie); the answer's status."""
    script = """
        const [method, path, withCsrf, done] = arguments;
        const headers = {"Content-Type": "application/json"};
        const meta = document.querySelector('meta[name="csrf-token"]');
        if (withCsrf) headers["X-CSRF-Token"] = meta.content;
        fetch(path, {method, headers, body: JSON.stringify({name: "changed"})})
            .then((r) => done(r.status), () => done(-1));
    """
    return int(driver.execute_async_script(script, method, path, with_csrf))


def test_sign_in_and_create_an_integration(browser: WebDriver, stack: Stack) -> None:
    browser.get(stack.url + "/")
    wait_for(browser, lambda d: d.current_url.endswith("/console/sign-in"))
    assert browser.switch_to.active_element.get_attribute("id") == "token"  # keyboard first
    browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Sign in"
    shot(browser, "sign-in", 390)
    sign_in(browser, stack, "full")
    assert stack.secrets["full"] not in browser.page_source
    Select(browser.find_element(By.ID, "new-type")).select_by_value("webhook")
    browser.find_element(By.ID, "new-name").send_keys("Checkout service")
    browser.find_element(By.CSS_SELECTOR, "#create-integration button[type=submit]").click()
    wait_for(browser, lambda d: "/console/integrations/C" in d.current_url)
    stack.state["integration"] = browser.current_url.rsplit("/", 1)[-1]
    stack.state["link"] = browser.find_element(By.ID, "link").text
    assert stack.state["link"].startswith(stack.url + "/integrations/v1/webhook/")
    shot(browser, "integration")


def test_routes_take_an_escalation_chain(browser: WebDriver, stack: Stack) -> None:
    request = urllib.request.Request(
        stack.url + "/api/v1/escalation_chains/", data=json.dumps({"name": "Night shift"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": stack.secrets["full"]},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 201
    browser.get(f"{stack.url}/console/integrations/{stack.state['integration']}")
    browser.find_element(By.ID, "new-route-expr").send_keys("zzz-matches-nothing")
    Select(browser.find_element(By.ID, "new-route-chain")).select_by_visible_text("Night shift")
    browser.find_element(By.CSS_SELECTOR, "#add-route button[type=submit]").click()
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "ol.routes > li")) == 2)
    pickers = browser.find_elements(By.CSS_SELECTOR, "ol.routes select[name=escalation_chain_id]")
    chosen = [Select(p).first_selected_option.text for p in pickers]
    assert chosen == ["Night shift", "(none)"]
    Select(pickers[1]).select_by_visible_text("Night shift")
    browser.execute_script("window.beforeSave = 1")
    pickers[1].find_element(By.XPATH, "ancestor::form//button[@type='submit']").click()
    wait_for(browser, lambda d: d.execute_script("return window.beforeSave") is None)
    pickers = browser.find_elements(By.CSS_SELECTOR, "ol.routes select[name=escalation_chain_id]")
    assert [Select(p).first_selected_option.text for p in pickers] == ["Night shift"] * 2
    assert "no heartbeat yet" in browser.find_element(By.ID, "heartbeat").text
    heartbeat = browser.find_element(By.ID, "heartbeat-link").text
    with urllib.request.urlopen(heartbeat, timeout=10) as resp:
        assert resp.status == 200
    browser.refresh()
    assert "alive" in browser.find_element(By.ID, "heartbeat").text


def test_playground_preview_follows_the_grouping_template(browser: WebDriver, stack: Stack) -> None:
    browser.get(f"{stack.url}/console/integrations/{stack.state['integration']}/playground")
    payload = browser.find_element(By.ID, "payload")
    payload.clear()
    payload.send_keys(json.dumps({"id": "disk-42", "title": "Disk full", "host": "db1"}))
    key = browser.find_element(By.ID, "t-grouping_key")
    key.send_keys("{{ payload.id }}")
    wait_for(browser, lambda d: d.find_element(By.ID, "pv-key").text == "disk-42")
    key.clear()
    key.send_keys("{{ payload.host }}")
    wait_for(browser, lambda d: d.find_element(By.ID, "pv-key").text == "db1")
    title = browser.find_element(By.ID, "t-web.title")
    title.send_keys("{{ payload.title }} on {{ payload.host")
    wait_for(browser, lambda d: "line 1" in d.find_element(By.ID, "preview-errors").text)
    title.send_keys(" }}")
    wait_for(browser, lambda d: d.find_element(By.ID, "preview-errors").get_attribute("hidden"))
    wait_for(browser, lambda d: "Disk full on db1" in d.find_element(By.ID, "pv-channels").text)
    shot(browser, "playground")
    browser.find_element(By.ID, "save").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "save-state").text == "Saved.")


def test_alert_appears_without_reload_and_is_acknowledged(browser: WebDriver, stack: Stack) -> None:
    browser.get(stack.url + "/console/groups")
    browser.execute_script("window.stillHere = 'yes'")
    post_alert(stack.state["link"], {"id": "disk-42", "title": "Disk full", "host": "db1"})
    row = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-group-id]"))[0]
    assert "Disk full on db1" in row.text and "firing" in row.text
    assert browser.execute_script("return window.stillHere") == "yes"
    stack.state["group"] = row.get_attribute("data-group-id")
    row.find_element(By.XPATH, ".//button[text()='Acknowledge']").click()
    wait_for(browser, lambda d: "acknowledged" in d.find_element(By.ID, "group-rows").text)
    assert browser.execute_script("return window.stillHere") == "yes"
    shot(browser, "groups")
    shot(browser, "groups-mobile", 390)


def test_group_page_tells_the_trace(browser: WebDriver, stack: Stack) -> None:
    browser.get(stack.url + "/console/groups")
    browser.find_element(By.LINK_TEXT, "Disk full on db1").click()
    wait_for(browser, lambda d: d.current_url.endswith("/console/groups/" + stack.state["group"]))
    story = browser.find_element(By.CSS_SELECTOR, "ol.story").text
    assert "Grouping key: db1" in story and "opened a new alert group" in story
    assert "Chosen: route" in story
    assert "acknowledged by alice" in browser.find_element(By.ID, "group-summary").text
    shot(browser, "group")


def test_hostile_payload_renders_inert(browser: WebDriver, stack: Stack) -> None:
    templates = {
        "web.title": "{{ payload.title }}",
        "web.message": "{{ payload.message }}",
        "source_link": "{{ payload.link }}",
        "grouping_key": "{{ payload.id }}",
    }
    browser.get(f"{stack.url}/console/integrations/{stack.state['integration']}/playground")
    for name, source in templates.items():
        field = browser.find_element(By.ID, f"t-{name}")
        field.clear()
        field.send_keys(source)
    browser.find_element(By.ID, "save").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "save-state").text == "Saved.")
    post_alert(stack.state["link"], HOSTILE)
    browser.get(stack.url + "/console/groups")
    link = wait_for(browser, lambda d: d.find_elements(By.PARTIAL_LINK_TEXT, "<script>"))[0]
    link.click()
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "ol.story"))
    assert "<script>window.pwned=1</script>" in browser.find_element(By.TAG_NAME, "h1").text
    anchors = [a.get_attribute("href") or "" for a in browser.find_elements(By.TAG_NAME, "a")]
    assert not any(a.lower().startswith("javascript:") for a in anchors)
    assert browser.find_elements(By.CSS_SELECTOR, "main img") == []
    browser.get(f"{stack.url}/console/integrations/{stack.state['integration']}/playground")
    Select(browser.find_element(By.ID, "recent")).select_by_index(1)
    wait_for(browser, lambda d: "onerror" in d.find_element(By.ID, "pv-channels").text)
    assert browser.find_elements(By.CSS_SELECTOR, "#pv-channels img") == []
    assert browser.execute_script("return window.pwned") is None


def test_webhook_is_created_and_its_deliveries_are_logged(browser: WebDriver, stack: Stack) -> None:
    browser.get(stack.url + "/console/integrations")
    browser.find_element(By.LINK_TEXT, "Webhooks").click()
    browser.find_element(By.ID, "new-webhook").click()
    wait_for(browser, lambda d: d.current_url.endswith("/console/webhooks/new"))
    browser.find_element(By.ID, "wh-name").send_keys("Tickets <b>bold</b>")
    browser.find_element(By.ID, "wh-url").send_keys(stack.receiver_url)
    Select(browser.find_element(By.ID, "wh-integrations")).select_by_visible_text(
        "Checkout service"
    )
    browser.find_element(By.ID, "wh-signing_secret").send_keys("browser-secret-123456")
    browser.find_element(By.ID, "save-webhook").click()
    wait_for(browser, lambda d: "/console/webhooks/WH" in d.current_url)
    assert "Tickets <b>bold</b>" in browser.find_element(By.TAG_NAME, "h1").text
    assert "browser-secret-123456" not in browser.page_source
    assert browser.find_element(By.ID, "wh-signing_secret").get_attribute("value") == ""
    post_alert(stack.state["link"], {"id": "web-1", "title": "For the webhook"})
    row = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "tr.delivery"), 40)[0]
    assert "alert group created" in row.text and "delivered" in row.text and "200" in row.text
    [(path, headers, body)] = Receiver.received
    assert path == "/hook" and "X-Alert-Ingest-Signature" in headers
    assert json.loads(body)["alert_group"]["title"] == "For the webhook"
    row.find_element(By.TAG_NAME, "summary").click()
    assert "window.pwned=3" in row.find_element(By.CSS_SELECTOR, ".response-content").text
    assert browser.find_elements(By.CSS_SELECTOR, "main img") == []
    assert browser.execute_script("return window.pwned") is None
    shot(browser, "webhooks")
    browser.find_element(By.ID, "toggle-webhook").click()
    wait_for(browser, lambda d: d.find_element(By.ID, "toggle-webhook").text == "Enable")
    assert "disabled" in browser.find_element(By.TAG_NAME, "h1").text
    delete = browser.find_element(By.ID, "delete-webhook")
    delete.click()
    assert delete.text.startswith("Click again") and "/console/webhooks/WH" in browser.current_url
    delete.click()
    wait_for(browser, lambda d: d.current_url.endswith("/console/webhooks"))
    assert "No webhooks yet." in browser.find_element(By.TAG_NAME, "main").text


def test_csrf_without_the_token_is_refused(browser: WebDriver, stack: Stack) -> None:
    browser.get(stack.url + "/console/groups")
    path = f"/console/api/v1/integrations/{stack.state['integration']}/"
    assert fetch_status(browser, "PATCH", path, with_csrf=False) == 403
    browser.get(stack.url + "/console/integrations")
    assert "Checkout service" in browser.page_source


def test_read_only_token_cannot_change_anything(browser: WebDriver, stack: Stack) -> None:
    browser.get(stack.url + "/console/integrations")
    browser.find_element(By.CSS_SELECTOR, ".signout button").click()
    wait_for(browser, lambda d: d.current_url.endswith("/console/sign-in"))
    sign_in(browser, stack, "reader")
    assert browser.find_elements(By.ID, "create-integration") == []
    shot(browser, "integrations")
    browser.get(f"{stack.url}/console/integrations/{stack.state['integration']}")
    assert browser.find_elements(By.ID, "delete-integration") == []
    assert not browser.find_element(By.ID, "name").is_enabled()
    assert browser.find_elements(By.LINK_TEXT, "Webhooks") == []
    path = f"/console/api/v1/integrations/{stack.state['integration']}/"
    assert fetch_status(browser, "PATCH", path, with_csrf=True) == 403
    assert fetch_status(browser, "DELETE", path, with_csrf=True) == 403
    group = f"/console/api/v1/alert_groups/{stack.state['group']}/resolve/"
    assert fetch_status(browser, "POST", group, with_csrf=True) == 403
    browser.get(f"{stack.url}/console/groups/{stack.state['group']}")
    assert browser.find_elements(By.CSS_SELECTOR, "button[data-api]") == []
    assert "acknowledged" in browser.find_element(By.ID, "group-summary").text
