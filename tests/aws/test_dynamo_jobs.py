"""The JobStore contract, run against both stores (SQLite and DynamoDB on moto) so they cannot drift apart."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto")

from moto import mock_aws  # noqa: E402
from moto.dynamodb.models import DynamoDBBackend  # noqa: E402

from lookalike.adapters.dynamo_jobs import (  # noqa: E402
    MAX_RESULT_BYTES,
    PK,
    TTL_ATTRIBUTE,
    DynamoJobStore,
    ResultTooLarge,
    create_jobs_table,
)
from lookalike.adapters.sqlite_jobs import SqliteJobStore  # noqa: E402
from lookalike.aws.spec import DEPLOYMENT  # noqa: E402
from lookalike.documents import to_json
from lookalike.service.ports import DuplicateJob, JobStore  # noqa: E402

Factory = Callable[..., JobStore]


def upload_key() -> str:
    return f"uploads/{uuid.uuid4()}"


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process, with fake credentials (never real ones) and one region."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    # DynamoDB applies each request to its items atomically; moto does not lock, so its threads could
    # interleave inside one request.  Serialise requests (never sequences of them), as DynamoDB does.
    lock = threading.RLock()
    for name in ("get_item", "put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def locked(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(*args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, functools.wraps(original)(locked))
    with mock_aws():
        yield


@pytest.fixture
def dynamo(aws: None) -> Any:
    import boto3

    client = boto3.client("dynamodb")
    create_jobs_table(client, "jobs-test")
    return client


@pytest.fixture(params=["sqlite", "dynamodb"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    """``make_store(ttl_seconds=...)``: a fresh store of each kind (tests of the contract run on both)."""
    if request.param == "sqlite":
        return lambda ttl_seconds=3600: SqliteJobStore(tmp_path / f"jobs-{uuid.uuid4().hex}.sqlite", ttl_seconds)
    client = request.getfixturevalue("dynamo")

    def make(ttl_seconds: float = 3600) -> JobStore:
        # A store with its own TTL on the one table; tests use fresh ids and keys.
        return DynamoJobStore("jobs-test", ttl_seconds, client=client)

    return make


@pytest.fixture
def store(make_store: Factory) -> JobStore:
    return make_store()


# -- the contract -----------------------------------------------------------------------------


def test_create_get_and_by_key(store: JobStore) -> None:
    job_id, key = new_id(), upload_key()
    before = time.time()
    made = store.create(job_id, key, "conn-1", "https://api.example/live")
    got = store.get(job_id)
    assert got == made
    assert (got.id, got.key, got.connection_id, got.endpoint) == (job_id, key, "conn-1", "https://api.example/live")
    assert (got.state, got.attempts, got.worker, got.result, got.finished) == ("queued", 0, None, None, False)
    assert before <= got.created_at == got.updated_at <= time.time()
    assert store.by_key(key) == got
    assert store.get(new_id()) is None
    assert store.by_key(upload_key()) is None
    assert got.view().job == job_id


def test_endpoint_defaults_to_empty(store: JobStore) -> None:
    job_id = new_id()
    store.create(job_id, upload_key(), "conn")
    assert store.get(job_id).endpoint == ""


def test_duplicate_key_raises_and_keeps_the_first_job(store: JobStore) -> None:
    key = upload_key()
    first = store.create(new_id(), key, "conn-1")
    second_id = new_id()
    with pytest.raises(DuplicateJob):
        store.create(second_id, key, "conn-2")
    assert store.by_key(key) == first
    assert store.get(second_id) is None


def test_start_marks_processing_and_counts_attempts(store: JobStore) -> None:
    job_id = new_id()
    store.create(job_id, upload_key(), "conn")
    first = store.start(job_id, worker=101)
    assert (first.state, first.attempts, first.worker) == ("processing", 1, 101)
    second = store.start(job_id, worker=202)
    assert (second.state, second.attempts, second.worker) == ("processing", 2, 202)
    assert second.updated_at >= first.updated_at
    assert store.get(job_id) == second
    assert store.start(new_id(), worker=1) is None


def test_finish_stores_the_first_result_once(store: JobStore) -> None:
    job_id, key = new_id(), upload_key()
    store.create(job_id, key, "conn")
    store.start(job_id, 7)
    first = {"faces": [{"matches": [{"face_id": 3, "distance": 0.412345678901, "similarity": 0.7}]}], "error": None}
    assert store.finish(job_id, "done", first) is True
    assert store.finish(job_id, "failed", {"error": {"code": "late", "message": "too late"}}) is False
    job = store.get(job_id)
    assert (job.state, job.result, job.finished) == ("done", first, True)  # floats come back exactly
    assert store.by_key(key) == job
    # A redelivered message may start a finished job again: it stays finished, the attempt is not counted.
    again = store.start(job_id, 8)
    assert (again.state, again.attempts, again.result) == ("done", 1, first)
    assert store.finish(new_id(), "done", first) is False


def test_a_failed_job_is_finished_too(store: JobStore) -> None:
    job_id = new_id()
    store.create(job_id, upload_key(), "conn")
    error = {"error": {"code": "worker_crashed", "message": "Matching this photo failed repeatedly."}}
    assert store.finish(job_id, "failed", error) is True
    assert store.finish(job_id, "done", {"faces": []}) is False
    assert (store.get(job_id).state, store.get(job_id).result) == ("failed", error)


def test_attach_points_the_job_at_a_new_connection(store: JobStore) -> None:
    job_id = new_id()
    store.create(job_id, upload_key(), "old", "https://one.example/live")
    job = store.attach(job_id, "new", "https://two.example/live")
    assert (job.connection_id, job.endpoint) == ("new", "https://two.example/live")
    assert store.get(job_id) == job
    store.finish(job_id, "done", {"faces": []})
    assert store.attach(job_id, "newer").connection_id == "newer"  # a finished job can still be resumed
    assert store.attach(new_id(), "conn") is None


def test_expired_jobs_are_invisible_and_their_key_is_free(make_store: Factory) -> None:
    store = make_store(ttl_seconds=1)
    job_id, key = new_id(), upload_key()
    store.create(job_id, key, "conn")
    assert store.get(job_id) is not None
    time.sleep(2.1)  # DynamoDB's TTL is whole seconds: expiry is rounded up to the next one
    assert store.get(job_id) is None
    assert store.by_key(key) is None
    assert store.start(job_id, 1) is None
    assert store.attach(job_id, "conn-2") is None
    assert store.get(job_id) is None  # none of the writes above brought it back
    again = store.create(new_id(), key, "conn-3")
    assert store.by_key(key) == again


def test_an_expired_job_cannot_be_finished(make_store: Factory) -> None:
    """On DynamoDB an expired item may already be deleted (TTL runs when it likes), so finishing it cannot
    bring it back there; the embedded store must not either, or the two would differ by timing."""
    store = make_store(ttl_seconds=1)
    job_id, key = new_id(), upload_key()
    store.create(job_id, key, "conn")
    time.sleep(2.1)
    assert store.finish(job_id, "done", {"faces": []}) is False
    assert store.get(job_id) is None and store.by_key(key) is None


def test_finishing_keeps_the_job_for_another_ttl(make_store: Factory) -> None:
    store = make_store(ttl_seconds=3)
    job_id, key = new_id(), upload_key()
    t0 = time.time()
    store.create(job_id, key, "conn")
    time.sleep(max(0.0, t0 + 2 - time.time()))
    assert store.finish(job_id, "done", {"faces": []}) is True
    time.sleep(max(0.0, t0 + 4.3 - time.time()))  # past the first expiry (rounded up), before the second
    assert store.get(job_id) is not None
    assert store.by_key(key) is not None and store.by_key(key).id == job_id


@pytest.mark.parametrize("round", range(3))  # a read-then-write finish gets two winners in ~70% of rounds
def test_concurrent_finish_stores_one_result(store: JobStore, round: int) -> None:
    job_id = new_id()
    store.create(job_id, upload_key(), "conn")
    n = 8
    barrier = threading.Barrier(n)
    outcomes: dict[int, bool] = {}

    def finish(i: int) -> None:
        barrier.wait()
        outcomes[i] = store.finish(job_id, "done", {"winner": i, "faces": []})

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, ok in outcomes.items() if ok]
    assert len(outcomes) == n and len(winners) == 1
    assert store.get(job_id).result == {"winner": winners[0], "faces": []}


def test_concurrent_submissions_of_one_key_make_one_job(store: JobStore) -> None:
    key = upload_key()
    n = 6
    barrier = threading.Barrier(n)
    made: list[str] = []
    refused: list[str] = []
    errors: list[Exception] = []

    def create(job_id: str) -> None:
        barrier.wait()
        try:
            store.create(job_id, key, "conn")
            made.append(job_id)
        except DuplicateJob:
            refused.append(job_id)
        except Exception as exc:  # anything else is a bug: show it rather than lose the thread
            errors.append(exc)

    ids = [new_id() for _ in range(n)]
    threads = [threading.Thread(target=create, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(made) == 1 and len(refused) == n - 1
    assert store.by_key(key).id == made[0]
    assert all(store.get(i) is None for i in refused)


def big_result(n_bytes: int) -> dict[str, Any]:
    """A result of about ``n_bytes`` of JSON, as repetitive as real ones (so it compresses)."""
    match = {"face_id": 1234, "person": "Joseph_Biden", "distance": 0.41, "similarity": 0.72, "photo": "x.jpg"}
    faces = [{"matches": [{**match, "face_id": i} for _ in range(5)]} for i in range(n_bytes // 450)]
    return {"faces": faces, "error": None}


def test_a_large_result_round_trips(store: JobStore) -> None:
    job_id = new_id()
    store.create(job_id, upload_key(), "conn")
    result = big_result(3 * MAX_RESULT_BYTES)
    assert store.finish(job_id, "done", result) is True
    assert store.get(job_id).result == result


# -- DynamoDB specifics -------------------------------------------------------------------------


def test_table_is_made_as_the_deployment_describes(dynamo: Any) -> None:
    table = dynamo.describe_table(TableName="jobs-test")["Table"]
    assert table["KeySchema"] == [{"AttributeName": DEPLOYMENT.jobs_table.partition_key, "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamo.describe_time_to_live(TableName="jobs-test")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", DEPLOYMENT.jobs_table.ttl_attribute)


def test_items_carry_whole_second_ttl_and_a_key_pointer(dynamo: Any) -> None:
    store = DynamoJobStore("jobs-test", 600, client=dynamo)
    job_id, key = new_id(), upload_key()
    now = time.time()
    store.create(job_id, key, "conn")
    job = dynamo.get_item(TableName="jobs-test", Key={PK: {"S": f"job#{job_id}"}})["Item"]
    pointer = dynamo.get_item(TableName="jobs-test", Key={PK: {"S": f"key#{key}"}})["Item"]
    expires = job[TTL_ATTRIBUTE]["N"]
    assert expires.isdigit() and now + 600 <= int(expires) <= now + 602
    assert pointer == {PK: {"S": f"key#{key}"}, "job_id": {"S": job_id}, TTL_ATTRIBUTE: {"N": expires}}


def test_large_results_are_compressed_and_too_large_ones_refused(dynamo: Any) -> None:
    store = DynamoJobStore("jobs-test", client=dynamo)
    job_id = new_id()
    store.create(job_id, upload_key(), "conn")
    noise = {"faces": [], "error": None, "blob": "".join(uuid.uuid4().hex for _ in range(40_000))}
    with pytest.raises(ResultTooLarge, match="at most"):  # 1.3 MB of hex digits: over 350 KB even compressed
        store.finish(job_id, "done", noise)
    assert store.get(job_id).state == "queued"  # nothing was stored; the job can still finish
    result = big_result(2 * MAX_RESULT_BYTES)
    assert store.finish(job_id, "done", result) is True
    item = dynamo.get_item(TableName="jobs-test", Key={PK: {"S": f"job#{job_id}"}})["Item"]
    assert "result" not in item and len(item["result_z"]["B"]) < MAX_RESULT_BYTES
    assert store.get(job_id).result == result


def test_default_client_follows_the_standard_aws_variables(aws: None) -> None:
    import boto3

    create_jobs_table(boto3.client("dynamodb"), "jobs-env")
    store = DynamoJobStore("jobs-env")  # no client: boto3.client("dynamodb") from the environment
    job_id = new_id()
    store.create(job_id, upload_key(), "conn")
    assert store.get(job_id).id == job_id


def test_resume_token_hash_is_stored_and_replaced_only_when_given(store: JobStore) -> None:
    job_id = new_id()
    made = store.create(job_id, upload_key(), "conn", token_hash="a" * 64)
    assert made.token_hash == store.get(job_id).token_hash == "a" * 64
    assert store.attach(job_id, "conn-2").token_hash == "a" * 64  # a resume keeps the token
    assert store.attach(job_id, "conn-3", token_hash="b" * 64).token_hash == "b" * 64  # the key again: a new one
    assert store.get(job_id).token_hash == "b" * 64
    assert "token" not in str(to_json(store.get(job_id).view()))  # never shown by GET /api/jobs


def test_resume_is_refused_without_the_token_on_both_stores(store: JobStore) -> None:
    from lookalike.service.jobs import JobError, JobService

    class Nothing:
        def exists(self, key: str) -> bool:
            return True

        def send(self, body: dict) -> str:
            return "m"

    service = JobService(Nothing(), Nothing(), store)  # type: ignore[arg-type]
    job, created = service.submit(upload_key(), "owner", token="the-secret")
    assert created and job.token_hash and "the-secret" not in job.token_hash
    moved: list[tuple[str, str, str]] = []
    for token in (None, "", "the-secreT", 42):
        with pytest.raises(JobError, match="token"):
            service.resume(job.id, "thief", token=token, on_moved=lambda *a: moved.append(a))
    assert store.get(job.id).connection_id == "owner" and not moved
    assert service.resume(job.id, "tab-2", "e2", token="the-secret", on_moved=lambda *a: moved.append(a))
    assert moved == [(job.id, "owner", "")] and store.get(job.id).connection_id == "tab-2"


# -- a match of several photos: a job with extra keys -----------------------------------------


def test_a_job_of_several_photos_records_every_key_in_order(store: JobStore) -> None:
    job_id, keys = new_id(), [upload_key() for _ in range(3)]
    made = store.create(job_id, keys[0], "conn", extra_keys=keys[1:])
    got = store.get(job_id)
    assert got == made and got.key == keys[0] and got.extra_keys == keys[1:] and got.keys == keys
    assert all(store.by_key(key) == got for key in keys)  # found by any of its keys: the sweep leaves them
    assert store.by_key(upload_key()) is None
    one = store.create(new_id(), upload_key(), "conn")
    assert store.get(one.id).extra_keys == [] and store.get(one.id).keys == [one.key]


def test_a_key_of_a_job_of_several_starts_no_other_job(store: JobStore) -> None:
    first, second = upload_key(), upload_key()
    job = store.create(new_id(), first, "conn", extra_keys=[second])
    for key, extra in ((second, []), (upload_key(), [first]), (upload_key(), [upload_key(), second])):
        refused = new_id()
        with pytest.raises(DuplicateJob):
            store.create(refused, key, "conn-2", extra_keys=extra)
        assert store.get(refused) is None  # all or nothing: no job, and none of its keys taken
        fresh = [k for k in (key, *extra) if k not in (first, second)]
        assert all(store.by_key(k) is None for k in fresh)
    assert store.by_key(second) == store.get(job.id)


def test_an_expired_job_of_several_frees_every_key(make_store: Factory) -> None:
    store = make_store(ttl_seconds=1)
    keys = [upload_key() for _ in range(3)]
    job_id = new_id()
    store.create(job_id, keys[0], "conn", extra_keys=keys[1:])
    time.sleep(2.1)
    assert store.get(job_id) is None and all(store.by_key(k) is None for k in keys)
    again = store.create(new_id(), keys[2], "conn", extra_keys=keys[:2])
    assert all(store.by_key(k) == again for k in keys)


def test_finishing_a_job_of_several_keeps_every_key_for_another_ttl(make_store: Factory) -> None:
    store = make_store(ttl_seconds=3)
    keys = [upload_key() for _ in range(2)]
    job_id, t0 = new_id(), time.time()
    store.create(job_id, keys[0], "conn", extra_keys=keys[1:])
    time.sleep(max(0.0, t0 + 2 - time.time()))
    assert store.finish(job_id, "failed", {"error": {"code": "not_same_person"}}) is True
    time.sleep(max(0.0, t0 + 4.3 - time.time()))  # past the first expiry, before the second
    assert [store.by_key(k).id for k in keys] == [job_id, job_id]
    assert store.get(job_id).extra_keys == keys[1:]


def test_the_extra_keys_are_a_list_item_and_each_key_has_its_pointer(dynamo: Any) -> None:
    store = DynamoJobStore("jobs-test", 600, client=dynamo)
    job_id, keys = new_id(), [upload_key() for _ in range(5)]
    store.create(job_id, keys[0], "conn", extra_keys=keys[1:])
    item = dynamo.get_item(TableName="jobs-test", Key={PK: {"S": f"job#{job_id}"}})["Item"]
    assert item["extra_keys"] == {"L": [{"S": k} for k in keys[1:]]}  # a list keeps the photos' order
    for key in keys:
        pointer = dynamo.get_item(TableName="jobs-test", Key={PK: {"S": f"key#{key}"}})["Item"]
        assert pointer["job_id"] == {"S": job_id}
    single = store.create(new_id(), upload_key(), "conn")
    plain = dynamo.get_item(TableName="jobs-test", Key={PK: {"S": f"job#{single.id}"}})["Item"]
    assert "extra_keys" not in plain  # one photo: no attribute (and never an empty set)
    with pytest.raises(ValueError):  # one transaction cannot put one pointer twice
        store.create(new_id(), keys[0], "conn", extra_keys=[keys[0]])
