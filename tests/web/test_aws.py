"""The AWS adapters (S3 storage, SQS queue, API Gateway notifier) against moto's server mode.

``moto.server.ThreadedMotoServer`` on 127.0.0.1 is the most faithful emulator available offline: the
adapters talk real HTTP through botocore, and the browser-style upload is a real multipart POST.
moto accepts any presigned POST (it checks neither the policy nor the signature), so the refusals
are S3's own job there; these tests check the policy document that S3 would enforce.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

boto3 = pytest.importorskip("boto3", reason="boto3 is in the [aws] extra")
moto_server = pytest.importorskip("moto.server", reason="moto[server] is a dev dependency")

from lookalike.adapters.notifiers import ApiGatewayNotifier  # noqa: E402
from lookalike.adapters.s3_storage import S3Storage  # noqa: E402
from lookalike.adapters.sqs_queue import SqsQueue, create_queues  # noqa: E402
from lookalike.bench.server import free_port  # noqa: E402

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def endpoint() -> str:
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(endpoint: str) -> S3Storage:
    client = boto3.client("s3", endpoint_url=endpoint, **CREDS)
    bucket = f"uploads-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    return S3Storage(bucket, client, max_bytes=1000)


def test_s3_presigned_post_upload_get_delete(s3: S3Storage) -> None:
    key = f"uploads/{uuid.uuid4()}"
    p = s3.presign_upload(key, "image/jpeg")
    assert p.method == "POST" and p.fields["key"] == key and "policy" in p.fields
    r = httpx.post(p.url, data=p.fields, files={"file": ("photo.jpg", b"\xff\xd8 jpeg bytes", "image/jpeg")})
    assert r.status_code in (200, 201, 204), r.text
    assert s3.exists(key) and s3.get(key) == b"\xff\xd8 jpeg bytes"
    s3.delete(key)
    assert not s3.exists(key) and s3.get(key) is None


def test_s3_refuses_bad_keys(s3: S3Storage) -> None:
    with pytest.raises(ValueError):
        s3.presign_upload("../etc/passwd")
    assert s3.get("../etc/passwd") is None and not s3.exists("uploads/../x")


def test_s3_policy_pins_size_and_type(s3: S3Storage) -> None:
    import base64
    import json

    p = s3.presign_upload(f"uploads/{uuid.uuid4()}", "image/png")
    policy = json.loads(base64.b64decode(p.fields["policy"]))
    assert ["content-length-range", 1, 1000] in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert {"key": p.key} in policy["conditions"]


@pytest.fixture
def sqs(endpoint: str):
    client = boto3.client("sqs", endpoint_url=endpoint, **CREDS)
    url, dead = create_queues(client, f"jobs-{uuid.uuid4().hex[:8]}", max_receives=2, visibility_timeout=1)
    return SqsQueue(url, dead, client)


def receive_within(queue: SqsQueue, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = queue.receive(wait_seconds=1)
        if message is not None:
            return message
    return None


def test_sqs_hides_redelivers_and_deletes(sqs: SqsQueue) -> None:
    sqs.send({"job_id": "a", "key": "uploads/x"})
    first = sqs.receive(wait_seconds=1)
    assert first is not None and first.body["job_id"] == "a" and first.receive_count == 1
    assert sqs.receive(wait_seconds=0) is None  # hidden while in flight
    again = receive_within(sqs, 10)  # not deleted: comes back after the visibility timeout
    assert again is not None and again.body["job_id"] == "a" and again.receive_count == 2
    sqs.delete(again.receipt)
    assert receive_within(sqs, 2.5) is None
    assert sqs.depth() == 0


def test_sqs_dead_letters_after_max_receives(sqs: SqsQueue) -> None:
    sqs.send({"job_id": "doomed"})
    assert receive_within(sqs, 5).receive_count == 1
    assert receive_within(sqs, 5).receive_count == 2
    assert receive_within(sqs, 3) is None  # moved to the dead-letter queue instead of a third delivery
    assert sqs.take_dead_letters() == [{"job_id": "doomed"}]


def test_api_gateway_notifier_posts_to_the_connection() -> None:
    """moto does not emulate @connections; botocore's Stubber checks the exact call instead."""
    from botocore.stub import Stubber

    client = boto3.client("apigatewaymanagementapi", endpoint_url="https://example.invalid/prod", **CREDS)
    with Stubber(client) as stub:
        stub.add_response("post_to_connection", {}, {"ConnectionId": "abc", "Data": b'{"event": "queued"}'})
        stub.add_client_error("post_to_connection", service_error_code="GoneException", http_status_code=410)
        notifier = ApiGatewayNotifier("", client=client)
        assert notifier.send("", "abc", {"event": "queued"}) is True
        assert notifier.send("", "gone", {"event": "queued"}) is False
