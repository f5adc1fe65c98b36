"""The SSRF guard's decisions (``ingest.netguard``), tested directly: no connection is opened."""

from __future__ import annotations

import ipaddress

import pytest

from ingest.netguard import address_refusal, parse_networks, url_problem
from ingest.settings import SettingsError, load_settings

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.9.9.9", "loopback"),
    ("::1", "loopback"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("fd00::1", "private"),
    ("100.64.0.1", "non-public"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("192.0.2.10", "private"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:192.168.1.1", "private"),
    ("64:ff9b::a00:1", "private"),
    ("2002:a00:1::1", "private"),
    ("::127.0.0.1", "loopback"),
]


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_refused_ranges(address: str, kind: str) -> None:
    reason = address_refusal(ipaddress.ip_address(address))
    assert reason is not None and reason.startswith(kind), reason


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:84e5", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_allowed_networks_opt_back_in_mapped_forms_included() -> None:
    allowed = parse_networks("127.0.0.0/8, 10.1.0.0/16")
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert address_refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allowed) is None
    assert address_refusal(ipaddress.ip_address("10.1.2.3"), allowed) is None
    assert address_refusal(ipaddress.ip_address("10.2.0.1"), allowed) is not None
    assert address_refusal(ipaddress.ip_address("::1"), allowed) is not None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://localhost:8080/x", "loopback"),
        ("http://LOCALHOST./x", None),  # a name: judged after resolution
        ("http://foo.localhost/", "loopback"),
        ("http://[::1]:80/", "loopback"),
        ("http://2130706433/", None),  # not a literal for urlsplit: resolved and judged later
        ("gopher://example.com/", "http://"),
        ("http:///path", "http://"),
        ("http://example.com:99999/", "http://"),
        ("https://svc.example.com/api/v1/x", "own base URL"),
        ("https://links.example.com:443/integrations/v1/webhook/t/", "own base URL"),
        ("https://example.com/hook", None),
    ],
)
def test_url_problems(url: str, fragment: str | None) -> None:
    problem = url_problem(url, ["https://svc.example.com", "https://links.example.com"])
    if fragment is None:
        assert problem is None
    else:
        assert problem is not None and fragment in problem


def test_allowed_networks_setting_is_validated() -> None:
    env = {"ALERT_INGEST_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,fd00::/8"}
    assert [str(n) for n in load_settings(env).webhook_allowed_networks] == [
        "127.0.0.0/8",
        "fd00::/8",
    ]
    with pytest.raises(SettingsError, match=r"ALERT_INGEST_WEBHOOK_ALLOWED_NETWORKS.*'nope'"):
        load_settings({"ALERT_INGEST_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8,nope"})
