"""The embedded queue's SQS semantics and the job store's once-only result, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookalike.adapters.sqlite_jobs import SqliteJobStore
from lookalike.adapters.sqlite_queue import SqliteQueue
from lookalike.service.results import FaceBox, FaceResult, FacesFound, Lookalike, PhotoResult


def test_receive_hides_then_redelivers(tmp_path: Path) -> None:
    q = SqliteQueue(tmp_path / "q.sqlite", visibility_timeout=0.3, max_receives=5, poll_interval=0.01)
    q.send({"job_id": "a"})
    first = q.receive(wait_seconds=0)
    assert first is not None and first.body == {"job_id": "a"} and first.receive_count == 1
    assert q.receive(wait_seconds=0) is None  # hidden while in flight
    again = q.receive(wait_seconds=5)  # long poll returns as soon as it is visible again
    assert again is not None and again.receive_count == 2 and again.id == first.id
    q.delete(first.receipt)  # a stale receipt (the first worker, presumed dead) deletes nothing
    assert q.depth() == 1
    q.delete(again.receipt)
    assert q.depth() == 0 and q.receive(wait_seconds=0) is None


def test_fifo_order_and_many_processes_share_the_file(tmp_path: Path) -> None:
    a = SqliteQueue(tmp_path / "q.sqlite")
    b = SqliteQueue(tmp_path / "q.sqlite")
    for i in range(3):
        a.send({"n": i})
    got = [b.receive(0), a.receive(0), b.receive(0)]
    assert [m.body["n"] for m in got if m] == [0, 1, 2]
    assert a.receive(0) is None


def test_dead_letter_after_max_receives(tmp_path: Path) -> None:
    q = SqliteQueue(tmp_path / "q.sqlite", visibility_timeout=0.05, max_receives=2, poll_interval=0.01)
    q.send({"job_id": "doomed"})
    assert q.receive(5).receive_count == 1
    assert q.receive(5).receive_count == 2
    assert q.receive(0.3) is None  # a third receive moves it to dead letters instead
    assert q.dead_letter_count() == 1
    assert q.take_dead_letters() == [{"job_id": "doomed"}]
    assert q.dead_letter_count() == 0 and q.depth() == 0


def test_job_result_is_stored_once(tmp_path: Path) -> None:
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite", ttl_seconds=60)
    jobs.create("j", "uploads/k", "c1")
    assert jobs.start("j", 111).state == "processing"
    assert jobs.finish("j", "done", {"faces": [1]}) is True
    assert jobs.finish("j", "failed", {"error": {"code": "late"}}) is False  # a second attempt changes nothing
    job = jobs.get("j")
    assert job.state == "done" and job.result == {"faces": [1]} and job.attempts == 1
    assert jobs.start("j", 222).state == "done"  # a redelivery does not reopen it


def test_jobs_expire(tmp_path: Path) -> None:
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite", ttl_seconds=-1)  # already past its TTL when made
    jobs.create("j", "uploads/k", "c1")
    assert jobs.get("j") is None and jobs.by_key("uploads/k") is None


def test_uploads_never_submitted_are_swept(tmp_path: Path) -> None:
    import os
    import uuid

    from lookalike.adapters.local_storage import LocalStorage

    storage = LocalStorage(tmp_path, b"k")
    old, new = f"uploads/{uuid.uuid4()}", f"uploads/{uuid.uuid4()}"
    for key in (old, new):
        p = storage.presign_upload(key, "image/jpeg")
        storage.accept_upload(p.fields, b"photo bytes")
    os.utime(tmp_path / old, (1, 1))  # long ago
    assert storage.sweep(3600) == 1
    assert not storage.exists(old) and storage.exists(new)


class FakeStorage:
    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def get(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def exists(self, key: str) -> bool:
        return key in self.objects

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)


class FakeNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []

    def send(self, endpoint: str, connection_id: str, event: dict) -> bool:
        self.sent.append((connection_id, event))
        return True


def test_redelivered_finished_job_resends_the_stored_result_without_matching(tmp_path: Path) -> None:
    """A worker died after storing the result but before telling anyone: the next one only re-sends it."""
    from lookalike.service.jobs import JobProcessor

    key = "uploads/00000000-0000-0000-0000-000000000001"
    storage = FakeStorage({key: b"photo"})
    queue = SqliteQueue(tmp_path / "q.sqlite", visibility_timeout=0)
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite")
    notifier = FakeNotifier()
    calls = []

    def match(data: bytes, name: str, on_faces, person_filter=None, explain=False) -> PhotoResult:
        calls.append(data)
        on_faces(FacesFound(0, [], 1, 1))
        return PhotoResult("photo", None, 1, 1, False, 0, [], {"faces": False}, {})

    processor = JobProcessor(storage, queue, jobs, notifier, match)
    jobs.create("j", key, "conn")
    queue.send({"job_id": "j", "key": key, "connection_id": "conn"})
    first = queue.receive(0)
    processor.jobs.start("j", 1)
    processor.jobs.finish("j", "done", {"error": None, "faces": [], "faces_found": 0})  # ...and the worker dies
    second = queue.receive(1)
    assert second is not None and second.id == first.id
    processor.process(second)
    assert calls == []  # not matched again
    assert [e["event"] for _, e in notifier.sent] == ["matched"]
    assert notifier.sent[0][0] == "conn" and notifier.sent[0][1]["job"] == "j"
    assert not storage.exists(key) and queue.depth() == 0


def test_processing_sends_events_in_order_and_deletes_the_photo(tmp_path: Path) -> None:
    from lookalike.service.jobs import JobProcessor

    key = "uploads/00000000-0000-0000-0000-000000000002"
    storage = FakeStorage({key: b"photo"})
    queue = SqliteQueue(tmp_path / "q.sqlite")
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite")
    notifier = FakeNotifier()

    def match(data: bytes, name: str, on_faces, person_filter=None, explain=False) -> PhotoResult:
        box = FaceBox(0, 0, 1, 1)
        on_faces(FacesFound(1, [box], 1, 1))
        lookalike = Lookalike("A", "A", 0.5, 0.6, 90.0, face_id=7, photo="/srv/gallery/A/a.jpg")
        aligned = Lookalike("B", "B", 0.6, 0.5, 80.0, face_id=8, photo="b.jpg", aligned="/api/faces/8/aligned")
        face = FaceResult(box, [], 0.9, "yunet", 1, "low", None, [lookalike, aligned], {})
        return PhotoResult("photo", None, 1, 1, False, 1, [face], {"faces": True}, {})

    jobs.create("j", key, "conn")
    queue.send({"job_id": "j", "key": key, "connection_id": "conn"})
    JobProcessor(storage, queue, jobs, notifier, match, aligned="/cdn/aligned/{face_id}.jpg").process(queue.receive(0))
    assert [e["event"] for _, e in notifier.sent] == ["processing", "faces_found", "matched"]
    match_doc, other = notifier.sent[-1][1]["result"]["faces"][0]["matches"]
    assert (match_doc["face_id"], match_doc["photo"], match_doc["thumbnail"]) == (7, "a.jpg", "/api/faces/7/thumbnail")
    assert "aligned" not in match_doc and other["aligned"] == "/cdn/aligned/8.jpg"  # only where the gallery has one
    assert not storage.exists(key) and queue.depth() == 0 and jobs.get("j").state == "done"


def test_a_client_gone_while_hearing_queued_does_not_lose_the_job(tmp_path: Path) -> None:
    """The page closed its socket right after sending "match": telling it "queued" fails, but the job must
    still reach the queue (else a page that reconnects and resumes waits for ever)."""
    from lookalike.service.jobs import JobService

    key = "uploads/00000000-0000-0000-0000-000000000003"
    queue = SqliteQueue(tmp_path / "q.sqlite")
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite")

    def gone(job) -> None:  # type: ignore[no-untyped-def]
        raise ConnectionResetError("the socket closed")

    job, created = JobService(FakeStorage({key: b"photo"}), queue, jobs).submit(key, "conn", before_enqueue=gone)
    assert created and jobs.get(job.id) is not None
    message = queue.receive(0)
    assert message is not None and message.body["job_id"] == job.id


def test_the_job_carries_its_filter_to_the_worker(tmp_path: Path) -> None:
    """The filter of a ``match`` message rides in the job's queue message; a forged one fails the job."""
    from lookalike.person_filter import PersonFilter
    from lookalike.service.jobs import JobProcessor, JobService

    keys = [f"uploads/00000000-0000-0000-0000-00000000001{i}" for i in range(2)]
    storage = FakeStorage(dict.fromkeys(keys, b"photo"))
    queue = SqliteQueue(tmp_path / "q.sqlite")
    jobs = SqliteJobStore(tmp_path / "jobs.sqlite")
    chosen = PersonFilter(sex="female", occupations=("actor", "musician"), born_after=1970, living=True)
    JobService(storage, queue, jobs).submit(keys[0], "conn", person_filter=chosen)
    message = queue.receive(0)
    assert message.body["filter"] == {"sex": "female", "occupation": ["actor", "musician"], "born_after": 1970,
                                      "living": True}  # fmt: skip
    seen = []

    def match(data: bytes, name: str, on_faces, person_filter=None, explain=False) -> PhotoResult:
        seen.append(person_filter)
        return PhotoResult("photo", None, 1, 1, False, 0, [], {"faces": False}, {})

    notifier = FakeNotifier()
    JobProcessor(storage, queue, jobs, notifier, match).process(message)
    assert seen == [chosen]
    JobService(storage, queue, jobs).submit(keys[1], "conn")
    forged = queue.receive(0)
    assert "filter" not in forged.body  # everyone: no filter in the message
    forged = type(forged)({**forged.body, "filter": {"sex": "robot"}}, forged.receipt, forged.receive_count, forged.id)
    JobProcessor(storage, queue, jobs, notifier, match).process(forged)
    assert len(seen) == 1 and notifier.sent[-1][1]["event"] == "failed"
    assert notifier.sent[-1][1]["error"]["code"] == "bad_filter"


def test_the_match_message_reads_its_filter() -> None:
    from lookalike.errors import JobError
    from lookalike.person_filter import PersonFilter
    from lookalike.service.protocol import parse

    message = parse('{"action": "match", "key": "k", "sex": "female", "occupation": ["actors"], "born_before": "2000"}',
                    4096)  # fmt: skip
    assert message.person_filter == PersonFilter(sex="female", occupations=("actor",), born_before=2000)
    assert parse('{"action": "match", "key": "k"}', 4096).person_filter.empty
    assert parse('{"action": "resume", "job": "j", "token": "t", "sex": "robot"}', 4096).person_filter.empty
    for bad in ('"sex": 3', '"occupation": {"a": 1}', '"born_after": true', '"living": "perhaps"', '"sex": "robot"'):
        with pytest.raises(JobError) as raised:
            parse('{"action": "match", "key": "k", ' + bad + "}", 4096)
        assert raised.value.code == "bad_filter", bad
    round_trip = PersonFilter(sex="male", occupations=("writer",), born_after=1900, born_before=1990, living=False)
    assert PersonFilter.from_fields(round_trip.fields()) == round_trip
