"""A photo that takes too long, or one no camera makes, against the running app: the client hears why at
once, the job is not handed to another worker, and nothing of the photo is kept."""

from __future__ import annotations

import struct
import time
import zlib

import httpx

from conftest import WS


def _thin_png(width: int, height: int) -> bytes:
    """A PNG header claiming a strip of ``width`` x ``height`` pixels (a few hundred bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_a_job_past_the_job_limit_fails_as_too_slow_and_is_not_retried(start_server, two_people: bytes) -> None:
    # The worker holds a first delivery for 6 s (a stand-in for a photo that is slow to match); the limit is 2 s.
    server = start_server(workers=1, worker_pause_seconds=6, job_timeout_seconds=2, max_receives=3)
    key = server.uploaded_key(two_people)
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "key": key})
        queued, processing = ws.until("processing")
        started = time.monotonic()
        failed = ws.until("matched", "failed", timeout=30)
        waited = time.monotonic() - started
        assert [e["event"] for e in failed] == ["failed"]
        assert failed[0]["error"]["code"] == "too_slow" and "took too long" in failed[0]["error"]["message"]
        assert waited < 5  # at the limit, not after the computation
        time.sleep(6)  # the held computation ends meanwhile: its late result changes nothing and says nothing
        ws.send({"action": "dance"})
        assert ws.recv()["event"] == "error"  # the next thing heard is this answer, not a second result
    job = httpx.get(f"{server.url}/api/jobs/{queued['job']}").json()
    assert job["state"] == "failed" and job["attempts"] == 1 and job["result"]["error"]["code"] == "too_slow"
    assert httpx.get(f"{server.url}/healthz").json()["queue_depth"] == 0  # not waiting for another worker
    assert not (server.settings.home / "storage" / key).exists()


def test_a_thin_png_fails_at_once_with_bad_shape(start_server) -> None:
    server = start_server(workers=1)
    key = server.uploaded_key(_thin_png(3, 16_000_000), content_type="image/png")
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "key": key})
        started = time.monotonic()
        failed = ws.until("matched", "failed", timeout=30)[-1]
        waited = time.monotonic() - started
    assert failed["event"] == "failed" and failed["error"]["code"] == "bad_shape", failed
    assert "no camera makes that shape" in failed["error"]["message"]
    assert waited < 10
    assert not (server.settings.home / "storage" / key).exists()


def test_a_worker_whose_job_never_ends_is_replaced_after_the_limit_and_a_grace(start_server, two_people: bytes) -> None:
    """The computation outlives the limit by more than the grace (10 s): that worker process exits and the
    pool starts a fresh one, so a photo that never ends cannot take a worker for ever."""
    server = start_server(workers=1, worker_pause_seconds=14, job_timeout_seconds=1)
    pool = server.app.state.pool
    before = pool.pids()
    key = server.uploaded_key(two_people)
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "key": key})
        assert ws.until("matched", "failed", timeout=30)[-1]["error"]["code"] == "too_slow"
    deadline = time.monotonic() + 30
    while pool.restarts == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pool.restarts == 1 and pool.pids() != before
    assert pool.wait_ready(60) and pool.ready_count() == 1
