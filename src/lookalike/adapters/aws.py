"""The AWS profile's wiring: S3 for uploads, SQS for jobs, DynamoDB for job state, API Gateway for events.

Resource names come from settings (``LOOKALIKE_UPLOADS_BUCKET``, ``_QUEUE_URL``, ``_DEAD_LETTER_QUEUE_URL``,
``_JOBS_TABLE``, ``_WEBSOCKET_ENDPOINT``); endpoints and credentials from boto3's own variables
(``AWS_REGION``, ``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_S3``, ...), so any S3/SQS/DynamoDB-compatible
service works.  boto3 is imported here only: the embedded profile never needs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from lookalike.errors import LookalikeError
from lookalike.service.ports import ConnectionNotifier, JobQueue, JobStore, ObjectStorage
from lookalike.settings import Settings


class ConfigurationError(LookalikeError):
    """A setting the chosen profile needs is missing."""


REQUIRED = {
    "uploads_bucket": "LOOKALIKE_UPLOADS_BUCKET",
    "queue_url": "LOOKALIKE_QUEUE_URL",
    "jobs_table": "LOOKALIKE_JOBS_TABLE",
}


@dataclass
class AwsPorts:
    storage: ObjectStorage | None
    queue: JobQueue | None
    jobs: JobStore | None
    notifier: ConnectionNotifier

    @classmethod
    def from_settings(cls, settings: Settings, need: tuple[str, ...] = tuple(REQUIRED)) -> AwsPorts:
        """Only the adapters a caller ``need``s are checked for settings (a Lambda needs fewer than a worker)."""
        missing = [REQUIRED[name] for name in need if name in REQUIRED and not getattr(settings, name)]
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
