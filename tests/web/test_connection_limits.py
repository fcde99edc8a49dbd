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
