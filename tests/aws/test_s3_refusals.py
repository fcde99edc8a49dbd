"""The storage server itself refuses uploads outside the presigned POST's policy.

Each test gets a SigV4 presigned POST from ``S3Storage.presign_upload``, sends a real multipart form
with httpx (as the browser does), and checks the server's answer and whether the object exists
afterwards. Run against SeaweedFS and against ministack with AUTH=true; moto accepts any form, so
it cannot show any of this (tests/web/test_aws.py only checks the policy document there).
"""

from __future__ import annotations

import base64
import calendar
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

boto3 = pytest.importorskip("boto3", reason="boto3 is in the [aws] extra")

from lookalike.adapters.s3_storage import S3Storage  # noqa: E402
from tests.aws.emulators import Emulator  # noqa: E402

MAX_BYTES = 64
JPEG = b"\xff\xd8\xff\xe0 not really a jpeg, but S3 does not look"


@pytest.fixture(scope="module", params=["seaweedfs", "ministack"])
def server(request: pytest.FixtureRequest) -> Emulator:
    return request.getfixturevalue(f"{request.param}_endpoint")


@pytest.fixture(scope="module")
def bucket(server: Emulator) -> str:
    name = f"uploads-{uuid.uuid4().hex[:12]}"
    server.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def env(server: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """boto3's standard variables only, as a deployed process gets them.

    boto3's default session keeps the credentials it first read, so a fresh one is used meanwhile.
    """
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    yield


@pytest.fixture
def storage(bucket: str, env: None) -> S3Storage:
    """Made the way the application makes it: no client, the endpoint from AWS_ENDPOINT_URL."""
    return S3Storage(bucket, max_bytes=MAX_BYTES)


def new_key() -> str:
    return f"uploads/{uuid.uuid4()}"


def post(fields: dict[str, str], url: str, content: bytes = JPEG, content_type: str = "image/jpeg") -> httpx.Response:
    return httpx.post(url, data=fields, files={"file": ("photo.jpg", content, content_type)}, timeout=10)


def upload(storage: S3Storage, *, changes: dict[str, str] | None = None, **kwargs: Any) -> tuple[httpx.Response, str]:
    """Presign a fresh key for image/jpeg, change some form fields, POST; returns the answer and the key."""
    presigned = storage.presign_upload(new_key(), "image/jpeg")
    fields = {**presigned.fields, **(changes or {})}
    return post(fields, presigned.url, **kwargs), presigned.key


def assert_refused(response: httpx.Response, storage: S3Storage, *keys: str) -> None:
    assert response.status_code >= 400, f"accepted ({response.status_code}): {response.text}"
    for key in keys:
        assert not storage.exists(key), f"{key} was stored although the server answered {response.status_code}"


def test_valid_upload_is_stored(storage: S3Storage, server: Emulator) -> None:
    presigned = storage.presign_upload(new_key(), "image/jpeg")
    assert presigned.fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256" and "x-amz-signature" in presigned.fields
    assert presigned.url.startswith(server.endpoint)  # path-style, from AWS_ENDPOINT_URL
    response = post(presigned.fields, presigned.url)
    assert 200 <= response.status_code < 300, response.text
    assert storage.get(presigned.key) == JPEG
    head = storage.client.head_object(Bucket=storage.bucket, Key=presigned.key)
    assert head["ContentType"] == "image/jpeg"


def test_any_image_type_is_stored_when_the_type_was_not_known(storage: S3Storage) -> None:
    presigned = storage.presign_upload(new_key())
    response = post({**presigned.fields, "Content-Type": "image/png"}, presigned.url, content_type="image/png")
    assert 200 <= response.status_code < 300, response.text
    assert storage.get(presigned.key) == JPEG


def test_forged_signature_is_refused(storage: S3Storage) -> None:
    presigned = storage.presign_upload(new_key(), "image/jpeg")
    signature = presigned.fields["x-amz-signature"]
    forged = ("0" if signature[0] != "0" else "1") + signature[1:]
    response = post({**presigned.fields, "x-amz-signature": forged}, presigned.url)
    assert_refused(response, storage, presigned.key)


def test_tampered_policy_is_refused(storage: S3Storage) -> None:
    """A policy rewritten to allow a bigger file, under the original signature."""
    presigned = storage.presign_upload(new_key(), "image/jpeg")
    policy = json.loads(base64.b64decode(presigned.fields["policy"]))
    ranges = [c for c in policy["conditions"] if isinstance(c, list) and c[0] == "content-length-range"]
    assert ranges == [["content-length-range", 1, MAX_BYTES]]
    ranges[0][2] = 10 * MAX_BYTES
    tampered = base64.b64encode(json.dumps(policy).encode()).decode()
    response = post({**presigned.fields, "policy": tampered}, presigned.url, content=b"x" * (2 * MAX_BYTES))
    assert_refused(response, storage, presigned.key)


def test_expired_policy_is_refused(bucket: str, env: None) -> None:
    storage = S3Storage(bucket, max_bytes=MAX_BYTES, expires_seconds=1)
    presigned = storage.presign_upload(new_key(), "image/jpeg")
    policy = json.loads(base64.b64decode(presigned.fields["policy"]))
    expires = calendar.timegm(time.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ"))
    time.sleep(max(0.0, expires - time.time()) + 1.1)
    response = post(presigned.fields, presigned.url)
    assert_refused(response, storage, presigned.key)


def test_oversize_file_is_refused(storage: S3Storage) -> None:
    response, key = upload(storage, content=b"x" * (MAX_BYTES + 1))
    assert_refused(response, storage, key)


def test_empty_file_is_refused(storage: S3Storage) -> None:
    response, key = upload(storage, content=b"")
    assert_refused(response, storage, key)


def test_wrong_content_type_is_refused(storage: S3Storage) -> None:
    response, key = upload(storage, changes={"Content-Type": "text/html"}, content_type="text/html")
    assert_refused(response, storage, key)


def test_non_image_is_refused_when_the_type_was_not_known(storage: S3Storage) -> None:
    presigned = storage.presign_upload(new_key())
    response = post({**presigned.fields, "Content-Type": "text/html"}, presigned.url, content_type="text/html")
    assert_refused(response, storage, presigned.key)


def test_other_key_is_refused(storage: S3Storage) -> None:
    other = new_key()
    response, key = upload(storage, changes={"key": other})
    assert_refused(response, storage, key, other)


def test_extra_form_field_is_refused(storage: S3Storage) -> None:
    response, key = upload(storage, changes={"x-amz-meta-note": "not in the policy"})
    assert_refused(response, storage, key)


def test_a_passed_client_presigns_with_sigv4(server: Emulator, bucket: str) -> None:
    """boto3's default config presigns POSTs with SigV2 in us-east-1; S3Storage makes it SigV4."""
    default = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=server.region,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
    )
    assert "signature" in default.generate_presigned_post(bucket, "uploads/x")["fields"]  # SigV2 without the hook
    storage = S3Storage(bucket, default, max_bytes=MAX_BYTES)
    presigned = storage.presign_upload(new_key(), "image/jpeg")
    assert presigned.fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256" and "signature" not in presigned.fields
    response = post(presigned.fields, presigned.url)
    assert 200 <= response.status_code < 300, response.text
    assert storage.get(presigned.key) == JPEG


def test_unsigned_requests_are_refused(server: Emulator, bucket: str) -> None:
    """The emulator is not wide open: an anonymous PUT is refused."""
    from botocore import UNSIGNED
    from botocore.config import Config

    anonymous = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=server.region,
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}),
    )
    key = new_key()
    with pytest.raises(anonymous.exceptions.ClientError) as refused:
        anonymous.put_object(Bucket=bucket, Key=key, Body=JPEG)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] in (401, 403)
    assert not S3Storage(bucket, server.client("s3")).exists(key)
