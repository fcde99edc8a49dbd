"""Connection limits: idle WebSockets are closed, a client's open WebSockets are capped, and an HTTP
request whose headers never end is dropped."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from conftest import WS, Server


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    return start_server(workers=0, ws_idle_seconds=1.0, ws_max_per_client=3, header_timeout_seconds=1.0)


def closed_with(ws: WS, within: float) -> tuple[int | None, str]:
    with pytest.raises(ConnectionClosed) as closed:
        ws.conn.recv(timeout=within)
    rcvd = closed.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd else (None, "")


def test_idle_websocket_is_closed_with_a_reason(server: Server) -> None:
    with WS(server.ws_url) as ws:
        start = time.monotonic()
        assert closed_with(ws, within=5) == (4408, "idle")
        assert 0.9 <= time.monotonic() - start < 4


def test_a_socket_waiting_for_its_job_is_not_idle(server: Server) -> None:
    """No workers here: the job stays queued, and the page waiting for it sends nothing."""
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "key": server.uploaded_key(b"\xff\xd8 waiting")})
        assert ws.recv()["event"] == "queued"
        with pytest.raises(TimeoutError):
            ws.conn.recv(timeout=2.5)  # still open well past the idle timeout
        ws.send({"action": "resume", "job": "x"})
        assert ws.recv()["error"]["code"] == "unknown_job"


def test_messages_keep_a_socket_open(server: Server) -> None:
    with WS(server.ws_url) as ws:
        for _ in range(5):
            time.sleep(0.5)
            ws.send({"action": "dance"})
            assert ws.recv()["error"]["code"] == "unknown_action"


def test_websockets_per_client_are_capped(server: Server) -> None:
    first = [WS(server.ws_url) for _ in range(3)]
    try:
        from websockets.sync.client import connect

        with connect(server.ws_url, open_timeout=5) as extra:
            import json

            refusal = json.loads(extra.recv(timeout=5))
            assert refusal["error"]["code"] == "too_many_connections"
            with pytest.raises(ConnectionClosed) as closed:
                extra.recv(timeout=5)
            assert closed.value.rcvd.code == 1008
        first.pop().close()
        time.sleep(0.2)
        with WS(server.ws_url) as again:  # a place was freed
            assert again.hello["event"] == "hello"
    finally:
        for ws in first:
            ws.close()


def read_until_closed(sock: socket.socket, within: float) -> tuple[bytes, float]:
    start = time.monotonic()
    sock.settimeout(within)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except TimeoutError:
        return data, float("inf")
    except ConnectionResetError:
        pass
    return data, time.monotonic() - start


def test_half_open_request_is_dropped_after_the_header_timeout(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.settings.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # the headers never end
        data, after = read_until_closed(sock, within=6)
    assert data == b"" and after < 4, after


def test_silent_connection_is_dropped_after_the_header_timeout(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.settings.port)) as sock:
        _, after = read_until_closed(sock, within=6)
    assert after < 4, after


def test_slow_but_complete_requests_still_work(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.settings.port)) as sock:
        for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            sock.sendall(part)
            time.sleep(0.3)
        data, _ = read_until_closed(sock, within=0.5)
    assert data.startswith(b"HTTP/1.1 200")
    with httpx.Client(base_url=server.url) as c:  # keep-alive requests in a row are fine
        for _ in range(3):
            assert c.get("/healthz").status_code == 200
            time.sleep(0.4)


# -- slow bodies and connections per client -------------------------------------------------------


@pytest.fixture(scope="module")
def strict(start_server) -> Server:
    """A one-second grace, the default minimum body speed (16 KiB/s), 6 connections per address."""
    return start_server(workers=0, header_timeout_seconds=1.0, http_max_per_client=6, match_max_concurrent=2)


def raw_post(server: Server, path: str, source: str, length: int = 200_000) -> socket.socket:
    """A connection that has sent a POST's complete headers and the start of its multipart body."""
    sock = socket.create_connection(("127.0.0.1", server.settings.port), source_address=(source, 0))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XX\r\n"
        f"Content-Length: {length}\r\n\r\n--XX\r\n"
    )
    sock.sendall(head.encode())
    return sock


def test_a_trickled_body_is_cut_off_at_the_minimum_speed(strict: Server) -> None:
    with raw_post(strict, "/api/match", "127.0.0.2") as sock:
        start, closed = time.monotonic(), False
        while time.monotonic() - start < 8 and not closed:
            try:
                sock.sendall(b"x")  # a byte every 0.2 s: far below 16 KiB/s
                time.sleep(0.2)
            except OSError:
                closed = True
        if not closed:
            _, after = read_until_closed(sock, within=0.5)
            closed = after != float("inf")
    assert closed and time.monotonic() - start < 4, time.monotonic() - start


def test_slow_bodies_hold_no_place_of_the_synchronous_match(strict: Server, two_people: bytes) -> None:
    """More slow /api/match bodies than places, kept alive: a normal call still gets its match."""
    slow = [raw_post(strict, "/api/match", "127.0.0.4") for _ in range(strict.settings.match_max_concurrent + 1)]
    try:
        time.sleep(0.3)
        with httpx.Client(base_url=strict.url, timeout=120) as c:
            r = c.post("/api/match", files={"photo": ("p.jpg", two_people, "image/jpeg")})
        assert r.status_code == 200, (r.status_code, r.text[:200])
    finally:
        for sock in slow:
            sock.close()


def test_a_body_at_a_fair_speed_is_read_whole(strict: Server) -> None:
    """64 KiB sent over ~1.6 s (past the grace, at ~40 KiB/s): the upload is taken."""
    p = strict.presign("image/jpeg")
    parts = b"".join(
        f'--XX\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in p["fields"].items()
    )
    photo = b"\xff\xd8" + b"\0" * (64 * 1024)
    body = (
        parts
        + b'--XX\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        + photo
        + b"\r\n--XX--\r\n"
    )
    with socket.create_connection(("127.0.0.1", strict.settings.port), source_address=("127.0.0.5", 0)) as sock:
        head = "POST /storage/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XX\r\n"
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode())
        for i in range(0, len(body), 4096):
            sock.sendall(body[i : i + 4096])
            time.sleep(0.1)
        data, _ = read_until_closed(sock, within=1)
    assert data.startswith(b"HTTP/1.1 204"), data[:200]


def test_http_connections_per_client_are_capped(strict: Server) -> None:
    cap = strict.settings.http_max_per_client
    held = [socket.create_connection(("127.0.0.1", strict.settings.port), source_address=("127.0.0.3", 0))]
    try:
        held += [socket.create_connection(("127.0.0.1", strict.settings.port), source_address=("127.0.0.3", 0))]
        held += [raw_post(strict, "/storage/upload", "127.0.0.3") for _ in range(cap - 2)]
        with socket.create_connection(("127.0.0.1", strict.settings.port), source_address=("127.0.0.3", 0)) as extra:
            data, after = read_until_closed(extra, within=2)  # answered before it sends a byte
        assert data.startswith(b"HTTP/1.1 503") and b"too_many_connections" in data and after < 2, data
        with httpx.Client(base_url=strict.url, transport=httpx.HTTPTransport(local_address="127.0.0.3")) as c:
            r = c.post("/api/match", files={"photo": ("p.jpg", b"\xff" * 2**20)})  # sent whole, then read
        assert r.status_code == 503 and r.headers["Retry-After"] == "10", r.text
        transport = httpx.HTTPTransport(local_address="127.0.0.6")  # another address is not affected
        with httpx.Client(base_url=strict.url, transport=transport) as c:
            assert c.get("/healthz").status_code == 200
        held.pop().close()
        time.sleep(0.2)
        transport = httpx.HTTPTransport(local_address="127.0.0.3")  # a place was freed
        with httpx.Client(base_url=strict.url, transport=transport) as c:
            assert c.get("/healthz").status_code == 200
    finally:
        for sock in held:
            sock.close()


def test_websockets_leave_the_http_connection_count(strict: Server) -> None:
    from websockets.sync.client import connect

    port = strict.settings.port
    source = ("127.0.0.7", 0)
    sockets = [connect(strict.ws_url, open_timeout=5, source_address=source).__enter__() for _ in range(8)]  # > cap
    try:
        with socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.7", 0)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data, _ = read_until_closed(sock, within=2)
        assert data.startswith(b"HTTP/1.1 200"), data[:100]
    finally:
        for ws in sockets:
            ws.close()


def test_a_trusted_proxy_is_not_capped(start_server) -> None:
    server = start_server(workers=0, http_max_per_client=2, trusted_proxies="127.0.0.8")
    port = server.settings.port
    held = [socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.8", 0)) for _ in range(4)]
    try:
        with socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.8", 0)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data, _ = read_until_closed(sock, within=2)
        assert data.startswith(b"HTTP/1.1 200"), data[:100]
    finally:
        for sock in held:
            sock.close()
