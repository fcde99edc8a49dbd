"""The Lambda handlers, called with events shaped like API Gateway's (HTTP API payload 2.0 and WebSocket
route events), against moto's S3, SQS and DynamoDB.  moto has no @connections API, so events pushed
to the client are recorded by a notifier standing in for API Gateway; the real one is exercised on
the emulated AWS in the end-to-end tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3", reason="boto3 is in the [aws] extra")
moto = pytest.importorskip("moto", reason="moto is a dev dependency")

from lookalike.aws import lambdas  # noqa: E402
from lookalike.wiring import AwsPorts  # noqa: E402

ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/live"


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.gone: set[str] = set()

    def send(self, endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        if connection_id in self.gone:
            return False
        self.sent.append((endpoint, connection_id, event))
        return True

    def events(self, connection_id: str) -> list[dict[str, Any]]:
        return [e for _, c, e in self.sent if c == connection_id]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    from lookalike.adapters.dynamo_jobs import create_jobs_table
    from lookalike.adapters.sqs_queue import create_queues

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with moto.mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="uploads")
        queue_url, dead_url = create_queues(boto3.client("sqs"), "jobs", max_receives=3, visibility_timeout=30)
        create_jobs_table(boto3.client("dynamodb"), "jobs")
        monkeypatch.setenv("LOOKALIKE_PROFILE", "aws")
        monkeypatch.setenv("LOOKALIKE_UPLOADS_BUCKET", "uploads")
        monkeypatch.setenv("LOOKALIKE_QUEUE_URL", queue_url)
        monkeypatch.setenv("LOOKALIKE_DEAD_LETTER_QUEUE_URL", dead_url)
        monkeypatch.setenv("LOOKALIKE_JOBS_TABLE", "jobs")
        lambdas.settings.cache_clear()
        lambdas.ports.cache_clear()
        notifier = RecordingNotifier()
        real = AwsPorts.from_settings

        def with_recorder(settings, need=()):
            ports = real(settings, need=need)
            ports.notifier = notifier
            return ports

        monkeypatch.setattr(AwsPorts, "from_settings", staticmethod(with_recorder))
        yield s3, boto3.client("sqs"), queue_url, notifier
        lambdas.settings.cache_clear()
        lambdas.ports.cache_clear()


def http_event(method: str, path: str, body: Any = None, path_parameters: dict | None = None) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "pathParameters": path_parameters or {},
        "body": body if body is None or isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
    }


def ws_event(route: str, connection_id: str, body: Any = None) -> dict[str, Any]:
    return {
        "requestContext": {
            "routeKey": route,
            "eventType": {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route, "MESSAGE"),
            "connectionId": connection_id,
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "stage": "live",
            "apiId": "abc123",
        },
        "body": body if body is None or isinstance(body, str) else json.dumps(body),
        "isBase64Encoded": False,
    }


def test_uploads_gives_a_sigv4_presigned_post_for_a_new_key(aws) -> None:
    response = lambdas.uploads_handler(http_event("POST", "/api/uploads", {"content_type": "image/jpeg"}))
    assert response["statusCode"] == 201
    upload = json.loads(response["body"])
    assert upload["key"].startswith("uploads/") and upload["method"] == "POST"
    assert upload["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"  # SigV4, not SigV2's AWSAccessKeyId
    assert upload["fields"]["Content-Type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "bad_json"),
        ('["a"]', 400, "bad_json"),
        ({"content_type": "text/html"}, 415, "bad_content_type"),
    ],
)
def test_uploads_refuses_bad_requests(aws, body: Any, status: int, code: str) -> None:
    response = lambdas.uploads_handler(http_event("POST", "/api/uploads", body))
    assert response["statusCode"] == status
    assert json.loads(response["body"])["error"]["code"] == code


def test_match_records_the_job_tells_queued_first_then_enqueues(aws) -> None:
    s3, sqs, queue_url, notifier = aws
    key = f"uploads/{uuid.uuid4()}"
    s3.put_object(Bucket="uploads", Key=key, Body=b"photo")
    assert lambdas.websocket_handler(ws_event("$connect", "c1"))["statusCode"] == 200
    response = lambdas.websocket_handler(ws_event("match", "c1", {"action": "match", "key": key}))
    assert response == {"statusCode": 200}  # no route response: every answer is pushed
    (queued,) = notifier.events("c1")
    assert queued["event"] == "queued" and queued["key"] == key
    (message,) = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)["Messages"]
    body = json.loads(message["Body"])
    assert body == {"job_id": queued["job"], "key": key, "connection_id": "c1", "endpoint": ENDPOINT}
    job = lambdas.jobs_handler(
        http_event("GET", f"/api/jobs/{queued['job']}", path_parameters={"job_id": queued["job"]})
    )
    assert job["statusCode"] == 200 and json.loads(job["body"])["state"] == "queued"


def test_the_match_message_s_filter_rides_in_the_sqs_message_and_a_bad_one_is_refused(aws) -> None:
    s3, sqs, queue_url, notifier = aws
    key = f"uploads/{uuid.uuid4()}"
    s3.put_object(Bucket="uploads", Key=key, Body=b"photo")
    bad = {"action": "match", "key": key, "sex": "female", "born_after": "the seventies"}
    lambdas.websocket_handler(ws_event("match", "c1", bad))
    (refused,) = notifier.events("c1")
    assert refused["event"] == "error" and refused["error"]["code"] == "bad_filter"
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)
    good = {"action": "match", "key": key, "sex": "female", "occupation": ["actor"], "born_after": 1970}
    lambdas.websocket_handler(ws_event("match", "c1", good))
    (message,) = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)["Messages"]
    assert json.loads(message["Body"])["filter"] == {"sex": "female", "occupation": ["actor"], "born_after": 1970}


def test_the_same_key_again_resumes_instead_of_a_second_job(aws) -> None:
    s3, sqs, queue_url, notifier = aws
    key = f"uploads/{uuid.uuid4()}"
    s3.put_object(Bucket="uploads", Key=key, Body=b"photo")
    lambdas.websocket_handler(ws_event("match", "c1", {"action": "match", "key": key}))
    lambdas.websocket_handler(ws_event("match", "c2", {"action": "match", "key": key}))
    (resumed,) = notifier.events("c2")
    assert resumed["event"] == "resumed" and resumed["state"] == "queued"
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)["Messages"]
    assert len(messages) == 1


def test_resume_of_a_finished_job_sends_its_result(aws) -> None:
    s3, _, _, notifier = aws
    key = f"uploads/{uuid.uuid4()}"
    s3.put_object(Bucket="uploads", Key=key, Body=b"photo")
    lambdas.websocket_handler(ws_event("match", "c1", {"action": "match", "key": key}))
    queued = notifier.events("c1")[0]
    job_id = queued["job"]
    jobs = lambdas.ports("jobs_table").jobs
    assert jobs.finish(job_id, "done", {"error": None, "faces": []})
    resume = {"action": "resume", "job": job_id, "token": queued["resume_token"]}
    lambdas.websocket_handler(ws_event("resume", "c3", resume))
    assert [e["event"] for e in notifier.events("c3")] == ["resumed", "matched"]
    assert jobs.get(job_id).connection_id == "c3"
    assert [e["event"] for e in notifier.events("c1")] == ["queued", "moved"]  # the old socket is told why


def test_resume_needs_the_job_s_resume_token(aws) -> None:
    s3, _, _, notifier = aws
    key = f"uploads/{uuid.uuid4()}"
    s3.put_object(Bucket="uploads", Key=key, Body=b"photo")
    lambdas.websocket_handler(ws_event("match", "owner", {"action": "match", "key": key}))
    queued = notifier.events("owner")[0]
    jobs = lambdas.ports("jobs_table").jobs
    stored = jobs.get(queued["job"])
    assert stored.token_hash and queued["resume_token"] not in stored.token_hash  # only its hash is kept
    for token in (None, "", "guess", queued["resume_token"] + "x"):
        lambdas.websocket_handler(
            ws_event("resume", "thief", {"action": "resume", "job": queued["job"], "token": token})
        )
    assert {e["error"]["code"] for e in notifier.events("thief")} == {"bad_token"}
    assert jobs.get(queued["job"]).connection_id == "owner"  # the job did not move
    assert [e["event"] for e in notifier.events("owner")] == ["queued"]


@pytest.mark.parametrize(
    ("route", "body", "code"),
    [
        ("$default", "not json at all", "bad_json"),
        ("$default", '{"action": "dance"}', "unknown_action"),
        ("$default", "[1, 2]", "bad_json"),
        ("match", '{"action": "match"}', "missing_key"),
        ("match", '{"action": "match", "key": "../../etc/passwd"}', "bad_key"),
        ("match", json.dumps({"action": "match", "key": f"uploads/{uuid.uuid4()}"}), "not_uploaded"),
        ("resume", '{"action": "resume", "job": "no-such-job"}', "unknown_job"),
        ("$default", json.dumps({"action": "match", "pad": "x" * 5000}), "too_big"),
    ],
)
def test_malformed_websocket_messages_get_an_error_event(aws, route: str, body: str, code: str) -> None:
    _, _, _, notifier = aws
    assert lambdas.websocket_handler(ws_event(route, "c9", body)) == {"statusCode": 200}
    (event,) = notifier.events("c9")
    assert event["event"] == "error" and event["error"]["code"] == code


def test_a_match_of_several_photos_is_one_job_whose_sqs_message_carries_the_extra_keys(aws) -> None:
    from lookalike.adapters.dynamo_jobs import DynamoJobStore

    s3, sqs, queue_url, notifier = aws
    keys = [f"uploads/{uuid.uuid4()}" for _ in range(3)]
    for key in keys:
        s3.put_object(Bucket="uploads", Key=key, Body=b"photo")
    message = {"action": "match", "keys": keys, "sex": "female"}
    lambdas.websocket_handler(ws_event("match", "c1", message))
    (queued,) = notifier.events("c1")
    assert queued["event"] == "queued" and queued["key"] == keys[0]
    (sent,) = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0, VisibilityTimeout=0)["Messages"]
    body = json.loads(sent["Body"])
    assert body["key"] == keys[0] and body["extra_keys"] == keys[1:] and body["filter"] == {"sex": "female"}
    jobs = DynamoJobStore("jobs")
    assert jobs.get(queued["job"]).keys == keys
    assert all(jobs.by_key(key).id == queued["job"] for key in keys)  # DynamoDB holds every key
    lambdas.websocket_handler(ws_event("match", "c2", message))  # the same keys again: the same job
    (resumed,) = notifier.events("c2")
    assert resumed["event"] == "resumed" and resumed["job"] == queued["job"] and resumed["resume_token"]
    lambdas.websocket_handler(ws_event("match", "c3", {"action": "match", "key": keys[1]}))
    (taken,) = notifier.events("c3")
    assert taken["event"] == "error" and taken["error"]["code"] == "key_taken"
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)["Messages"]
    assert len(messages) == 1


@pytest.mark.parametrize(
    ("keys", "code"),
    [
        ("uploads/x", "bad_keys"),
        (["one"], "bad_key_count"),
        ([f"uploads/{uuid.uuid4()}", "../../etc/passwd"], "bad_key"),
        ([f"uploads/{uuid.UUID(int=7)}"] * 2, "duplicate_keys"),
        ([f"uploads/{uuid.uuid4()}", f"uploads/{uuid.uuid4()}"], "not_uploaded"),
    ],
)
def test_keys_that_cannot_be_taken_are_refused_before_anything_is_queued(aws, keys: Any, code: str) -> None:
    s3, sqs, queue_url, notifier = aws
    if code == "not_uploaded":
        s3.put_object(Bucket="uploads", Key=keys[0], Body=b"photo")  # the first is there, the second is not
    lambdas.websocket_handler(ws_event("match", "c9", {"action": "match", "keys": keys}))
    (event,) = notifier.events("c9")
    assert event["event"] == "error" and event["error"]["code"] == code
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)
    if code == "not_uploaded":
        assert "photo 2 of 2" in event["error"]["message"]


def test_job_status_of_an_unknown_job_is_404(aws) -> None:
    response = lambdas.jobs_handler(http_event("GET", "/api/jobs/x", path_parameters={"job_id": "x"}))
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["error"]["code"] == "unknown_job"


def test_handlers_import_no_engine() -> None:
    """The Lambda package holds no NumPy or dlib: importing the handlers must not need them."""
    import subprocess
    import sys

    code = "import sys, lookalike.aws.lambdas; print(sorted(m for m in ('numpy', 'dlib', 'PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


#: What the Lambda runtime holds besides the standard library (boto3 and its dependencies).
LAMBDA_RUNTIME = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
BUNDLE_CHECK = """
import importlib, json, sys
bundle, runtime, calls = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path[:0] = [bundle, runtime]
statuses = {}
for handler, event in calls:
    module, _, name = handler.rpartition(".")
    statuses[handler] = getattr(importlib.import_module(module), name)(event)["statusCode"]
outside = sorted(
    n for n, m in sys.modules.items()
    if n.split(".")[0] == "lookalike" and not (getattr(m, "__file__", None) or "").startswith(bundle)
)
heavy = sorted(n for n in ("numpy", "PIL", "cv2", "dlib", "faiss", "onnx") if n in sys.modules)
print(json.dumps({"statuses": statuses, "outside": outside, "heavy": heavy}))
"""


def test_the_bundle_alone_runs_every_handler(tmp_path) -> None:
    """Exactly the files of ``LAMBDA_SOURCES`` (the zip the emulator deploys), with nothing beside them but
    the standard library and boto3, as in the Lambda runtime: every handler loads and answers a request
    that reaches its adapters (they are imported on first use), with nothing of the engine loaded."""
    import importlib.util
    import io
    import os
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    from lookalike.aws.spec import DEPLOYMENT, static_environment
    from lookalike.bench.emulated_aws.provision import lambda_package

    bundle, runtime = tmp_path / "bundle", tmp_path / "runtime"
    with zipfile.ZipFile(io.BytesIO(lambda_package())) as archive:
        archive.extractall(bundle)
    runtime.mkdir()
    for name in LAMBDA_RUNTIME:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, f"{name} is not installed here"
        source = Path(spec.origin).parent if spec.submodule_search_locations else Path(spec.origin)
        (runtime / source.name).symlink_to(source)
    events = {
        "uploads": http_event("POST", "/api/uploads", {"content_type": "image/jpeg"}),
        "jobs": http_event("GET", "/api/jobs/x", path_parameters={"job_id": "x" * 65}),  # refused before a read
        "websocket": ws_event("$disconnect", "c1"),
    }
    expected = {"uploads": 201, "jobs": 404, "websocket": 200}
    calls = [(fn.handler, events[fn.name]) for fn in DEPLOYMENT.functions]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        **static_environment(),
        "LOOKALIKE_HOME": str(tmp_path / "home"),
        "LOOKALIKE_UPLOADS_BUCKET": "uploads",
        "LOOKALIKE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
        "LOOKALIKE_DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs-dead",
        "LOOKALIKE_JOBS_TABLE": "jobs",
        "LOOKALIKE_WEBSOCKET_ENDPOINT": ENDPOINT,
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", BUNDLE_CHECK, str(bundle), str(runtime), json.dumps(calls)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["statuses"] == {fn.handler: expected[fn.name] for fn in DEPLOYMENT.functions}
    assert report["outside"] == [] and report["heavy"] == [], report


def test_http_answers_carry_nosniff_and_no_referrer(aws) -> None:
    for response in (
        lambdas.uploads_handler(http_event("POST", "/api/uploads", {"content_type": "image/jpeg"})),
        lambdas.jobs_handler(http_event("GET", "/api/jobs/x", path_parameters={"job_id": "x"})),
    ):
        assert response["headers"]["X-Content-Type-Options"] == "nosniff"
        assert response["headers"]["Referrer-Policy"] == "no-referrer"


# -- presigned POSTs against the bucket's regional endpoint ---------------------------------------------


def http_api_event(method: str, path: str, body: str, region: str) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) request as API Gateway hands it to the function, behind CloudFront."""
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "*/*",
            "content-length": str(len(body)),
            "content-type": "application/json",
            "host": f"abc123.execute-api.{region}.amazonaws.com",
            "user-agent": "Amazon CloudFront",
            "via": "2.0 0123456789abcdef.cloudfront.net (CloudFront)",
            "x-amzn-trace-id": "Root=1-00000000-000000000000000000000000",
            "x-forwarded-for": "203.0.113.7, 130.176.0.1",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": f"abc123.execute-api.{region}.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "130.176.0.1",
                "userAgent": "Amazon CloudFront",
            },
            "requestId": "requestid=",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "01/Dec/2026:08:00:00 +0000",
            "timeEpoch": 1796112000000,
        },
        "body": body,
        "isBase64Encoded": False,
    }


@pytest.fixture
def lambda_region(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Any:
    """The uploads function's environment on AWS in a region (no endpoint override, no local AWS config)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token")
    monkeypatch.setenv("LOOKALIKE_PROFILE", "aws")
    monkeypatch.setenv("LOOKALIKE_UPLOADS_BUCKET", "lookalike-uploadsbucket-1a2b3c4d5e6f")

    def use(region: str) -> None:
        monkeypatch.setenv("AWS_REGION", region)  # what Lambda sets
        monkeypatch.setenv("AWS_DEFAULT_REGION", region)
        lambdas.settings.cache_clear()
        lambdas.ports.cache_clear()

    yield use
    lambdas.settings.cache_clear()
    lambdas.ports.cache_clear()


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-east-1", "eu-south-2", "me-central-1"])
def test_presigned_posts_go_to_the_buckets_regional_endpoint(lambda_region: Any, region: str) -> None:
    """Never the global s3.amazonaws.com: new buckets answer 307 there outside us-east-1, opt-in regions 400."""
    lambda_region(region)
    event = http_api_event("POST", "/api/uploads", json.dumps({"content_type": "image/jpeg"}), region)
    response = lambdas.uploads_handler(event, None)
    assert response["statusCode"] == 201, response
    upload = json.loads(response["body"])
    assert upload["url"] == f"https://lookalike-uploadsbucket-1a2b3c4d5e6f.s3.{region}.amazonaws.com/"
    assert upload["fields"]["key"] == upload["key"]
    credential = upload["fields"]["x-amz-credential"]
    assert credential.split("/")[2:4] == [region, "s3"]  # signed for the bucket's own region


def test_presigned_posts_keep_an_emulators_endpoint(lambda_region: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    lambda_region("eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4566")
    event = http_api_event("POST", "/api/uploads", "{}", "eu-west-1")
    upload = json.loads(lambdas.uploads_handler(event, None)["body"])
    assert upload["url"] == "http://127.0.0.1:4566/lookalike-uploadsbucket-1a2b3c4d5e6f"


# -- $connect: only the page's origins may open the WebSocket ---------------------------------------------

PAGE = "https://d111111abcdef8.cloudfront.net"


def connect_event(headers: dict[str, str]) -> dict[str, Any]:
    """A WebSocket API ``$connect`` event as API Gateway sends it to the function."""
    return {
        "headers": {
            "Host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
            "X-Amzn-Trace-Id": "Root=1-00000000-000000000000000000000000",
            "X-Forwarded-For": "203.0.113.7",
            "X-Forwarded-Port": "443",
            "X-Forwarded-Proto": "https",
            **headers,
        },
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "extendedRequestId": "abc=",
            "requestTime": "01/Dec/2026:08:00:00 +0000",
            "messageDirection": "IN",
            "stage": "live",
            "connectedAt": 1796112000000,
            "requestTimeEpoch": 1796112000000,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "Mozilla/5.0"},
            "requestId": "abc=",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "connectionId": "c0nnect=",
            "apiId": "abc123",
        },
        "isBase64Encoded": False,
    }


@pytest.fixture
def page_origins(monkeypatch: pytest.MonkeyPatch) -> Any:
    def use(origins: str) -> None:
        monkeypatch.setenv("LOOKALIKE_WEBSOCKET_ORIGINS", origins)
        lambdas.settings.cache_clear()

    yield use
    lambdas.settings.cache_clear()


def test_connect_from_another_site_is_refused(page_origins: Any) -> None:
    page_origins(PAGE)
    for foreign in ("https://evil.example", "null", "http://d111111abcdef8.cloudfront.net", PAGE + ".evil.example"):
        assert lambdas.websocket_handler(connect_event({"Origin": foreign})) == {"statusCode": 403}, foreign


def test_connect_from_the_page_or_a_listed_origin_is_accepted(page_origins: Any) -> None:
    page_origins(f"{PAGE},https://photos.example.org")
    assert lambdas.websocket_handler(connect_event({"Origin": PAGE})) == {"statusCode": 200}
    assert lambdas.websocket_handler(connect_event({"origin": "https://Photos.example.org/"})) == {"statusCode": 200}


def test_connect_without_an_origin_header_is_a_script_and_accepted(page_origins: Any) -> None:
    """Browsers always send Origin on a WebSocket handshake; the benchmark and test clients do not."""
    page_origins(PAGE)
    assert lambdas.websocket_handler(connect_event({})) == {"statusCode": 200}


def test_connect_with_no_origins_configured_accepts_any(page_origins: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOKALIKE_WEBSOCKET_ORIGINS", raising=False)
    lambdas.settings.cache_clear()
    assert lambdas.websocket_handler(connect_event({"Origin": "https://anywhere.example"})) == {"statusCode": 200}


def test_a_bucket_name_with_dots_is_presigned_by_path_on_the_regional_endpoint(
    lambda_region: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``a.b.s3.REGION.amazonaws.com`` would not match S3's wildcard certificate."""
    monkeypatch.setenv("LOOKALIKE_UPLOADS_BUCKET", "photos.example.org")
    lambda_region("eu-west-1")
    upload = json.loads(lambdas.uploads_handler(http_api_event("POST", "/api/uploads", "{}", "eu-west-1"))["body"])
    assert upload["url"] == "https://s3.eu-west-1.amazonaws.com/photos.example.org"
