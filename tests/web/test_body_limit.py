"""Request bodies: JSON routes refuse a big one with 413 before reading it; the photo routes keep theirs."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import pytest

from conftest import Server


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    return start_server(workers=0, max_upload_bytes=200_000)


def address(server: Server) -> tuple[str, int]:
    return "127.0.0.1", server.settings.port


def read_response(sock: socket.socket, timeout: float) -> bytes:
    """What the server answered (up to its closing the connection, or the end of a small JSON body)."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
        if b"\r\n\r\n" in data and data.rstrip().endswith(b"}"):
            break
    return data


def test_declared_400_mb_json_body_is_refused_before_it_is_read(server: Server) -> None:
    with socket.create_connection(address(server)) as sock:
        sock.sendall(
            b"POST /api/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 400000000\r\n\r\n" + b'{"content_type": "' + b"a" * 1000
        )
        start = time.monotonic()
        answer = read_response(sock, timeout=5)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"too_large"' in answer and time.monotonic() - start < 2


def test_chunked_json_body_is_cut_off_past_the_limit(server: Server) -> None:
    """No Content-Length: counted as it arrives; the server stops reading long before 50 MB."""
    sent = 0
    with socket.create_connection(address(server)) as sock:
        sock.sendall(
            b"POST /api/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        try:
            while sent < 50 * 2**20:
                sock.sendall(chunk)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_response(sock, timeout=5)
    assert sent < 50 * 2**20, "the server read the whole body"
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_small_json_bodies_still_work(server: Server) -> None:
    with server.client() as c:
        assert c.post("/api/uploads", json={"content_type": "image/png"}).status_code == 201
        r = c.post("/api/uploads", content=b'{"content_type": "image/png", "pad": "' + b"x" * 9000 + b'"}')
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_a_client_that_sends_its_whole_too_big_body_still_reads_the_413(server: Server) -> None:
    """Clients send the whole body before reading: the rest is discarded (never stored) so they see why."""
    with server.client() as c:
        r = c.post("/api/uploads", content=b"{" + b" " * 600_000 + b"}", headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        assert c.post("/api/uploads", json={}).status_code == 201  # and the connection is still good


def test_photo_routes_keep_their_own_limit(server: Server) -> None:
    """A photo under max_upload_bytes is far over the JSON limit and still accepted; one over it is 413."""
    photo = b"\xff\xd8" + b"x" * 150_000
    assert server.upload(photo).status_code == 204
    r = server.upload(b"x" * 300_000)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_chunked_photo_upload_is_cut_off_past_the_limit(server: Server) -> None:
    p = server.presign()
    sent = 0
    with socket.create_connection(address(server)) as sock:
        sock.sendall(
            b"POST /api/match HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
        try:
            while sent < 20 * 2**20:
                sock.sendall(chunk)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_response(sock, timeout=5)
    assert sent < 20 * 2**20 and answer.startswith(b"HTTP/1.1 41"), answer[:200]  # 411 or 413, unread
    assert p["key"]


def test_keep_alive_survives_bodiless_and_small_requests(server: Server) -> None:
    with server.client() as c:
        for _ in range(3):
            r = c.get("/healthz")
            assert "close" not in r.headers.get("connection", "")
            r = c.post("/api/uploads", json={})
            assert r.status_code == 201 and "close" not in r.headers.get("connection", "")


def rss_bytes() -> int:
    """This process's resident memory (the server runs in it, in a thread)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux's /proc")
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_50_mb_body_does_not_grow_the_server_s_memory(server: Server, framing: str) -> None:
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(rss_bytes())
            time.sleep(0.005)

    size, block = 50 * 2**20, b" " * 65536
    baseline = rss_bytes()
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with socket.create_connection(address(server)) as sock:
            head = b"POST /api/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            if framing == "chunked":
                sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
                block = b"%x\r\n%s\r\n" % (len(block), block)
            else:
                sock.sendall(head + b"Content-Length: %d\r\n\r\n" % size)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for _ in range(size // 65536):
                    sock.sendall(block)
            answer = read_response(sock, timeout=5)
    finally:
        done.set()
        sampler.join()
    assert max(samples) - baseline < 20 * 2**20, f"grew {(max(samples) - baseline) / 2**20:.0f} MB"
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
