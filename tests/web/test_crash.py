"""A worker killed mid-job: the job is redelivered and the client gets exactly one result."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx

from conftest import WS
from lookalike.adapters.sqlite_jobs import SqliteJobStore


def _kill_worker_mid_job(server, ws: WS, key: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """Start a match, wait for ``processing``, SIGKILL the worker holding the job; return ``queued``."""
    ws.send({"action": "match", "key": key})
    queued, processing = ws.until("processing")
    assert processing["attempt"] == 1
    worker = SqliteJobStore(server.settings.home / "jobs.sqlite").get(queued["job"]).worker
    assert worker is not None and worker != os.getpid()
    os.kill(worker, signal.SIGKILL)
    return queued


def test_worker_killed_mid_job_is_redelivered_once(start_server, two_people: bytes) -> None:
    # The worker pauses after "processing" on a first delivery only; the job reappears after 2 s.
    server = start_server(workers=1, worker_pause_seconds=60, visibility_timeout_seconds=2, max_receives=3)
    key = server.uploaded_key(two_people)
    with WS(server.ws_url) as ws:
        queued = _kill_worker_mid_job(server, ws, key)
        events = ws.until("matched", "failed", timeout=90)
        names = [e["event"] for e in events]
        assert names == ["processing", "faces_found", "matched"], names
        assert events[0]["attempt"] == 2
        assert sorted(f["identity"] for f in events[-1]["result"]["faces"]) == ["Barack_Obama", "Joseph_Biden"]
        ws.send({"action": "dance"})
        assert ws.recv()["event"] == "error"  # nothing else (no second result) came before this answer
    job = httpx.get(f"{server.url}/api/jobs/{queued['job']}").json()
    assert job["state"] == "done" and job["attempts"] == 2
    health = httpx.get(f"{server.url}/healthz").json()
    assert health["queue_depth"] == 0  # the message was deleted once done
    assert server.app.state.pool.restarts == 1  # the killed worker was replaced
    assert not (server.settings.home / "storage" / key).exists()


def test_job_that_kills_every_worker_is_dead_lettered_and_failed(start_server, two_people: bytes) -> None:
    server = start_server(workers=1, worker_pause_seconds=60, visibility_timeout_seconds=1, max_receives=1)
    key = server.uploaded_key(two_people)
    with WS(server.ws_url) as ws:
        _kill_worker_mid_job(server, ws, key)
        failed = ws.until("matched", "failed", timeout=90)[-1]
        assert failed["event"] == "failed" and failed["error"]["code"] == "worker_crashed"
    assert not (server.settings.home / "storage" / key).exists()
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'lookalike_job_failures_total{code="worker_crashed"} 1.0' in metrics


def test_a_killed_workers_job_is_handed_back_at_once_not_after_the_visibility_timeout(
    start_server, two_people: bytes
) -> None:
    """The supervisor sees its worker die: the job it held is visible again at once (the visibility timeout
    here is ten minutes), and the replacement worker matches it."""
    server = start_server(workers=1, worker_pause_seconds=60, visibility_timeout_seconds=600, max_receives=3)
    key = server.uploaded_key(two_people)
    with WS(server.ws_url) as ws:
        queued = _kill_worker_mid_job(server, ws, key)
        killed = time.monotonic()
        events = ws.until("matched", "failed", timeout=120)
        waited = time.monotonic() - killed
    assert [e["event"] for e in events] == ["processing", "faces_found", "matched"]
    assert events[0]["attempt"] == 2
    assert waited < 60  # a restart and a match, not 600 s
    assert server.app.state.pool.released == 1 and server.app.state.pool.restarts == 1
    assert httpx.get(f"{server.url}/api/jobs/{queued['job']}").json()["state"] == "done"


def test_stopping_the_server_lets_a_worker_finish_its_job(start_server, two_people: bytes) -> None:
    """SIGTERM (the pool stopping) does not kill a worker mid-job after a few seconds: it finishes the job
    (here held 8 s, more than the old 5 s grace), tells the client, and exits by itself."""
    server = start_server(workers=1, worker_pause_seconds=8)
    pool = server.app.state.pool
    key = server.uploaded_key(two_people)
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "key": key})
        queued, _ = ws.until("processing")
        stopper = threading.Thread(target=pool.stop, daemon=True)
        stopper.start()  # what the server does on SIGTERM: terminate the workers, then wait for them
        events = ws.until("matched", "failed", timeout=90)
        stopper.join(30)
    assert events[-1]["event"] == "matched", events
    assert not stopper.is_alive()
    assert [p.exitcode for p in pool.processes] == [0]  # ended by itself, not killed
    job = SqliteJobStore(server.settings.home / "jobs.sqlite").get(queued["job"])
    assert job.state == "done" and job.attempts == 1
