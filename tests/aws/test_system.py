"""The AWS profile end to end on the emulated AWS (ministack with IAM enforced): the spec's resources,
the Lambda handlers behind real HTTP and WebSocket APIs, ``lookalike worker`` processes as the image
runs them, the gallery fetched from S3 as the workers do on AWS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws.system import Client, System, running_system

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def system(ministack_endpoint, small_gallery: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running_system(ministack_endpoint, tmp_path_factory.mktemp("aws"), small_gallery, page=True) as system:
        system.start_worker()
        yield system


@pytest.fixture(scope="session")
def two_people(data: Path) -> bytes:
    return (data / "group" / "face_recognition__two_people.jpg").read_bytes()


def test_a_photo_goes_through_the_whole_aws_flow(system: System, two_people: bytes) -> None:
    key = system.upload(two_people)
    with Client(system.stack.websocket_url) as ws:
        ws.send({"action": "match", "key": key})
        events = ws.until("matched", "failed", timeout=120)
    names = [e["event"] for e in events]
    assert names == ["queued", "processing", "faces_found", "matched"], events
    result = events[-1]["result"]
    assert sorted(face["matches"][0]["name"] for face in result["faces"]) == ["Barack_Obama", "Joseph_Biden"]
    thumbnail = result["faces"][0]["matches"][0]["thumbnail"]
    assert thumbnail.startswith(f"/galleries/{system.gallery_version}/thumbnails/")
    aligned = result["faces"][0]["matches"][0]["aligned"]
    assert aligned == thumbnail.replace("/thumbnails/", "/aligned/")  # published beside it, for the CDN
    assert not system.object_exists(key)  # the photo is deleted once matched
    job = system.job(events[0]["job"])
    assert job.status_code == 200 and job.json()["state"] == "done"
    assert job.json()["result"]["faces"] == result["faces"]


def test_several_photos_of_one_person_go_through_the_aws_flow_as_one_job(system: System, data: Path) -> None:
    five = data / "small" / "five_celeb"
    ben = sorted((five / "Ben_Affleck").glob("*.jpg"))[:3]
    madonna = sorted((five / "Madonna").glob("*.jpg"))[0]
    keys = [system.upload(p.read_bytes()) for p in ben]
    with Client(system.stack.websocket_url) as ws:
        ws.send({"action": "match", "keys": keys})
        events = ws.until("matched", "failed", timeout=120)
    assert [e["event"] for e in events] == ["queued", "processing", "matched"], events
    result = events[-1]["result"]
    assert result["same_person"]["photos"] == ["photo 1", "photo 2", "photo 3"]
    assert [face["matches"][0]["name"] for face in result["faces"]] == ["Ben_Affleck"]
    assert not any(system.object_exists(key) for key in keys)  # every photo deleted from S3

    mixed = [system.upload(p.read_bytes()) for p in (ben[0], madonna)]
    with Client(system.stack.websocket_url) as ws:
        ws.send({"action": "match", "keys": mixed})
        failed = ws.until("matched", "failed", timeout=120)[-1]
    assert failed["event"] == "failed" and failed["error"]["code"] == "not_same_person"
    assert not any(system.object_exists(key) for key in mixed)
    assert system.job(failed["job"]).json()["state"] == "failed"


def test_the_worker_identity_holds_only_its_grants(system: System) -> None:
    """The emulator enforces IAM: the worker's keys read and delete uploads and read the gallery, and
    nothing else (no writing uploads, no sending jobs, no reading outside ``uploads/``)."""
    import boto3
    from botocore.exceptions import ClientError

    key, secret = system.stack.worker_access_key
    session = boto3.session.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, region_name=system.emulator.region
    )
    s3 = session.client("s3", endpoint_url=system.emulator.endpoint)
    sqs = session.client("sqs", endpoint_url=system.emulator.endpoint)
    bucket = system.stack.uploads_bucket
    system.admin("s3").put_object(Bucket=bucket, Key="uploads/x", Body=b"x")
    system.admin("s3").put_object(Bucket=bucket, Key="elsewhere/x", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="uploads/x")["Body"].read() == b"x"
    s3.list_objects_v2(Bucket=system.stack.gallery_bucket, Prefix="galleries/")
    for denied in (
        lambda: s3.put_object(Bucket=bucket, Key="uploads/y", Body=b"y"),
        lambda: s3.get_object(Bucket=bucket, Key="elsewhere/x"),
        lambda: s3.put_object(Bucket=system.stack.gallery_bucket, Key="galleries/evil", Body=b"y"),
        lambda: sqs.send_message(QueueUrl=system.stack.queue_url, MessageBody="{}"),
    ):
        with pytest.raises(ClientError) as refused:
            denied()
        assert refused.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException"), refused.value
    s3.delete_object(Bucket=bucket, Key="uploads/x")
