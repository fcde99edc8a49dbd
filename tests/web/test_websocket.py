"""The WebSocket flow with real worker processes: every event, every error, resume, deletion of the photo."""

from __future__ import annotations

import uuid

import httpx
import pytest

from conftest import WS, Server, blank_png
from lookalike.adapters.local_storage import load_secret
from lookalike.adapters.notifiers import HttpNotifier, internal_token


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    return start_server(workers=2, ws_max_message_bytes=1024)


def test_match_events_in_order(server: Server, two_people: bytes) -> None:
    key = server.uploaded_key(two_people)
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "key": key})
        events = ws.until("matched", "failed")
    names = [e["event"] for e in events]
    assert names == ["queued", "processing", "faces_found", "matched"], names
    job = events[0]["job"]
    assert all(e["job"] == job for e in events)
    found = events[2]
    assert found["faces_found"] == 2 and len(found["boxes"]) == 2 and found["width"] == 1126
    result = events[-1]["result"]
    assert sorted(f["identity"] for f in result["faces"]) == ["Barack_Obama", "Joseph_Biden"]
    for face in result["faces"]:
        top = face["matches"][0]
        assert 0 < top["similarity"] <= 1 and top["thumbnail"] == f"/api/faces/{top['face_id']}/thumbnail"
        assert "/" not in top["photo"]  # no server paths leak to clients
        assert all(0 <= m["percentile"] <= 100 for m in face["matches"])  # the page words it under the bar
    assert result["timings_ms"]["total"] > 0
    # The photo is gone, the result stays fetchable, the thumbnails are served.
    assert not (server.settings.home / "storage" / key).exists()
    with server.client() as c:
        stored = c.get(f"/api/jobs/{job}").json()
        assert stored["state"] == "done" and stored["result"]["faces"] == result["faces"]
        thumb = c.get(result["faces"][0]["matches"][0]["thumbnail"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert thumb.content[:2] == b"\xff\xd8"


def test_not_an_image_fails_clearly(server: Server) -> None:
    key = server.uploaded_key(b"this is a text file, not a photo\n" * 10)
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "key": key})
        events = ws.until("matched", "failed")
    assert [e["event"] for e in events] == ["queued", "processing", "failed"]
    assert events[-1]["error"]["code"] == "not_an_image" and events[-1]["error"]["message"]
    assert not (server.settings.home / "storage" / key).exists()
    with server.client() as c:
        assert c.get(f"/api/jobs/{events[0]['job']}").json()["state"] == "failed"


def test_no_face(server: Server) -> None:
    key = server.uploaded_key(blank_png(), "image/png")
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "key": key})
        events = ws.until("matched", "failed")
    assert events[-1]["event"] == "matched"
    assert events[-1]["result"]["faces"] == [] and events[-1]["result"]["faces_found"] == 0
    assert [e for e in events if e["event"] == "faces_found"][0]["boxes"] == []


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        ({"action": "dance"}, "unknown_action"),
        ({"action": "match"}, "missing_key"),
        ({"action": "match", "key": "../../etc/passwd"}, "bad_key"),
        ({"action": "match", "key": f"uploads/{uuid.UUID(int=0)}"}, "not_uploaded"),
        ({"action": "resume"}, "missing_job"),
        ({"action": "resume", "job": "no-such-job"}, "unknown_job"),
        ({"action": "match", "key": "x" * 2000}, "too_big"),
    ],
)
def test_errors_keep_the_connection_usable(server: Server, message: object, code: str) -> None:
    with WS(server.ws_url) as ws:
        ws.send(message)
        event = ws.recv()
        assert event["event"] == "error" and event["error"]["code"] == code and event["error"]["message"]
        ws.send({"action": "resume", "job": "still-there?"})
        assert ws.recv()["error"]["code"] == "unknown_job"  # the connection still answers


def test_same_key_again_attaches_to_the_same_job(server: Server, two_people: bytes) -> None:
    """A page that lost the "queued" answer sends the key again: one job, one result, on the new connection."""
    key = server.uploaded_key(two_people)
    first = WS(server.ws_url)
    first.send({"action": "match", "key": key})
    job = first.recv()["job"]
    first.close()
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "key": key})
        events = ws.until("matched")
        assert events[0]["event"] == "resumed" and events[0]["job"] == job
        assert [e["event"] for e in events].count("matched") == 1 and events[-1]["job"] == job
    assert server.app.state.env.jobs.by_key(key).id == job


def test_resume_on_a_new_connection(server: Server, two_people: bytes) -> None:
    key = server.uploaded_key(two_people)
    first = WS(server.ws_url)
    first.send({"action": "match", "key": key})
    queued = first.recv()
    job, token = queued["job"], queued["resume_token"]
    first.close()  # the network drops right after queueing
    with WS(server.ws_url) as second:
        second.send({"action": "resume", "job": job, "token": token})
        events = second.until("matched")
        assert events[0]["event"] == "resumed" and events[0]["job"] == job
        assert [e["event"] for e in events].count("matched") == 1
        # Resuming a finished job gives its result once more on a new connection.
    with WS(server.ws_url) as third:
        third.send({"action": "resume", "job": job, "token": token})
        events = third.until("matched")
        assert events[0] == {"event": "resumed", "job": job, "key": key, "state": "done"}


def test_a_second_result_for_a_job_is_dropped(server: Server, two_people: bytes) -> None:
    """A redelivered job re-sends its stored result; the connection must not see it twice."""
    key = server.uploaded_key(two_people)
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "key": key})
        matched = ws.until("matched")[-1]
        notifier = HttpNotifier(server.url, internal_token(load_secret(server.settings.home)))
        assert notifier.send("", ws.hello["connection"], matched)  # what a redelivered worker would do
        notifier.close()
        ws.send({"action": "dance"})
        assert ws.recv()["event"] == "error"  # and not a second "matched" before it


def test_internal_endpoint_needs_the_token(server: Server) -> None:
    r = httpx.post(
        server.url + "/internal/connections/x", json={"event": "matched"}, headers={"X-Lookalike-Internal": "guess"}
    )
    assert r.status_code == 403
    r = httpx.post(server.url + "/internal/connections/x", json={"event": "matched"})
    assert r.status_code == 403


def test_events_for_a_gone_connection(server: Server) -> None:
    notifier = HttpNotifier(server.url, internal_token(load_secret(server.settings.home)))
    assert notifier.send("", "nobody", {"event": "processing", "job": "j"}) is False
    notifier.close()


def test_unknown_job_is_404(server: Server) -> None:
    with server.client() as c:
        r = c.get("/api/jobs/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_job"
