"""The Lambda functions of the AWS profile: thin entry points over the same use cases as the web app.

* ``uploads_handler`` — HTTP API ``POST /api/uploads``: a presigned S3 POST (SigV4) for one photo.
* ``jobs_handler`` — HTTP API ``GET /api/jobs/{job_id}``: a job's state and result.
* ``websocket_handler`` — WebSocket API routes ``$connect``, ``$disconnect``, ``match``, ``resume``,
  ``$default``: the messages of :mod:`lookalike.service.protocol`; every answer is pushed with
  ``post_to_connection`` (the functions return no body), ``queued`` before the job reaches SQS.

They import neither NumPy nor dlib: the deployment package is this package's pure-Python part, and
boto3 comes with the Lambda runtime.  Adapters are made once per warm container.
"""

from __future__ import annotations

import base64
import json
import logging
from functools import cache
from typing import Any

from lookalike.documents import to_json
from lookalike.errors import UploadRefused
from lookalike.service.events import internal_error
from lookalike.service.protocol import origin_allowed
from lookalike.service.results import error_body
from lookalike.settings import Settings
from lookalike.wiring import AwsPorts, conversation, upload_service

log = logging.getLogger(__name__)
JSON_HEADERS = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@cache
def settings() -> Settings:
    return Settings.from_env()


@cache
def ports(*need: str) -> AwsPorts:
    return AwsPorts.from_settings(settings(), need=need)


def response(status: int, body: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": JSON_HEADERS, "body": json.dumps(body)}


def error(status: int, code: str, message: str) -> dict[str, Any]:
    return response(status, error_body(code, message))


def request_body(event: dict[str, Any]) -> str:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    return body


# -- HTTP API -----------------------------------------------------------------------------------


def uploads_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """``POST /api/uploads`` with an optional ``{"content_type": ...}``: 201 and a presigned POST."""
    raw = request_body(event)
    try:
        body = json.loads(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise ValueError
    except ValueError:
        return error(400, "bad_json", 'Send a JSON object, e.g. {"content_type": "image/jpeg"}.')
    storage = ports("uploads_bucket").storage
    assert storage is not None
    try:
        upload = upload_service(storage).create(body.get("content_type"))
    except UploadRefused as exc:
        return error(exc.status, exc.code, exc.message)
    return response(201, to_json(upload))


def jobs_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """``GET /api/jobs/{job_id}``: the job's state, and its result once finished."""
    job_id = (event.get("pathParameters") or {}).get("job_id", "")
    jobs = ports("jobs_table").jobs
    assert jobs is not None
    job = jobs.get(job_id) if job_id and len(job_id) <= 64 else None
    if job is None:
        return error(404, "unknown_job", "No such job (results are kept for a limited time).")
    return response(200, to_json(job.view()))


# -- WebSocket API ------------------------------------------------------------------------------


def management_endpoint(context: dict[str, Any]) -> str:
    """Where ``post_to_connection`` reaches this connection: ``https://{domainName}/{stage}``."""
    return f"https://{context.get('domainName', '')}/{context.get('stage', '')}"


def header(headers: dict[str, Any] | None, name: str) -> str | None:
    """A request header by name, whatever its case (API Gateway passes them as the client wrote them)."""
    for key, value in (headers or {}).items():
        if str(key).lower() == name:
            return str(value)
    return None


def websocket_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    request = event.get("requestContext") or {}
    route = request.get("routeKey", "")
    if route == "$connect":  # nothing to record: jobs carry their connection
        if not origin_allowed(header(event.get("headers"), "origin"), settings().websocket_origins):
            log.warning("refused a WebSocket from origin %r", header(event.get("headers"), "origin"))
            return {"statusCode": 403}
        return {"statusCode": 200}
    if route == "$disconnect":
        return {"statusCode": 200}
    connection_id = request.get("connectionId", "")
    endpoint = management_endpoint(request)
    aws = ports("uploads_bucket", "queue_url", "jobs_table")
    assert aws.storage is not None and aws.queue is not None and aws.jobs is not None

    def reply(reply_event: dict[str, Any]) -> None:
        aws.notifier.send(endpoint, connection_id, reply_event)

    talk = conversation(aws.storage, aws.queue, aws.jobs, settings(), aws.notifier)  # notifier: "moved"
    try:
        talk.handle(request_body(event), connection_id, endpoint, reply)
    except Exception:  # a bug must not leave the page waiting without a word
        log.exception("websocket message failed")
        reply(to_json(internal_error()))
    return {"statusCode": 200}
