"""A result larger than one WebSocket message may be (API Gateway: 128 KB) is pointed to, not sent: the
``matched`` event says where to GET it, and the page fetches it.  The servers here lower the limit."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from conftest import WS, Server
from lookalike.service.events import MAX_EVENT_BYTES, Failed, Matched, deliverable
from lookalike.service.results import ErrorInfo


def test_a_result_over_the_limit_becomes_where_to_fetch_it() -> None:
    small = Matched("job-1", {"faces": []})
    large = Matched("job-1", {"faces": ["x" * 200_000]})
    failed = Failed("job-1", ErrorInfo("no_face", "No face."), {"faces": ["x" * 200_000]})
    assert MAX_EVENT_BYTES == 128 * 1024  # API Gateway's documented limit for one WebSocket message
    assert deliverable(small) is small
    pointed = deliverable(large)
    assert isinstance(pointed, Matched) and pointed.result is None and pointed.result_url == "/api/jobs/job-1"
    assert deliverable(failed) is failed  # a failure's result is small; its error is what the page shows
    assert deliverable(Matched("job-1", {"faces": ["x" * 900]}), limit=1000).result is not None
    assert deliverable(Matched("job-1", {"faces": ["x" * 1000]}), limit=1000).result is None


def test_the_websocket_points_to_a_large_result_and_get_gives_it(start_server, two_people: bytes) -> None:  # type: ignore[no-untyped-def]
    server: Server = start_server(workers=1, ws_max_event_bytes=2000)
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "key": server.uploaded_key(two_people)})
        events = ws.until("matched", "failed", "error")
        job = events[-1]["job"]
    with WS(server.ws_url) as again:  # another connection (one connection is sent a job's end once)
        again.send({"action": "resume", "job": job, "token": events[0]["resume_token"]})
        resumed = again.until("matched", "failed", "error")
    matched = events[-1]
    assert matched["event"] == "matched" and matched["result"] is None, matched
    assert matched["result_url"] == f"/api/jobs/{job}"
    assert resumed[-1]["event"] == "matched" and resumed[-1]["result"] is None  # the same rule when resumed
    view = httpx.get(server.url + matched["result_url"], timeout=30).json()
    assert view["state"] == "done" and len(view["result"]["faces"]) == 2


try:  # the page's half, in Chromium, where it is installed (tests/web/test_browser.py's fixtures)
    from test_browser import ARGS, CHROMIUM, sync_api
except pytest.skip.Exception:  # playwright missing
    sync_api = None


@pytest.mark.skipif(sync_api is None or not Path(CHROMIUM).exists(), reason="no Chromium/playwright here")
def test_the_page_fetches_a_result_too_large_for_the_websocket(start_server, data: Path) -> None:  # type: ignore[no-untyped-def]
    server: Server = start_server(workers=1, ws_max_event_bytes=2000)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.set_default_timeout(60_000)
        fetched: list[str] = []
        page.on("request", lambda r: fetched.append(r.url) if "/api/jobs/" in r.url else None)
        page.goto(server.url + "/")
        page.set_input_files("#file", str(data / "group" / "face_recognition__two_people.jpg"))
        page.wait_for_selector(".face .identity")
        text = page.locator("#faces").inner_text()
        browser.close()
    assert "this is Barack Obama" in text and "this is Joseph Biden" in text
    assert len(fetched) == 1
