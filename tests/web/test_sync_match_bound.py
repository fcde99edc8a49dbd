"""Synchronous matching is bounded and never holds the threads the rest of the app needs."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from conftest import WS, Server
from lookalike.settings import Settings
from lookalike.web.sync_match import Busy, SyncMatcher


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    return start_server(workers=0, match_max_concurrent=2)


def test_sync_matches_beyond_the_bound_get_503_and_health_stays_fast(server: Server, two_people: bytes) -> None:
    answers: list[httpx.Response] = []
    health: list[float] = []
    done = threading.Event()

    def match() -> None:
        with httpx.Client(base_url=server.url, timeout=120) as c:
            answers.append(c.post("/api/match", files={"photo": ("p.jpg", two_people, "image/jpeg")}))

    def watch_health() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            while not done.is_set():
                start = time.perf_counter()
                assert c.get("/healthz").status_code == 200
                health.append(time.perf_counter() - start)
                time.sleep(0.05)

    watcher = threading.Thread(target=watch_health)
    watcher.start()
    callers = [threading.Thread(target=match) for _ in range(8)]
    for t in callers:
        t.start()
    time.sleep(0.3)
    with WS(server.ws_url, timeout=5) as ws:  # the WebSocket answers while matches run
        ws.send({"action": "resume", "job": "none"})
        assert ws.recv()["error"]["code"] == "unknown_job"
    for t in callers:
        t.join()
    done.set()
    watcher.join()
    codes = sorted(r.status_code for r in answers)
    assert codes.count(200) >= 2 and codes.count(503) >= 4, codes
    for r in answers:
        if r.status_code == 503:
            assert r.json()["error"]["code"] == "busy" and 1 <= int(r.headers["Retry-After"]) <= 60
    assert health and max(health) < 1.0, max(health)
    # Once the matches are done, there is room again.
    with server.client() as c:
        assert c.post("/api/match", files={"photo": ("p.jpg", two_people, "image/jpeg")}).status_code == 200


def test_busy_retry_after_is_the_time_the_admitted_matches_need() -> None:
    """Two slow matches (45 s each) admitted: the next is told 90 s, not a capped minute."""
    matcher = SyncMatcher(Settings(), 2)
    try:
        matcher.seconds = 45.0
        matcher.enter()
        matcher.enter()
        with pytest.raises(Busy) as busy:
            matcher.enter()
        assert busy.value.retry_after == 90
    finally:
        matcher.close()
