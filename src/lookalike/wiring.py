"""The composition root: for a profile, the ports, the use cases over them, and the worker loop.

Every entry point builds what it runs here and nowhere else: ``lookalike serve`` (the web app and its
worker processes), ``lookalike worker`` (the AWS container) and the Lambda handlers.

* **embedded** (one machine): everything lives under ``settings.home``: ``storage/`` (photos waiting for
  a worker), ``queue.sqlite``, ``jobs.sqlite`` and ``secret``; events reach a connection over loopback
  HTTP (:class:`~lookalike.adapters.notifiers.HttpNotifier`).
* **aws**: S3 for uploads, SQS for jobs, DynamoDB for job state, API Gateway's ``@connections`` for
  events.  Resource names come from settings (``LOOKALIKE_UPLOADS_BUCKET``, ``_QUEUE_URL``,
  ``_DEAD_LETTER_QUEUE_URL``, ``_JOBS_TABLE``, ``_WEBSOCKET_ENDPOINT``); endpoints and credentials from
  boto3's own variables (``AWS_REGION``, ``AWS_ENDPOINT_URL``, ...), so any compatible service works.

Adapters are imported where a profile needs them: the Lambda bundle carries only the AWS ones, and the
embedded profile never imports boto3.  Nothing here imports the engine until a worker loop is built.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lookalike.errors import ConfigurationError
from lookalike.service.jobs import JobService, MatchSeveral
from lookalike.service.ports import ConnectionNotifier, JobQueue, JobStore, ObjectStorage
from lookalike.service.protocol import Conversation
from lookalike.service.uploads import UploadService
from lookalike.settings import Settings

if TYPE_CHECKING:
    from lookalike.adapters.local_storage import LocalStorage
    from lookalike.adapters.notifiers import HttpNotifier
    from lookalike.adapters.sqlite_jobs import SqliteJobStore
    from lookalike.adapters.sqlite_queue import SqliteQueue
    from lookalike.person_filter import PersonFilter
    from lookalike.service.matching import MatchService
    from lookalike.service.results import PhotoResult
    from lookalike.service.worker import WorkerLoop

__all__ = [
    "AWS_REQUIRED",
    "AwsPorts",
    "ConfigurationError",
    "Embedded",
    "api_url_for",
    "build_worker_loop",
    "conversation",
    "match_service",
    "upload_service",
    "worker_count",
]


# -- embedded ----------------------------------------------------------------------------------


@dataclass
class Embedded:
    """The embedded profile's adapters under ``settings.home``."""

    settings: Settings
    secret: bytes
    storage: LocalStorage
    queue: SqliteQueue
    jobs: SqliteJobStore

    @classmethod
    def open(cls, settings: Settings, channel: str = "") -> Embedded:
        """``channel`` is this server's own queue in the shared file (its URL), so that servers sharing a
        home never take each other's jobs."""
        from lookalike.adapters.local_storage import LocalStorage, load_secret
        from lookalike.adapters.sqlite_jobs import SqliteJobStore
        from lookalike.adapters.sqlite_queue import SqliteQueue

        home = settings.home
        secret = load_secret(home, settings.upload_secret)
        storage = LocalStorage(
            home / "storage",
            secret,
            max_bytes=settings.max_upload_bytes,
            expires_seconds=settings.upload_expires_seconds,
        )
        queue = SqliteQueue(
            home / "queue.sqlite",
            visibility_timeout=settings.visibility_timeout_seconds,
            max_receives=settings.max_receives,
            channel=channel,
        )
        jobs = SqliteJobStore(home / "jobs.sqlite", ttl_seconds=settings.job_ttl_seconds)
        return cls(settings, secret, storage, queue, jobs)

    def notifier(self, endpoint: str) -> HttpNotifier:
        """Reaches connections held by the server at ``endpoint`` (or another sharing this home)."""
        from lookalike.adapters.notifiers import HttpNotifier, internal_token

        return HttpNotifier(endpoint, internal_token(self.secret))


def api_url_for(settings: Settings) -> str:
    """Where workers reach this process: loopback unless the server listens on one specific address."""
    host = settings.host
    if host in ("", "0.0.0.0", "::", "localhost"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def worker_count(settings: Settings) -> int:
    """Worker processes ``lookalike serve`` starts: ``workers`` as set (0: none, the API only, for
    workers run with ``lookalike worker``), one per CPU core when unset."""
    return settings.workers if settings.workers is not None else (os.cpu_count() or 1)


# -- aws ---------------------------------------------------------------------------------------

#: The settings each AWS adapter needs, by port.
AWS_REQUIRED = {
    "uploads_bucket": "LOOKALIKE_UPLOADS_BUCKET",
    "queue_url": "LOOKALIKE_QUEUE_URL",
    "jobs_table": "LOOKALIKE_JOBS_TABLE",
}


@dataclass
class AwsPorts:
    """The AWS profile's adapters; a port whose setting is empty is ``None``."""

    storage: ObjectStorage | None
    queue: JobQueue | None
    jobs: JobStore | None
    notifier: ConnectionNotifier

    @classmethod
    def from_settings(cls, settings: Settings, need: tuple[str, ...] = tuple(AWS_REQUIRED)) -> AwsPorts:
        """Only the adapters a caller ``need``s are checked for settings (a Lambda needs fewer than a worker)."""
        missing = [AWS_REQUIRED[name] for name in need if name in AWS_REQUIRED and not getattr(settings, name)]
        if missing:
            raise ConfigurationError(
                f"LOOKALIKE_PROFILE=aws needs {', '.join(missing)} (the deploy sets them; see docs/deploy-aws.md)."
            )
        from lookalike.adapters.dynamo_jobs import DynamoJobStore
        from lookalike.adapters.notifiers import ApiGatewayNotifier
        from lookalike.adapters.s3_storage import S3Storage
        from lookalike.adapters.sqs_queue import SqsQueue

        return cls(
            storage=S3Storage(
                settings.uploads_bucket,
                max_bytes=settings.max_upload_bytes,
                expires_seconds=settings.upload_expires_seconds,
            )
            if settings.uploads_bucket
            else None,
            queue=SqsQueue(settings.queue_url, settings.dead_letter_queue_url or None) if settings.queue_url else None,
            jobs=DynamoJobStore(settings.jobs_table, ttl_seconds=settings.job_ttl_seconds)
            if settings.jobs_table
            else None,
            notifier=ApiGatewayNotifier(settings.websocket_endpoint),
        )


# -- the use cases over the ports --------------------------------------------------------------


def conversation(
    storage: ObjectStorage, queue: JobQueue, jobs: JobStore, settings: Settings, notifier: ConnectionNotifier
) -> Conversation:
    """The WebSocket protocol over a profile's ports (``notifier`` tells a connection its job moved)."""
    return Conversation(
        JobService(storage, queue, jobs), settings.ws_max_message_bytes, notifier, settings.ws_max_event_bytes
    )


def upload_service(storage: ObjectStorage) -> UploadService:
    """Presigned uploads of the photo types the storage accepts."""
    return UploadService(storage, storage.allowed_types)


def match_service(settings: Settings) -> MatchService:
    """The engine and the gallery's matcher, loaded once (seconds: the models and the gallery)."""
    from lookalike.service.matching import MatchService

    return MatchService(settings)


def several_matcher(service: MatchService) -> MatchSeveral:
    """Several photos of one person as one query, on ``service`` (the use case of ``--same-person``)."""
    from lookalike.service.several import match_same_person

    def match(photos: list[tuple[str, bytes]], person_filter: PersonFilter | None = None) -> PhotoResult:
        return match_same_person(service, photos, person_filter)

    return match


def build_worker_loop(
    settings: Settings, api_url: str | None = None, heartbeat: Callable[[], None] | None = None
) -> WorkerLoop:
    """The worker loop over the chosen profile's adapters: one wiring for `lookalike serve`'s worker
    processes and for `lookalike worker`.  Embedded: the queue channel of the server at ``api_url``
    (default: the one this host and port name); AWS: SQS, S3, DynamoDB and API Gateway."""
    from lookalike.service.jobs import JobProcessor
    from lookalike.service.worker import WorkerLoop

    storage: ObjectStorage
    queue: JobQueue
    jobs: JobStore
    if settings.profile == "aws":
        aws = AwsPorts.from_settings(settings)
        assert aws.storage is not None and aws.queue is not None and aws.jobs is not None
        storage, queue, jobs, notifier = aws.storage, aws.queue, aws.jobs, aws.notifier
        wait = 10.0  # SQS long polling; short enough that a stop is not kept waiting long
    elif settings.profile == "embedded":
        endpoint = api_url or api_url_for(settings)
        env = Embedded.open(settings, channel=endpoint)
        storage, queue, jobs, notifier = env.storage, env.queue, env.jobs, env.notifier(endpoint)
        wait = 0.5
    else:
        raise ConfigurationError(f"LOOKALIKE_PROFILE={settings.profile!r}: use 'embedded' or 'aws'.")
    service = match_service(settings)
    processor = JobProcessor(
        storage,
        queue,
        jobs,
        notifier,
        service.match_bytes,
        pause_seconds=settings.worker_pause_seconds,
        thumbnails=settings.thumbnail_url,
        aligned=settings.aligned_url,
        match_several=several_matcher(service),
        max_event_bytes=settings.ws_max_event_bytes,
    )
    return WorkerLoop(
        processor,
        queue,
        visibility_timeout=settings.visibility_timeout_seconds,
        job_timeout=settings.job_timeout_seconds,
        wait_seconds=wait,
        heartbeat=heartbeat or (lambda: None),
        heartbeat_every=settings.worker_health_seconds / 4,  # a busy worker stays healthy for its health check
    )
