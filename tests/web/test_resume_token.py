"""Only a job's creator can follow it again: ``resume`` needs the token ``queued`` gave, and the socket
a job is moved away from is told why."""

from __future__ import annotations

import uuid

import pytest

from conftest import WS, Server
from lookalike.adapters.local_storage import load_secret
from lookalike.adapters.notifiers import HttpNotifier, internal_token


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    return start_server(workers=0)  # no workers: jobs stay queued while the tests move them around


def queued_job(server: Server, ws: WS) -> dict:
    ws.send({"action": "match", "key": server.uploaded_key(b"\xff\xd8 photo bytes")})
    queued = ws.recv()
    assert queued["event"] == "queued" and queued["resume_token"], queued
    return queued


def worker_event(server: Server, connection: str, event: dict) -> bool:
    notifier = HttpNotifier(server.url, internal_token(load_secret(server.settings.home)))
    try:
        return notifier.send("", connection, event)
    finally:
        notifier.close()


def test_resume_without_the_token_cannot_take_over_a_job(server: Server) -> None:
    with WS(server.ws_url) as owner, WS(server.ws_url) as thief:
        queued = queued_job(server, owner)
        for message in (
            {"action": "resume", "job": queued["job"]},
            {"action": "resume", "job": queued["job"], "token": "guess"},
            {"action": "resume", "job": queued["job"], "token": queued["resume_token"][:-2]},
            {"action": "resume", "job": queued["job"], "token": ["not", "a", "string"]},
        ):
            thief.send(message)
            assert thief.recv()["error"]["code"] == "bad_token"
        # The owner's socket still gets the job's events.
        assert worker_event(server, owner.hello["connection"], {"event": "processing", "job": queued["job"]})
        assert owner.recv()["event"] == "processing"
    assert server.app.state.env.jobs.get(queued["job"]).connection_id == owner.hello["connection"]


def test_resume_with_the_token_moves_the_job_and_tells_the_old_socket(server: Server) -> None:
    with WS(server.ws_url) as first, WS(server.ws_url) as second:
        queued = queued_job(server, first)
        second.send({"action": "resume", "job": queued["job"], "token": queued["resume_token"]})
        resumed = second.recv()
        assert resumed["event"] == "resumed" and "resume_token" not in resumed
        moved = first.recv()
        assert moved["event"] == "moved" and moved["job"] == queued["job"] and moved["message"]
        # A worker that still knows the old connection reaches the new one.
        assert worker_event(server, first.hello["connection"], {"event": "processing", "job": queued["job"]})
        assert second.recv()["event"] == "processing"


def test_matching_the_same_key_again_gives_a_new_token(server: Server) -> None:
    key = server.uploaded_key(b"\xff\xd8 photo bytes")
    with WS(server.ws_url) as first, WS(server.ws_url) as second, WS(server.ws_url) as third:
        first.send({"action": "match", "key": key})
        queued = first.recv()
        second.send({"action": "match", "key": key})  # the uploader's page, reconnected, asks again
        resumed = second.recv()
        assert resumed["event"] == "resumed" and resumed["job"] == queued["job"]
        assert resumed["resume_token"] and resumed["resume_token"] != queued["resume_token"]
        assert first.recv()["event"] == "moved"
        third.send({"action": "resume", "job": queued["job"], "token": queued["resume_token"]})
        assert third.recv()["error"]["code"] == "bad_token"  # the old token was replaced
        third.send({"action": "resume", "job": queued["job"], "token": resumed["resume_token"]})
        assert third.recv()["event"] == "resumed"


def test_job_ids_are_random_uuid4_and_results_show_no_secret(server: Server) -> None:
    with WS(server.ws_url) as ws:
        queued = queued_job(server, ws)
    assert uuid.UUID(queued["job"]).version == 4
    with server.client() as c:
        job = c.get(f"/api/jobs/{queued['job']}").json()
    assert job["job"] == queued["job"] and queued["resume_token"] not in str(job) and "token" not in job
    stored = server.app.state.env.jobs.get(queued["job"])
    assert queued["resume_token"] not in stored.token_hash and len(stored.token_hash) == 64
