"""Faults of the AWS profile on the emulated AWS: workers killed or stopped mid-job, a job that kills
every worker, a client that leaves or reconnects.  Each test checks what the client hears, what the job
store says, that the photo is gone and that the queue is empty; nothing is lost and nothing is doubled.

The queue's visibility timeout is cut to a few seconds (the spec, provisioned with a shorter value;
workers get it from the stack's settings, as on AWS) so that redelivery happens within a test.
Workers pause after ``processing`` on a job's first delivery (``LOOKALIKE_WORKER_PAUSE_SECONDS``, a
test hook): the window in which a test kills or stops one.  One worker runs on a stack at a time, so
the one that holds a job is known; a test starts one when the previous test stopped it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lookalike.adapters.dynamo_jobs import DynamoJobStore
from lookalike.aws.spec import DEPLOYMENT, Deployment
from lookalike.service.ports import Job
from tests.aws.system import Client, System, running_system

pytestmark = pytest.mark.data

VISIBILITY = 3  # seconds a received message stays hidden (and a worker extends it by)
PAUSE = 3  # a worker waits this long after "processing" on a first delivery
LONG_POLL = 10  # ``lookalike worker``'s SQS wait per receive on AWS (cli/worker.py)
#: The stack's settings (the spec's visibility timeout among them) plus the test hook.
WORKER = {"worker_pause_seconds": str(PAUSE)}


def fast_spec(max_receives: int) -> Deployment:
    queue = dataclasses.replace(DEPLOYMENT.jobs_queue, visibility_timeout_seconds=VISIBILITY, max_receives=max_receives)
    return dataclasses.replace(DEPLOYMENT, jobs_queue=queue)


class Stack:
    """A provisioned stack and its one worker at a time."""

    def __init__(self, system: System) -> None:
        self.system = system

    def worker(self) -> subprocess.Popen[bytes]:
        """The running worker, or a new one (healthy) when the last one was stopped or killed."""
        live = [w for w in self.system.workers if w.poll() is None]
        assert len(live) <= 1, "one worker at a time, so that the one holding a job is known"
        return live[0] if live else self.system.start_worker(**WORKER)

    def job(self, job_id: str) -> dict[str, Any]:
        """``GET /api/jobs/{id}``, as a page would ask."""
        response = self.system.job(job_id)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def stored(self, job_id: str) -> Job:
        """The job's item as the workers see it (with its connection and worker, which the API hides)."""
        job = DynamoJobStore(self.system.stack.jobs_table, client=self.system.admin("dynamodb")).get(job_id)
        assert job is not None
        return job

    def counts(self, url: str = "") -> tuple[int, int]:
        """(messages waiting, messages in flight) of the jobs queue, or of ``url``."""
        attrs = self.system.admin("sqs").get_queue_attributes(
            QueueUrl=url or self.system.stack.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def _stack(emulator: Any, home: Path, gallery: Path, spec: Deployment) -> Iterator[Stack]:
    with running_system(emulator, home, gallery, spec=spec) as system:
        yield Stack(system)


@pytest.fixture(scope="module")
def stack(ministack_endpoint, small_gallery: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Three deliveries before a job is dead-lettered, as deployed; a short visibility timeout."""
    yield from _stack(ministack_endpoint, tmp_path_factory.mktemp("faults"), small_gallery, fast_spec(3))


@pytest.fixture(scope="module")
def poison_stack(ministack_endpoint, small_gallery: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One delivery only: a job whose worker dies once is dead-lettered at the next receive."""
    yield from _stack(ministack_endpoint, tmp_path_factory.mktemp("poison"), small_gallery, fast_spec(1))


@pytest.fixture(scope="module")
def two_people(data: Path) -> bytes:
    return (data / "group" / "face_recognition__two_people.jpg").read_bytes()


def listen(ws: Client, seconds: float) -> list[dict[str, Any]]:
    """Every event that arrives within ``seconds``."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            events.append(ws.recv(timeout=left))
        except TimeoutError:
            break
    return events


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def kill(worker: subprocess.Popen[bytes]) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    assert worker.wait(10) == -signal.SIGKILL


def submit(ws: Client, key: str) -> dict[str, Any]:
    ws.send({"action": "match", "key": key})
    queued = ws.recv()
    assert queued["event"] == "queued", queued
    return queued


def names(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


def identities(result: dict[str, Any]) -> list[str]:
    return sorted(face["matches"][0]["name"] for face in result["faces"])


# -- a worker that dies ---------------------------------------------------------------------------


def test_a_worker_killed_mid_job_is_replaced_and_the_client_hears_one_result(stack: Stack, two_people: bytes) -> None:
    s = stack.system
    first = stack.worker()
    assert first.env["LOOKALIKE_VISIBILITY_TIMEOUT_SECONDS"] == str(VISIBILITY)  # type: ignore[attr-defined]
    key = s.upload(two_people)
    with Client(s.stack.websocket_url) as ws:
        job_id = submit(ws, key)["job"]
        processing = ws.recv()
        assert processing == {"event": "processing", "job": job_id, "attempt": 1}
        assert stack.stored(job_id).worker == first.pid  # the worker killed is the one holding the job
        kill(first)
        second = stack.worker()  # the message comes back once its visibility timeout has passed
        events = ws.until("matched", "failed", timeout=90)
        assert names(events) == ["processing", "faces_found", "matched"], events
        assert events[0]["attempt"] == 2
        assert identities(events[-1]["result"]) == ["Barack_Obama", "Joseph_Biden"]
        # Had the message not been deleted, it would come back within a visibility timeout: no second result.
        assert listen(ws, VISIBILITY + 2) == []
    job = stack.job(job_id)
    assert job["state"] == "done" and job["attempts"] == 2
    assert job["result"]["faces"] == events[-1]["result"]["faces"]
    assert stack.stored(job_id).worker == second.pid
    assert not s.object_exists(key)
    assert stack.counts() == (0, 0)


def test_a_job_that_kills_its_worker_every_time_is_dead_lettered_and_failed(
    poison_stack: Stack, two_people: bytes
) -> None:
    s = poison_stack.system
    first = poison_stack.worker()
    key = s.upload(two_people)
    with Client(s.stack.websocket_url) as ws:
        job_id = submit(ws, key)["job"]
        assert ws.recv()["event"] == "processing"
        kill(first)  # with one delivery allowed, SQS moves the message to the dead letters at the next receive
        poison_stack.worker()
        events = ws.until("matched", "failed", timeout=90)
        assert names(events) == ["failed"], events  # not processed again: failed from the dead letter
        assert events[0]["error"]["code"] == "worker_crashed"
        assert listen(ws, 1) == []
    job = poison_stack.job(job_id)
    assert job["state"] == "failed" and job["attempts"] == 1
    assert job["result"]["error"]["code"] == "worker_crashed"
    assert not s.object_exists(key)
    assert poison_stack.counts() == (0, 0)
    assert poison_stack.counts(s.stack.dead_letter_queue_url) == (0, 0)  # the dead letter was consumed


# -- a client that leaves -------------------------------------------------------------------------


def test_a_client_that_left_still_gets_its_result_stored(stack: Stack, two_people: bytes) -> None:
    s = stack.system
    worker = stack.worker()
    key = s.upload(two_people)
    with Client(s.stack.websocket_url) as ws:
        job_id = submit(ws, key)["job"]
    job = wait_for(lambda: (j := stack.job(job_id))["state"] in ("done", "failed") and j, 60, "the job finished")
    assert job["state"] == "done" and identities(job["result"]) == ["Barack_Obama", "Joseph_Biden"]
    assert not s.object_exists(key)
    assert stack.counts() == (0, 0)
    # The worker's events went to a connection API Gateway answers Gone for, and it carried on.
    management = s.emulator.client("apigatewaymanagementapi", endpoint_url=s.stack.management_endpoint)
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId=stack.stored(job_id).connection_id, Data=b"{}")
    assert worker.poll() is None
    s.wait_healthy(worker, timeout=10)
    log = s.worker_log(worker)
    assert "Traceback" not in log and "worker error" not in log, log


def test_a_page_that_reconnects_resumes_its_job(stack: Stack, two_people: bytes) -> None:
    """The worker holds the old connection; told Gone, it finds the job's new one and follows it."""
    s = stack.system
    stack.worker()
    key = s.upload(two_people)
    with Client(s.stack.websocket_url) as ws:
        queued = submit(ws, key)
        job_id = queued["job"]
        old = stack.stored(job_id).connection_id
    wait_for(lambda: stack.job(job_id)["state"] == "processing", 30, "a worker took the job")  # and pauses
    with Client(s.stack.websocket_url) as ws:
        ws.send({"action": "resume", "job": job_id})  # the id alone does not move a job: only its creator may
        assert ws.until("error", timeout=30)[-1]["error"]["code"] == "bad_token"
        ws.send({"action": "resume", "job": job_id, "token": queued["resume_token"]})
        events = ws.until("matched", "failed", timeout=60)
        assert listen(ws, 1) == []
    assert sorted(names(events)) == ["faces_found", "matched", "resumed"] and events[-1]["event"] == "matched", events
    resumed = next(e for e in events if e["event"] == "resumed")
    assert resumed["job"] == job_id and resumed["state"] == "processing"
    assert identities(events[-1]["result"]) == ["Barack_Obama", "Joseph_Biden"]
    assert stack.stored(job_id).connection_id != old
    assert stack.job(job_id)["attempts"] == 1


# -- a worker asked to stop (how ECS scales in or deploys) ---------------------------------------


def test_a_job_arriving_after_sigterm_is_handed_back_to_the_next_worker(stack: Stack, two_people: bytes) -> None:
    s = stack.system
    worker = stack.worker()
    with Client(s.stack.websocket_url) as ws:  # a job first: right after it the worker opens a new long poll
        submit(ws, s.upload(two_people))
        ws.until("matched", "failed", timeout=60)
    time.sleep(1)  # well inside that poll, with most of its wait still to come
    worker.send_signal(signal.SIGTERM)
    key = s.upload(two_people)
    with Client(s.stack.websocket_url) as ws:
        job_id = submit(ws, key)["job"]
        assert worker.wait(LONG_POLL + 5) == 0  # it received the job in that poll and released it
        assert listen(ws, 1) == []  # not started: no "processing"
        assert stack.counts() == (1, 0)  # visible again at once, not after a visibility timeout
        assert stack.job(job_id)["state"] == "queued"
        stack.worker()
        events = ws.until("matched", "failed", timeout=60)
    assert names(events) == ["processing", "faces_found", "matched"], events
    assert events[0]["attempt"] == 2  # the handed-back delivery counts (toward the dead letters too)
    assert stack.job(job_id)["attempts"] == 1  # but it was never started before
    assert not s.object_exists(key)
    assert stack.counts() == (0, 0)


def test_sigterm_mid_job_finishes_the_job_then_exits(stack: Stack, two_people: bytes) -> None:
    s = stack.system
    worker = stack.worker()
    key = s.upload(two_people)
    with Client(s.stack.websocket_url) as ws:
        job_id = submit(ws, key)["job"]
        assert ws.recv()["event"] == "processing"
        worker.send_signal(signal.SIGTERM)  # while it pauses mid-job
        events = ws.until("matched", "failed", timeout=60)
        assert names(events) == ["faces_found", "matched"], events
        assert worker.wait(10) == 0  # then it exits, without waiting for another job
    assert re.search(r"stopped after \d+ jobs", s.worker_log(worker))
    job = stack.job(job_id)
    assert job["state"] == "done" and job["attempts"] == 1
    assert not s.object_exists(key)
    assert stack.counts() == (0, 0)


def test_sigterm_while_idle_exits_within_one_long_poll(poison_stack: Stack) -> None:
    worker = poison_stack.worker()
    assert poison_stack.counts() == (0, 0)
    asked = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(LONG_POLL + 5) == 0
    assert time.monotonic() - asked < LONG_POLL + 5
    assert re.search(r"stopped after \d+ jobs", poison_stack.system.worker_log(worker))
