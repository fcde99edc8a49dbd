"""Several photos of one person through the WebSocket: the ``keys`` of a match message, the job that
records them, the sweep that leaves them, and a real worker that combines them (or refuses a mix)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import WS, Server
from lookalike.adapters.local_storage import LocalStorage
from lookalike.adapters.sqlite_jobs import SqliteJobStore
from lookalike.adapters.sqlite_queue import SqliteQueue
from lookalike.errors import JobError
from lookalike.service.jobs import JobProcessor, JobService
from lookalike.service.ports import Message
from lookalike.service.protocol import Conversation, parse
from lookalike.service.results import PhotoResult


def new_key() -> str:
    return f"uploads/{uuid.uuid4()}"


# -- the message ------------------------------------------------------------------------------


def test_keys_are_read_in_order_with_the_filter() -> None:
    keys = [new_key() for _ in range(3)]
    message = parse(json.dumps({"action": "match", "keys": keys, "living": True}), 4096)
    assert message.keys == tuple(keys) and message.key == keys[0]
    assert message.person_filter.fields() == {"living": True}
    assert parse(json.dumps({"action": "match", "key": keys[0]}), 4096).keys == ()  # one photo, as before


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"key": "K1", "keys": ["K1", "K2"]}, "key_and_keys"),
        ({"keys": "K1"}, "bad_keys"),
        ({"keys": None}, "bad_keys"),
        ({"keys": {"0": "K1", "1": "K2"}}, "bad_keys"),
        ({"keys": []}, "bad_key_count"),
        ({"keys": ["K1"]}, "bad_key_count"),
        ({"keys": ["K1", "K2", "K3", "K4", "K5", "K6"]}, "bad_key_count"),
        ({"keys": ["K1", "../../etc/passwd"]}, "bad_key"),
        ({"keys": ["K1", 7]}, "bad_key"),
        ({"keys": ["K1", "K2", "K1"]}, "duplicate_keys"),
        ({"keys": ["K1", "K2"], "born_after": "the seventies"}, "bad_filter"),
    ],
)
def test_keys_that_cannot_be_taken_are_refused_with_their_own_code(fields: dict[str, Any], code: str) -> None:
    named = {"K1": new_key(), "K2": new_key(), "K3": new_key(), "K4": new_key(), "K5": new_key(), "K6": new_key()}

    def real(value: Any) -> Any:
        if isinstance(value, list):
            return [named.get(v, v) if isinstance(v, str) else v for v in value]
        return named.get(value, value) if isinstance(value, str) else value

    message = {"action": "match", **{k: real(v) for k, v in fields.items()}}
    with pytest.raises(JobError) as refused:
        parse(json.dumps(message), 4096)
    assert refused.value.code == code and refused.value.message


# -- the job: recorded with every key, nothing queued when refused ---------------------------------


class Recorder:
    """A notifier that keeps what it was told to send."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        self.sent.append(event)
        return True


@pytest.fixture
def embedded(tmp_path: Path) -> tuple[LocalStorage, SqliteQueue, SqliteJobStore]:
    storage = LocalStorage(tmp_path / "storage", b"secret")
    queue = SqliteQueue(tmp_path / "queue.sqlite", visibility_timeout=30, max_receives=3)
    return storage, queue, SqliteJobStore(tmp_path / "jobs.sqlite")


def uploaded(storage: LocalStorage, n: int) -> list[str]:
    keys = [new_key() for _ in range(n)]
    for key in keys:
        storage.accept_upload(storage.presign_upload(key, "image/jpeg").fields, b"\xff\xd8 a photo")
    return keys


def test_a_match_of_several_is_one_job_recorded_with_every_key(embedded: Any) -> None:
    storage, queue, jobs = embedded
    keys = uploaded(storage, 3)
    talk = Conversation(JobService(storage, queue, jobs), 4096)
    answers: list[dict[str, Any]] = []
    talk.handle(json.dumps({"action": "match", "keys": keys}), "c1", "", answers.append)
    (queued,) = answers
    assert queued["event"] == "queued"
    job = jobs.get(queued["job"])
    assert job is not None and job.keys == keys and all(jobs.by_key(k) == job for k in keys)
    message = queue.receive(0)
    assert message is not None and message.body["key"] == keys[0] and message.body["extra_keys"] == keys[1:]
    queue.release(message.receipt)

    again: list[dict[str, Any]] = []  # the same keys again (a page that reconnected): the same job
    talk.handle(json.dumps({"action": "match", "keys": keys}), "c2", "", again.append)
    assert [e["event"] for e in again] == ["resumed"] and again[0]["job"] == job.id
    for other in ({"keys": keys[:2]}, {"keys": [keys[1], keys[0], keys[2]]}, {"key": keys[2]}):
        refused: list[dict[str, Any]] = []
        talk.handle(json.dumps({"action": "match", **other}), "c3", "", refused.append)
        assert [e["error"]["code"] for e in refused] == ["key_taken"], other
    assert queue.depth() == 1


def test_a_key_not_uploaded_is_named_and_nothing_is_recorded(embedded: Any) -> None:
    storage, queue, jobs = embedded
    keys = [*uploaded(storage, 1), new_key(), *uploaded(storage, 1)]
    answers: list[dict[str, Any]] = []
    Conversation(JobService(storage, queue, jobs), 4096).handle(
        json.dumps({"action": "match", "keys": keys}), "c1", "", answers.append
    )
    (error,) = answers
    assert error["error"]["code"] == "not_uploaded" and "photo 2 of 3" in error["error"]["message"]
    assert queue.depth() == 0 and all(jobs.by_key(k) is None for k in keys)


def test_a_jobs_file_of_an_older_version_gets_every_key_indexed(tmp_path: Path) -> None:
    import sqlite3

    from lookalike.service.ports import DuplicateJob

    old, path = new_key(), tmp_path / "jobs.sqlite"
    with sqlite3.connect(path) as db:  # the table as it was before jobs of several photos
        db.execute(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE, connection_id TEXT NOT NULL, "
            "state TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL, expires_at REAL NOT NULL, "
            "attempts INTEGER NOT NULL DEFAULT 0, worker INTEGER, result TEXT, endpoint TEXT NOT NULL DEFAULT '', "
            "token_hash TEXT NOT NULL DEFAULT '')"
        )
        db.execute(
            "INSERT INTO jobs (id, key, connection_id, state, created_at, updated_at, expires_at) "
            "VALUES ('old-job', ?, 'c', 'queued', 0, 0, ?)",
            (old, time.time() + 3600),
        )
    jobs = SqliteJobStore(path)
    assert jobs.by_key(old).id == "old-job" and jobs.by_key(old).extra_keys == []
    with pytest.raises(DuplicateJob):  # its key cannot become another job's extra photo
        jobs.create("new-job", new_key(), "c", extra_keys=[old])
    assert jobs.get("new-job") is None


def a_job_of(embedded: Any, n: int = 3) -> tuple[JobProcessor, list[str], Any]:
    storage, queue, jobs = embedded
    keys = uploaded(storage, n)
    JobService(storage, queue, jobs).submit(keys[0], "c1", extra_keys=keys[1:])
    message = queue.receive(0)
    assert message is not None

    def never(*args: Any, **kwargs: Any) -> PhotoResult:
        raise AssertionError("not matched in this test")

    return JobProcessor(storage, queue, jobs, Recorder(), never, match_several=never), keys, message


def test_a_dead_lettered_job_of_several_deletes_every_photo(embedded: Any) -> None:
    storage, _, jobs = embedded
    processor, keys, message = a_job_of(embedded)
    processor.fail_dead_letter(message.body)
    assert not any(storage.exists(k) for k in keys)
    job = jobs.by_key(keys[2])
    assert job is not None and job.state == "failed" and job.result["error"]["code"] == "worker_crashed"


def test_a_job_of_several_at_its_time_limit_deletes_every_photo(embedded: Any) -> None:
    storage, queue, jobs = embedded
    processor, keys, message = a_job_of(embedded)
    processor.time_out(message, 60)
    assert not any(storage.exists(k) for k in keys) and queue.depth() == 0
    assert jobs.by_key(keys[1]).result["error"]["code"] == "too_slow"


def test_a_message_whose_job_is_gone_deletes_every_photo_it_names(embedded: Any) -> None:
    storage, queue, _ = embedded
    processor, keys, message = a_job_of(embedded, 2)
    forgotten = Message({**message.body, "job_id": "no-such-job"}, message.receipt)
    processor.process(forgotten)
    assert not any(storage.exists(k) for k in keys) and queue.depth() == 0


# -- the sweep leaves a waiting job's every photo ---------------------------------------------------


def files_under(server: Server) -> list[str]:
    uploads = server.settings.home / "storage" / "uploads"
    return sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []


def test_the_sweep_keeps_every_photo_of_a_job_waiting_for_a_worker(start_server) -> None:
    server = start_server(workers=0, upload_expires_seconds=2)  # no worker: the job waits
    keys = [server.uploaded_key(f"\xff\xd8 photo {i}".encode()) for i in range(3)]
    lonely = server.uploaded_key(b"\xff\xd8 never submitted")
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "keys": keys})
        assert ws.recv()["event"] == "queued"
    deadline = time.monotonic() + 10
    while lonely.split("/")[1] in files_under(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert files_under(server) == sorted(k.split("/")[1] for k in keys)  # swept the lonely one only


# -- a real worker and real photos ------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(start_server, small_gallery: Path) -> Server:
    """One worker over small/face_recognition and small/five_celeb, pausing a moment before each job
    (time for a test to take a photo away)."""
    return start_server(workers=1, gallery=small_gallery, worker_pause_seconds=1.5)


@pytest.fixture(scope="module")
def five(data: Path) -> Path:
    return data / "small" / "five_celeb"


def match_photos(server: Server, photos: list[Path], lose: int | None = None) -> tuple[list[str], list[dict]]:
    keys = [server.uploaded_key(p.read_bytes()) for p in photos]
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "keys": keys})
        events = ws.until("processing", "failed", timeout=120)
        if lose is not None:  # the worker is pausing: the photo is gone when it reads the photos
            server.app.state.env.storage.delete(keys[lose])
        if events[-1]["event"] != "failed":
            events += ws.until("matched", "failed", timeout=120)
    return keys, events


def test_three_photos_of_one_person_are_matched_as_one(server: Server, five: Path) -> None:
    ben = sorted((five / "Ben_Affleck").glob("*.jpg"))[:3]
    keys, events = match_photos(server, ben)
    assert [e["event"] for e in events] == ["queued", "processing", "matched"], events
    result = events[-1]["result"]
    assert result["same_person"]["photos"] == ["photo 1", "photo 2", "photo 3"] and result["same_person"]["odd"] == []
    (face,) = result["faces"]
    assert face["matches"][0]["name"] == "Ben_Affleck" and face["matches"][0]["thumbnail"]
    assert files_under(server) == []  # every photo deleted once matched
    with server.client() as c:
        assert c.get(f"/api/jobs/{events[0]['job']}").json()["result"]["same_person"]["odd"] == []


def test_two_people_are_refused_naming_the_photo_of_someone_else(server: Server, five: Path) -> None:
    ben = sorted((five / "Ben_Affleck").glob("*.jpg"))[:2]
    madonna = sorted((five / "Madonna").glob("*.jpg"))[:1]
    _, events = match_photos(server, [*ben, *madonna])
    failed = events[-1]
    assert failed["event"] == "failed" and failed["error"]["code"] == "not_same_person"
    assert "photo 3 looks like someone else" in failed["error"]["message"]
    assert failed["result"]["same_person"]["odd"] == [2] and failed["result"]["faces"] == []
    assert files_under(server) == []


def test_a_photo_gone_before_the_worker_reads_it_fails_the_job_as_upload_missing(server: Server, five: Path) -> None:
    ben = sorted((five / "Ben_Affleck").glob("*.jpg"))[3:6]
    _, events = match_photos(server, ben, lose=1)
    failed = events[-1]
    assert failed["event"] == "failed" and failed["error"]["code"] == "upload_missing"
    assert "photo 2 of 3" in failed["error"]["message"]
    assert files_under(server) == []  # the two photos still there are deleted too
