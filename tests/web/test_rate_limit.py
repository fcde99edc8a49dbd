"""The rate limit: forwarded addresses only from configured proxies, one budget across processes."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from conftest import WS, Server
from lookalike.adapters.sqlite_ratelimit import SqliteRateLimiter
from lookalike.web.clients import ClientAddress


def presign_codes(server: Server, count: int, forwarded: list[str] | None = None) -> list[int]:
    codes = []
    with httpx.Client(base_url=server.url) as c:
        for i in range(count):
            headers = {"X-Forwarded-For": forwarded[i]} if forwarded else {}
            codes.append(c.post("/api/uploads", json={}, headers=headers).status_code)
    return codes


def test_forwarded_for_from_loopback_is_not_believed_by_default(start_server) -> None:
    """80 presigns, each claiming a new address: without a configured proxy they are one client."""
    server = start_server(workers=0, rate_limit_per_minute=10)
    codes = presign_codes(server, 80, [f"203.0.113.{i}" for i in range(80)])
    assert codes.count(201) <= 11 and codes[-1] == 429, codes


def test_forwarded_for_is_honoured_from_a_configured_proxy(start_server) -> None:
    server = start_server(workers=0, rate_limit_per_minute=3, trusted_proxies="127.0.0.1, ::1")
    assert presign_codes(server, 20, [f"203.0.113.{i}" for i in range(20)]) == [201] * 20
    # The nearest untrusted hop counts: a client cannot hide behind a made-up first entry.
    codes = presign_codes(server, 5, [f"10.9.9.{i}, 198.51.100.7" for i in range(5)])
    assert codes == [201, 201, 201, 429, 429]


def test_the_internal_endpoint_refuses_requests_forwarded_by_the_proxy(start_server) -> None:
    from lookalike.adapters.local_storage import load_secret
    from lookalike.adapters.notifiers import SECRET_HEADER, internal_token

    server = start_server(workers=0, trusted_proxies="127.0.0.1")
    token = internal_token(load_secret(server.settings.home))
    headers = {SECRET_HEADER: token, "X-Forwarded-For": "127.0.0.1"}
    r = httpx.post(server.url + "/internal/connections/x", json={"event": "processing"}, headers=headers)
    assert r.status_code == 403


def test_storage_upload_is_rate_limited_before_its_body_is_read(start_server) -> None:
    """The budget spent, an upload is refused 429 from its headers: none of its 20 MB is waited for."""
    server = start_server(workers=0, rate_limit_per_minute=3)
    assert presign_codes(server, 3) == [201, 201, 201]
    with socket.create_connection(("127.0.0.1", server.settings.port)) as sock:
        head = "POST /storage/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XX\r\n"
        sock.sendall(f"{head}Content-Length: {20 * 2**20}\r\n\r\n".encode())
        sock.settimeout(5)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 429") and b"rate_limited" in answer, answer[:200]


def test_a_websocket_that_goes_on_after_its_refusals_is_closed(start_server) -> None:
    """200 messages on a budget of 3: at most MAX_REFUSALS are refused with an answer, then 1008."""
    from lookalike.web.connections import MAX_REFUSALS

    server = start_server(workers=0, rate_limit_per_minute=3)
    refused = 0
    with WS(server.ws_url, timeout=10) as ws:
        for _ in range(200):
            try:
                ws.send({"action": "resume", "job": "x", "token": "y"})
            except ConnectionClosed:
                break
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                event = json.loads(ws.conn.recv(timeout=10))
                refused += event.get("error", {}).get("code") == "rate_limited"
    assert 1 <= refused <= MAX_REFUSALS, refused
    rcvd = closed.value.rcvd
    assert rcvd is not None and (rcvd.code, rcvd.reason) == (1008, "rate_limited")


def test_two_limiters_on_one_file_share_the_budget(tmp_path: Path) -> None:
    a = SqliteRateLimiter(tmp_path / "ratelimit.sqlite", per_minute=4)
    b = SqliteRateLimiter(tmp_path / "ratelimit.sqlite", per_minute=4)
    now = 1_000_000.0
    answers = [limiter.allow("198.51.100.1", now)[0] for limiter in (a, b, a, b, a, b)]
    assert answers == [True, True, True, True, False, False]
    assert b.allow("198.51.100.2", now)[0]  # another client has its own bucket
    ok, wait = a.allow("198.51.100.1", now + 1)
    assert not ok and 0 < wait <= 15
    assert a.allow("198.51.100.1", now + 16)[0]  # refilled: 4 a minute is one per 15 s


def test_two_servers_on_one_home_share_the_budget(start_server, tmp_path: Path) -> None:
    one = start_server(workers=0, home=tmp_path, rate_limit_per_minute=4)
    two = start_server(workers=0, home=tmp_path, rate_limit_per_minute=4)
    codes = presign_codes(one, 2) + presign_codes(two, 2) + presign_codes(one, 1) + presign_codes(two, 1)
    assert codes == [201, 201, 201, 201, 429, 429]


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "expected"),
    [
        ("127.0.0.1", "1.2.3.4", "", "127.0.0.1"),
        ("127.0.0.1", "1.2.3.4", "127.0.0.1", "1.2.3.4"),
        ("10.0.0.5", "1.2.3.4, 10.0.0.9", "10.0.0.0/8", "1.2.3.4"),
        ("192.0.2.1", "1.2.3.4", "127.0.0.1", "192.0.2.1"),
        ("127.0.0.1", None, "127.0.0.1", "127.0.0.1"),
        # IPv6: a client is its /64; an IPv4-mapped address is IPv4.
        ("2001:db8:1:2::5", None, "", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", None, "", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", None, "", "192.0.2.7"),
        ("127.0.0.1", "2001:db8:1:2::77", "127.0.0.1", "2001:db8:1:2::/64"),
        ("127.0.0.1", "::ffff:1.2.3.4", "127.0.0.1", "1.2.3.4"),
        # Ports are dropped: one client whatever the port.
        ("127.0.0.1", "1.2.3.4:1111", "127.0.0.1", "1.2.3.4"),
        ("127.0.0.1", "1.2.3.4:2222", "127.0.0.1", "1.2.3.4"),
        ("127.0.0.1", "[2001:db8::1]:80", "127.0.0.1", "2001:db8::/64"),
        ("127.0.0.1", "[2001:db8::1]", "127.0.0.1", "2001:db8::/64"),
        # A hop that is no address stops the walk: the client is the proxy that handed it over.
        ("127.0.0.1", "garbage-1", "127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", "1.2.3.4:http", "127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", "[2001:db8::1]x", "127.0.0.1", "127.0.0.1"),
        ("10.0.0.5", "1.2.3.4, garbage, 10.0.0.9", "10.0.0.0/8", "10.0.0.9"),
        ("10.0.0.5", "garbage, 1.2.3.4", "10.0.0.0/8", "1.2.3.4"),
    ],
)
def test_client_address(peer: str, header: str | None, trusted: str, expected: str) -> None:
    headers = [(b"x-forwarded-for", header.encode())] if header else []
    assert ClientAddress(trusted).of({"client": (peer, 5000), "headers": headers}) == expected


def test_bad_proxy_setting_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        ClientAddress("not-an-address")
    with pytest.raises(ValueError, match="IPV6_CLIENT_PREFIX"):
        ClientAddress("", ipv6_prefix=129)


def test_the_ipv6_prefix_is_a_setting() -> None:
    scope = {"client": ("2001:db8:1:2::5", 5000), "headers": []}
    assert ClientAddress("", ipv6_prefix=56).of(scope) == "2001:db8:1::/56"
    assert ClientAddress("", ipv6_prefix=128).of(scope) == "2001:db8:1:2::5"


def test_300_addresses_of_one_ipv6_64_get_one_rate_budget(tmp_path: Path) -> None:
    """At one instant, 300 addresses of one /64 x 60 requests: one budget of 60, not 300 of them."""
    limiter = SqliteRateLimiter(tmp_path / "ratelimit.sqlite", per_minute=60)
    clients, now = ClientAddress(), 1_000_000.0
    allowed = 0
    for i in range(300):
        key = clients.of({"client": (f"2001:db8:1:2:{i:x}::{i:x}", 5000), "headers": []})
        allowed += sum(limiter.allow(key, now)[0] for _ in range(60))
    assert allowed == 60
    other = clients.of({"client": ("2001:db8:1:3::1", 5000), "headers": []})
    assert limiter.allow(other, now)[0]  # the next /64 is another client


def test_forwarded_ports_do_not_make_new_clients(start_server) -> None:
    server = start_server(workers=0, rate_limit_per_minute=3, trusted_proxies="127.0.0.1")
    codes = presign_codes(server, 5, [f"198.51.100.8:{1000 + i}" for i in range(5)])
    assert codes == [201, 201, 201, 429, 429]
