"""The AWS deployment, described once: the CDK app (``deploy/aws``) builds CloudFormation from it and
the tests recreate the same resources on an emulator from it, so the two cannot drift apart.

Names here are logical; CloudFormation (or the test harness) makes the physical names.  Every value
a process needs at run time reaches it as a ``LOOKALIKE_*`` setting (see ``ENVIRONMENT``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lookalike.adapters import dynamo_jobs

#: The settings (environment variables) that carry resource names to the Lambdas and workers.
ENVIRONMENT = {
    "profile": "LOOKALIKE_PROFILE",  # always "aws" there
    "uploads_bucket": "LOOKALIKE_UPLOADS_BUCKET",
    "queue_url": "LOOKALIKE_QUEUE_URL",
    "dead_letter_queue_url": "LOOKALIKE_DEAD_LETTER_QUEUE_URL",
    "jobs_table": "LOOKALIKE_JOBS_TABLE",
    "websocket_endpoint": "LOOKALIKE_WEBSOCKET_ENDPOINT",
    "gallery_uri": "LOOKALIKE_GALLERY_URI",
    "thumbnail_url": "LOOKALIKE_THUMBNAIL_URL",
    "aligned_url": "LOOKALIKE_ALIGNED_URL",
    "websocket_origins": "LOOKALIKE_WEBSOCKET_ORIGINS",  # the websocket function's only
}


#: Only these parts of ``src/`` go into the Lambda bundle: what the handlers (``lookalike.aws.lambdas``)
#: import, all pure Python (no engine, no web server, no embedded adapters; boto3 comes with the Lambda
#: runtime).  A listed path that does not exist is left out of the bundle (the CDK asset and the
#: emulator's zip alike); the tests import every handler from exactly these files.
LAMBDA_SOURCES = (
    "lookalike/__init__.py",
    "lookalike/settings.py",
    "lookalike/media.py",
    "lookalike/errors.py",
    "lookalike/documents.py",
    "lookalike/person_filter.py",
    "lookalike/service/__init__.py",
    "lookalike/service/events.py",
    "lookalike/service/jobs.py",
    "lookalike/service/ports.py",
    "lookalike/service/protocol.py",
    "lookalike/service/results.py",
    "lookalike/service/uploads.py",
    "lookalike/adapters/__init__.py",
    "lookalike/adapters/s3_storage.py",
    "lookalike/adapters/sqs_queue.py",
    "lookalike/adapters/dynamo_jobs.py",
    "lookalike/adapters/notifiers.py",
    "lookalike/wiring.py",
    "lookalike/aws",
)

#: Where browsers upload (the only keys the presigned POST, the worker and the lifecycle rule touch).
UPLOADS_PREFIX = "uploads/"
#: Where ``lookalike gallery push`` writes galleries; workers read nothing else of the gallery bucket.
GALLERIES_PREFIX = "galleries/"


@dataclass(frozen=True)
class Permission:
    """One IAM statement: exact actions on one named resource.

    Resources: ``uploads_objects`` (``uploads/*`` of the uploads bucket), ``gallery_objects``
    (``galleries/*`` of the gallery bucket), ``gallery_bucket``, ``table``, ``jobs_queue``,
    ``dead_letters``, ``connections`` (``<ws api>/<stage>/POST/@connections/*``).
    """

    sid: str
    actions: tuple[str, ...]
    resource: str


#: What each capability named in ``grants`` allows: the CDK app and the emulator tests both build
#: their IAM policies from this table, so the emulator (which enforces IAM) checks the real policies.
CAPABILITIES: dict[str, tuple[Permission, ...]] = {
    # The Lambda signs a presigned POST with its own credentials: the upload itself needs PutObject.
    "uploads:presign": (Permission("UploadsPresign", ("s3:PutObject",), "uploads_objects"),),
    # HeadObject is authorised by s3:GetObject (there is no s3:HeadObject action).
    "uploads:head": (Permission("UploadsHead", ("s3:GetObject",), "uploads_objects"),),
    "uploads:read": (Permission("UploadsRead", ("s3:GetObject",), "uploads_objects"),),
    "uploads:delete": (Permission("UploadsDelete", ("s3:DeleteObject",), "uploads_objects"),),
    # Listing is a bucket-level action (it makes a missing key answer 404 rather than 403).
    "gallery:read": (
        Permission("GalleryRead", ("s3:GetObject",), "gallery_objects"),
        Permission("GalleryList", ("s3:ListBucket",), "gallery_bucket"),
    ),
    "jobs:read": (Permission("JobsRead", ("dynamodb:GetItem",), "table"),),
    # What adapters/dynamo_jobs.py calls: GetItem, UpdateItem, and PutItem inside TransactWriteItems
    # (which has no IAM action of its own: each item is authorised by its Put/Update action).
    "jobs:write": (Permission("JobsWrite", ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"), "table"),),
    "queue:send": (Permission("QueueSend", ("sqs:SendMessage",), "jobs_queue"),),
    "queue:consume": (
        Permission(
            "QueueConsume",
            ("sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"),
            "jobs_queue",
        ),
    ),
    "dead_letters:consume": (
        Permission(
            "DeadLettersConsume",
            ("sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"),
            "dead_letters",
        ),
    ),
    "connections:post": (Permission("ConnectionsPost", ("execute-api:ManageConnections",), "connections"),),
}


def permissions(grants: tuple[str, ...]) -> list[Permission]:
    """The statements for these capabilities; an unknown name is an error, never a silent no-op."""
    out: list[Permission] = []
    for name in grants:
        if name not in CAPABILITIES:
            raise ValueError(f"unknown capability {name!r} (known: {', '.join(sorted(CAPABILITIES))})")
        out.extend(CAPABILITIES[name])
    return out


@dataclass(frozen=True)
class Queue:
    name: str
    visibility_timeout_seconds: int
    retention_seconds: int
    receive_wait_seconds: int = 20
    max_receives: int = 0  # > 0: redrive to ``dead_letters`` after this many receives


@dataclass(frozen=True)
class Table:
    name: str
    partition_key: str
    ttl_attribute: str


@dataclass(frozen=True)
class Function:
    """One Lambda function; ``grants`` are the capabilities its role gets, and nothing more."""

    name: str
    handler: str
    timeout_seconds: int
    memory_mb: int
    grants: tuple[str, ...]


@dataclass(frozen=True)
class Worker:
    """The ECS Fargate service running ``lookalike worker``."""

    cpu: int = 1024  # 1 vCPU
    memory_mb: int = 3072
    min_tasks: int = 0  # scale to zero when the queue is empty
    max_tasks: int = 4
    job_timeout_seconds: int = 60  # a job running longer fails as too_slow (not retried)
    stop_timeout_seconds: int = 120  # ECS waits this long after SIGTERM (its maximum) before SIGKILL
    health_command: tuple[str, ...] = ("lookalike", "worker", "--check")
    #: (jobs waiting or in progress at least, tasks wanted): 0 -> 0, 1-19 -> 1, 20-59 -> 2, 60 and more -> 4.
    scaling_steps: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (20, 2), (60, 4))
    grants: tuple[str, ...] = (
        "uploads:read",
        "uploads:delete",
        "gallery:read",
        "queue:consume",
        "dead_letters:consume",
        "jobs:write",
        "connections:post",
    )


@dataclass(frozen=True)
class Deployment:
    uploads_expire_days: int = 1  # stray uploads (never matched) are deleted by a lifecycle rule
    upload_expires_seconds: int = 300  # presigned POSTs are valid this long
    max_upload_bytes: int = 25 * 1024 * 1024
    job_ttl_seconds: int = 3600
    log_retention_days: int = 14
    #: Alarm when the oldest job has waited this long: work is stuck (no worker starts, or none keeps up).
    #: Above the slowest honest cold start (about 20 minutes after a queue idle for 6 hours, whose
    #: metrics take up to 15 minutes to resume: docs/deploy-aws.md), below the queue's 1 h retention.
    oldest_job_alarm_seconds: int = 1800
    jobs_queue: Queue = field(
        default_factory=lambda: Queue(
            "jobs",
            visibility_timeout_seconds=180,  # > Worker.job_timeout_seconds: one job is never run twice at once
            retention_seconds=3600,
            max_receives=3,
        )
    )
    dead_letters: Queue = field(
        default_factory=lambda: Queue("jobs-dead", visibility_timeout_seconds=30, retention_seconds=14 * 86400)
    )
    jobs_table: Table = field(
        default_factory=lambda: Table("jobs", partition_key=dynamo_jobs.PK, ttl_attribute=dynamo_jobs.TTL_ATTRIBUTE)
    )
    functions: tuple[Function, ...] = (
        Function(
            "uploads",
            "lookalike.aws.lambdas.uploads_handler",
            timeout_seconds=10,
            memory_mb=256,
            grants=("uploads:presign",),
        ),
        Function(
            "jobs", "lookalike.aws.lambdas.jobs_handler", timeout_seconds=10, memory_mb=256, grants=("jobs:read",)
        ),
        Function(
            "websocket",
            "lookalike.aws.lambdas.websocket_handler",
            timeout_seconds=15,
            memory_mb=256,
            grants=("uploads:head", "jobs:write", "queue:send", "connections:post"),
        ),
    )
    #: HTTP API routes (method, path) -> function name.
    http_routes: tuple[tuple[str, str, str], ...] = (
        ("POST", "/api/uploads", "uploads"),
        ("GET", "/api/jobs/{job_id}", "jobs"),
    )
    #: WebSocket API: routes chosen by the message's "action"; each goes to the one ``websocket`` function.
    websocket_route_selection: str = "$request.body.action"
    websocket_routes: tuple[str, ...] = ("$connect", "$disconnect", "$default", "match", "resume")
    websocket_stage: str = "live"
    worker: Worker = field(default_factory=Worker)
    #: Paths of the gallery bucket the page reads through CloudFront: the faces' JPEGs (``thumbnails/`` and
    #: ``aligned/`` of each version), never the vectors (``*`` spans ``/`` in CloudFront and IAM alike).
    gallery_public_pattern: str = "galleries/*.jpg"


DEPLOYMENT = Deployment()


def static_environment(spec: Deployment = DEPLOYMENT) -> dict[str, str]:
    """The settings every Lambda and worker gets that do not depend on a resource's name."""
    return {
        "LOOKALIKE_PROFILE": "aws",
        "LOOKALIKE_MAX_UPLOAD_BYTES": str(spec.max_upload_bytes),
        "LOOKALIKE_UPLOAD_EXPIRES_SECONDS": str(spec.upload_expires_seconds),
        "LOOKALIKE_JOB_TTL_SECONDS": str(spec.job_ttl_seconds),
        "LOOKALIKE_MAX_RECEIVES": str(spec.jobs_queue.max_receives),
        # A worker keeps its job's message hidden by this much at a time, while the job runs.
        "LOOKALIKE_VISIBILITY_TIMEOUT_SECONDS": str(spec.jobs_queue.visibility_timeout_seconds),
        "LOOKALIKE_JOB_TIMEOUT_SECONDS": str(spec.worker.job_timeout_seconds),
    }
