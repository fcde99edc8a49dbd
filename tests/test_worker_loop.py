"""The worker loop on the embedded queue (SQLite, SQS semantics), with a real JobProcessor and job store
and a stand-in for the engine that the test holds and releases: a slow job is kept hidden from other
workers (for a while), a stopping worker hands back what it receives and finishes what it started,
dead letters become failed jobs, one failing job does not end the loop."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lookalike.adapters.sqlite_jobs import SqliteJobStore
from lookalike.adapters.sqlite_queue import SqliteQueue
from lookalike.service.jobs import JobProcessor
from lookalike.service.ports import Message
from lookalike.service.results import FacesFound, PhotoResult
from lookalike.service.worker import VisibilityKeeper, WorkerLoop


class FakeStorage:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def exists(self, key: str) -> bool:
        return key in self.objects

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        self.sent.append(event)
        return True

    def events(self, job_id: str) -> list[str]:
        return [e["event"] for e in self.sent if e["job"] == job_id]


class Engine:
    """Stands in for matching: can hold each call until released, and fail its first ``fail`` calls."""

    def __init__(self, hold: bool = False, fail: int = 0) -> None:
        self.hold, self.fail = hold, fail
        self.calls = 0
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(
        self,
        data: bytes,
        name: str,
        on_faces: Callable[[FacesFound], None],
        person_filter: object = None,
        explain: bool = False,
    ) -> PhotoResult:
        self.calls += 1
        self.started.set()
        if self.hold:
            assert self.release.wait(10), "the test never released the job"
        if self.calls <= self.fail:
            raise RuntimeError("the engine fell over")
        on_faces(FacesFound(0, [], 1, 1))
        return PhotoResult("photo", None, 1, 1, False, 0, [], {"faces": False}, {})


@dataclass
class World:
    path: Path
    queue: SqliteQueue
    engine: Engine
    jobs: SqliteJobStore = field(init=False)
    storage: FakeStorage = field(default_factory=FakeStorage)
    notifier: FakeNotifier = field(default_factory=FakeNotifier)

    def __post_init__(self) -> None:
        self.jobs = SqliteJobStore(self.path / "jobs.sqlite")

    def processor(self) -> JobProcessor:
        return JobProcessor(self.storage, self.queue, self.jobs, self.notifier, self.engine)

    def other_worker(self) -> SqliteQueue:
        """The same queue as another worker process sees it."""
        return SqliteQueue(self.path / "q.sqlite", visibility_timeout=60, max_receives=self.queue.max_receives)

    def submit(self) -> tuple[str, str]:
        """An uploaded photo submitted as a job, as the API does it: (job id, upload key)."""
        job_id, key = str(uuid.uuid4()), f"uploads/{uuid.uuid4()}"
        self.storage.objects[key] = b"photo"
        self.jobs.create(job_id, key, f"conn-{job_id}")
        self.queue.send({"job_id": job_id, "key": key, "connection_id": f"conn-{job_id}"})
        return job_id, key


def world(tmp_path: Path, visibility: float = 60, max_receives: int = 3, **engine: Any) -> World:
    queue = SqliteQueue(tmp_path / "q.sqlite", visibility_timeout=visibility, max_receives=max_receives)
    return World(tmp_path, queue, Engine(**engine))


@pytest.fixture
def in_background() -> Iterator[Callable[[Callable[[], object]], threading.Thread]]:
    """Run a loop's method in a thread; whatever a test leaves running is joined at the end."""
    threads: list[threading.Thread] = []

    def start(target: Callable[[], object]) -> threading.Thread:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        threads.append(thread)
        return thread

    yield start
    for thread in threads:
        thread.join(15)


def finished(thread: threading.Thread, timeout: float = 10) -> bool:
    thread.join(timeout)
    return not thread.is_alive()


# -- keeping a slow job hidden ------------------------------------------------------------------------


def test_a_slow_job_stays_hidden_from_other_workers_past_the_visibility_timeout(tmp_path: Path, in_background) -> None:
    w = world(tmp_path, visibility=0.3, hold=True)
    job_id, key = w.submit()
    loop = WorkerLoop(w.processor(), w.queue, visibility_timeout=0.3, job_timeout=30, wait_seconds=0.1)
    runner = in_background(loop.run_once)
    try:
        assert w.engine.started.wait(10)
        time.sleep(1.2)  # four visibility timeouts
        assert w.other_worker().receive(wait_seconds=0.3) is None
    finally:
        w.engine.release.set()
    assert finished(runner)
    assert w.jobs.get(job_id).state == "done" and w.jobs.get(job_id).attempts == 1
    assert w.queue.depth() == 0 and not w.storage.exists(key)
    assert w.notifier.events(job_id) == ["processing", "faces_found", "matched"]


def test_a_job_past_its_time_limit_fails_as_too_slow_and_is_not_retried(tmp_path: Path, in_background) -> None:
    """The photo's computation hangs: at the job limit the client hears ``too_slow`` at once, the message is
    deleted (no other worker gets it), the photo is deleted; the late computation changes nothing."""
    w = world(tmp_path, visibility=0.3, hold=True)
    job_id, key = w.submit()
    loop = WorkerLoop(w.processor(), w.queue, visibility_timeout=0.3, job_timeout=1.0, wait_seconds=0.1)
    runner = in_background(loop.run_once)
    other = w.other_worker()
    try:
        assert w.engine.started.wait(10)
        started = time.monotonic()
        time.sleep(0.6)  # twice the visibility timeout, within the job limit: still kept from others
        assert other.receive(wait_seconds=0) is None and w.jobs.get(job_id).state == "processing"
        while w.jobs.get(job_id).state == "processing" and time.monotonic() - started < 5:
            time.sleep(0.02)
        waited = time.monotonic() - started
        job = w.jobs.get(job_id)
        assert job.state == "failed" and job.result["error"]["code"] == "too_slow"
        assert "took too long" in job.result["error"]["message"]
        assert 0.9 <= waited < 3
        assert w.notifier.events(job_id) == ["processing", "failed"]
        assert w.notifier.sent[-1]["error"]["code"] == "too_slow"
        assert w.queue.depth() == 0 and not w.storage.exists(key)
        assert other.receive(wait_seconds=0.5) is None  # never handed to another worker
    finally:
        w.engine.release.set()
    assert finished(runner)
    job = w.jobs.get(job_id)  # the late result of the computation is dropped, and nothing more is sent
    assert job.state == "failed" and job.result["error"]["code"] == "too_slow" and job.attempts == 1
    assert w.notifier.events(job_id) == ["processing", "failed"]
    assert w.engine.calls == 1 and w.queue.depth() == 0


class FakeTime:
    """A clock that moves only when the keeper waits; the job ends at ``job_ends`` (seconds)."""

    def __init__(self, job_ends: float = float("inf")) -> None:
        self.now = 0.0
        self.job_ends = job_ends
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now = min(self.now + seconds, self.job_ends)
        return self.now >= self.job_ends


class VisibleQueue:
    """Only what the keeper calls, keeping the time at which the message would be visible again."""

    def __init__(self, time: FakeTime, timeout: float) -> None:
        self.time = time
        self.visible_at = timeout  # received at 0
        self.extended_at: list[float] = []

    def extend(self, receipt: str, seconds: float) -> None:
        self.extended_at.append(self.time.now)
        self.visible_at = self.time.now + seconds

    def delete(self, receipt: str) -> None:
        self.visible_at = float("inf")


def _keep(
    timeout: float,
    limit: float,
    beat_every: float | None,
    job_ends: float = float("inf"),
    stuck_grace: float | None = None,
) -> dict[str, Any]:
    """Run a keeper's schedule on a fake clock; what happened when."""
    fake = FakeTime(job_ends)
    queue = VisibleQueue(fake, timeout)
    beats: list[float] = []
    limits: list[float] = []
    stuck: list[float] = []
    hidden: list[bool] = []  # at every beat: is the message still hidden from other workers?

    def beat() -> None:
        beats.append(fake.now)
        hidden.append(fake.now < queue.visible_at)

    def at_limit() -> None:
        limits.append(fake.now)
        hidden.append(fake.now < queue.visible_at)
        queue.delete("r")

    keeper = VisibilityKeeper(
        queue,  # type: ignore[arg-type]
        Message({"job_id": "j"}, "r"),
        timeout=timeout,
        limit=limit,
        heartbeat=beat,
        on_limit=at_limit,
        beat_every=beat_every,
        clock=fake.clock,
        wait=fake.wait,
        on_stuck=None if stuck_grace is None else (lambda: stuck.append(fake.now)),
        stuck_grace=stuck_grace or 0.0,
    )
    keeper.keep()
    return {
        "beats": beats,
        "limits": limits,
        "stuck": stuck,
        "hidden": hidden,
        "extended": queue.extended_at,
        "end": fake.now,
    }


def test_keeper_beats_the_heartbeat_until_the_job_limit_with_aws_timeouts() -> None:
    """AWS: visibility 180 s, job limit 60 s, health check 60 s (beat every 15 s).  The keeper's tick used to
    be 180/3 = 60 s = the limit: it gave up at its first tick, never extending nor beating."""
    run = _keep(timeout=180, limit=60, beat_every=15)
    assert run["beats"] == [15, 30, 45]  # the health file stays fresh (gaps of 15 s < 60 s) while the job runs
    assert run["limits"] == [60] and run["end"] == 60  # the job fails at its limit, not later
    assert all(run["hidden"])  # no other worker could take it meanwhile
    assert run["extended"] == []  # 180 s of visibility outlast the 60 s limit: nothing to extend


def test_keeper_extends_until_the_job_limit() -> None:
    """A limit longer than the visibility timeout: the message is extended before it would come back, every
    time, for as long as the job may run, and not after."""
    run = _keep(timeout=30, limit=300, beat_every=15)
    assert all(run["hidden"]) and len(run["hidden"]) == len(run["beats"]) + 1
    assert run["extended"] and run["extended"][-1] < 300
    assert all(b - a <= 10 for a, b in zip([0, *run["extended"]], run["extended"]))  # well inside 30 s
    assert max(b - a for a, b in zip([0, *run["beats"]], run["beats"])) <= 15
    assert run["limits"] == [300]


def test_keeper_stops_when_the_job_ends_before_its_limit() -> None:
    run = _keep(timeout=30, limit=300, beat_every=15, job_ends=50)  # ticks every 30/3 = 10 s
    assert run["beats"] == [10, 20, 30, 40] and run["extended"] == [10, 20, 30, 40] and run["limits"] == []
    assert run["end"] == 50


class RecordingQueue:
    """Only what the keeper calls; the first extension fails, as a queue briefly unreachable does."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def extend(self, receipt: str, seconds: float) -> None:
        self.calls.append((receipt, seconds))
        if len(self.calls) == 1:
            raise ConnectionError("the queue is unreachable for a moment")


def test_the_keeper_extends_by_the_visibility_timeout_survives_an_error_and_stops_with_the_job() -> None:
    queue = RecordingQueue()
    with VisibilityKeeper(queue, Message({}, "receipt-1"), timeout=0.15, limit=30) as keeper:  # type: ignore[arg-type]
        time.sleep(0.5)  # about ten ticks of 0.05 s
    after_exit = len(queue.calls)
    time.sleep(0.3)
    assert len(queue.calls) == after_exit  # nothing once the job is done
    assert after_exit >= 3 and keeper.extensions == after_exit - 1  # it went on after the failed one
    assert set(queue.calls) == {("receipt-1", 0.15)}


# -- stopping --------------------------------------------------------------------------------------


class EnteringQueue:
    """The queue, telling when a receive has begun (the worker is waiting for work)."""

    def __init__(self, queue: SqliteQueue) -> None:
        self.queue = queue
        self.waiting = threading.Event()

    def receive(self, wait_seconds: float = 1.0) -> Message | None:
        self.waiting.set()
        return self.queue.receive(wait_seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.queue, name)


def test_a_message_received_after_stop_was_asked_is_handed_back_at_once(tmp_path: Path, in_background) -> None:
    w = world(tmp_path, visibility=60)
    queue = EnteringQueue(w.queue)
    loop = WorkerLoop(w.processor(), queue, visibility_timeout=60, wait_seconds=3)  # type: ignore[arg-type]
    runner = in_background(loop.run)
    assert queue.waiting.wait(10)
    loop.stop()  # while it waits for work...
    job_id, key = w.submit()  # ...a job arrives and is received
    assert finished(runner, 5)
    message = w.other_worker().receive(wait_seconds=0)  # visible again now, not after 60 s
    assert message is not None and message.body["job_id"] == job_id
    assert message.receive_count == 2  # that delivery counts (a job cannot bounce between stopping workers forever)
    assert w.engine.calls == 0 and w.notifier.sent == [] and loop.processed == 0
    assert w.jobs.get(job_id).state == "queued" and w.jobs.get(job_id).attempts == 0
    assert w.storage.exists(key)


def test_run_returns_after_stop_once_the_current_job_is_done(tmp_path: Path, in_background) -> None:
    w = world(tmp_path, visibility=60, hold=True)
    current, _ = w.submit()
    waiting, _ = w.submit()
    loop = WorkerLoop(w.processor(), w.queue, visibility_timeout=60, wait_seconds=0.1)
    runner = in_background(loop.run)
    try:
        assert w.engine.started.wait(10)
        loop.stop()
        time.sleep(0.3)
        assert runner.is_alive()  # the job in hand is not abandoned
    finally:
        w.engine.release.set()
    assert finished(runner)
    assert loop.processed == 1 and w.jobs.get(current).state == "done"
    assert w.notifier.events(current)[-1] == "matched"
    assert w.jobs.get(waiting).state == "queued"  # the next one was never taken
    message = w.other_worker().receive(wait_seconds=0)
    assert message is not None and message.body["job_id"] == waiting and message.receive_count == 1
    assert w.queue.depth() == 1


# -- dead letters, errors, liveness --------------------------------------------------------------------


def test_dead_letters_become_failed_jobs_once_the_queue_is_idle(tmp_path: Path) -> None:
    w = world(tmp_path, visibility=0.05, max_receives=1)
    doomed, doomed_key = w.submit()
    assert w.queue.receive(wait_seconds=0) is not None  # ...and its worker dies: never deleted
    time.sleep(0.1)  # past the visibility timeout; the next receive dead-letters it
    waiting, _ = w.submit()
    loop = WorkerLoop(w.processor(), w.queue, visibility_timeout=0.05, wait_seconds=0.1)
    assert loop.run_once() is True  # work first: the waiting job
    assert w.jobs.get(waiting).state == "done"
    assert w.queue.dead_letter_count() == 1 and w.jobs.get(doomed).state == "queued"  # not failed yet
    assert loop.run_once() is False  # idle: now the dead letter is turned into a failed job
    job = w.jobs.get(doomed)
    assert job.state == "failed" and job.result["error"]["code"] == "worker_crashed"
    failed = [e for e in w.notifier.sent if e["job"] == doomed]
    assert [e["event"] for e in failed] == ["failed"] and failed[0]["error"]["code"] == "worker_crashed"
    assert not w.storage.exists(doomed_key)
    assert w.queue.dead_letter_count() == 0 and w.queue.depth() == 0
    assert w.engine.calls == 1  # only the healthy job was matched


def test_a_job_that_raises_does_not_end_the_loop_and_is_retried(tmp_path: Path, in_background) -> None:
    w = world(tmp_path, visibility=0.2, fail=1)
    job_id, key = w.submit()
    loop = WorkerLoop(w.processor(), w.queue, visibility_timeout=0.2, wait_seconds=0.1)
    runner = in_background(loop.run)
    try:
        deadline = time.monotonic() + 10
        while w.jobs.get(job_id).state != "done" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runner.is_alive()
    finally:
        loop.stop()
    assert finished(runner)
    job = w.jobs.get(job_id)
    assert job.state == "done" and job.attempts == 2 and w.engine.calls == 2
    assert w.notifier.events(job_id) == ["processing", "processing", "faces_found", "matched"]
    assert [e.get("attempt") for e in w.notifier.sent[:2]] == [1, 2]
    assert not w.storage.exists(key) and w.queue.depth() == 0


def test_the_heartbeat_beats_while_idle_and_once_more_on_the_way_out(tmp_path: Path, in_background) -> None:
    w = world(tmp_path)
    beats: list[bool] = []  # whether a stop had been asked at each beat
    loop = WorkerLoop(w.processor(), w.queue, wait_seconds=0.05)
    loop.heartbeat = lambda: beats.append(loop.stopping.is_set())
    runner = in_background(loop.run)
    deadline = time.monotonic() + 10
    while len(beats) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    loop.stop()
    assert finished(runner)
    assert len(beats) >= 4 and not any(beats[:3]) and beats[-1] is True


def test_a_long_job_keeps_the_heartbeat_going_until_it_is_given_up(tmp_path: Path) -> None:
    """The container's health check must not fail a worker busy with one slow photo, but must fail one
    stuck past the job timeout (then the message is redelivered and the task replaced)."""
    from lookalike.service.worker import VisibilityKeeper

    queue = SqliteQueue(tmp_path / "q.sqlite", visibility_timeout=0.3)
    queue.send({"job_id": "slow"})
    message = queue.receive(0)
    beats: list[float] = []
    start = time.monotonic()
    with VisibilityKeeper(queue, message, timeout=0.3, limit=0.9, heartbeat=lambda: beats.append(time.monotonic())):
        time.sleep(2.0)
    assert len(beats) >= 4  # a beat with every extension (every 0.1 s) ...
    assert beats[-1] - start < 1.05  # ... and none once the 0.9 s limit has passed


def test_a_job_still_running_after_its_limit_and_grace_gives_its_worker_up() -> None:
    """A photo whose computation never ends: failed at the limit, and 10 s later the worker is given up
    (serve's worker process exits and is replaced), instead of being lost to that photo for ever."""
    run = _keep(timeout=30, limit=60, beat_every=15, stuck_grace=10)
    assert run["limits"] == [60] and run["stuck"] == [70]


def test_a_job_that_ends_within_the_grace_after_its_limit_keeps_its_worker() -> None:
    run = _keep(timeout=30, limit=60, beat_every=15, job_ends=65, stuck_grace=10)
    assert run["limits"] == [60] and run["stuck"] == []
