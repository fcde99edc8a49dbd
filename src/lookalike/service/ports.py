"""The ports the web use cases need: object storage, a job queue, a job store and a way to reach a client.

Each has an embedded adapter (one machine: a directory and SQLite files) and an AWS adapter
(S3, SQS, API Gateway's ``@connections``), so the same use cases run on a laptop and in the cloud.
Nothing here imports a web framework or a cloud SDK.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

#: Upload keys are made by the server, never by a client: ``uploads/<uuid4>``.
KEY_PATTERN = re.compile(r"^uploads/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


#: How many uploads one match of several photos of one person names (``keys``; the CLI's ``--same-person``).
MIN_PHOTOS, MAX_PHOTOS = 2, 5


def valid_key(key: object) -> bool:
    """True for a key this system could have made; anything else (``../``, absolute paths) is refused."""
    return isinstance(key, str) and KEY_PATTERN.fullmatch(key) is not None


@dataclass(frozen=True, kw_only=True)
class PresignedUpload:
    """What a browser needs to upload one file straight to storage (S3's presigned POST shape)."""

    key: str
    url: str
    method: str = "POST"
    fields: dict[str, str]
    expires_at: float  # unix seconds
    max_bytes: int
    allowed_types: list[str]


class ObjectStorage(Protocol):
    """Where uploaded photos wait for a worker; they are deleted once matched."""

    #: The media types a presigned upload may declare (the photo types the decoder reads).
    allowed_types: tuple[str, ...]

    def presign_upload(self, key: str, content_type: str | None = None) -> PresignedUpload: ...

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class Message:
    """One received queue message; ``receipt`` deletes it, ``receive_count`` counts deliveries."""

    body: dict[str, Any]
    receipt: str
    receive_count: int = 1
    id: str = ""


class JobQueue(Protocol):
    """At-least-once delivery with SQS semantics: a received message is hidden for a visibility
    timeout and comes back unless deleted; after ``max_receives`` deliveries it is dead-lettered."""

    def send(self, body: dict[str, Any]) -> str: ...

    def receive(self, wait_seconds: float = 1.0) -> Message | None: ...

    def delete(self, receipt: str) -> None: ...

    def extend(self, receipt: str, seconds: float) -> None:
        """Keep a message hidden ``seconds`` more from now (a slow photo is still being worked on)."""
        ...

    def release(self, receipt: str) -> None:
        """Make a received message visible again at once (a worker that is stopping hands it back)."""
        ...

    def depth(self) -> int:
        """Messages waiting or in flight (for metrics)."""
        ...

    def take_dead_letters(self, limit: int = 10) -> list[dict[str, Any]]:
        """Remove and return the bodies of dead-lettered messages, so their jobs can be failed."""
        ...


class ReleasableQueue(JobQueue, Protocol):
    """A queue that can hand back a job's message by job id, for a supervisor that saw the worker holding
    it die (``lookalike serve``'s, embedded only).  SQS has no such call: there a dead worker's message
    comes back when its visibility timeout ends."""

    def release_job(self, job_id: str) -> bool:
        """Make the job's message visible again at once, if it is in flight; True if it was."""
        ...


class ConnectionNotifier(Protocol):
    """Pushes an event to a client connection held by another process (API Gateway's ``@connections``).

    ``endpoint`` says where the connection lives (the API that holds it: API Gateway's
    ``https://{domain}/{stage}``, or an embedded server's URL); it travels with the job, so a job
    reaches its client whichever worker processes it.
    """

    def send(self, endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        """True if delivered; False if the connection is gone (the job result stays fetchable)."""
        ...


class DuplicateJob(Exception):
    """A job for this upload key exists already (two submissions of one key raced)."""


@dataclass
class Job:
    id: str
    key: str
    connection_id: str
    state: str  # queued, processing, done, failed
    created_at: float
    updated_at: float
    attempts: int = 0
    worker: int | None = None
    result: dict[str, Any] | None = field(default=None)
    endpoint: str = ""  # where the connection lives (see ConnectionNotifier)
    token_hash: str = field(default="", repr=False)  # SHA-256 (hex) of its creator's resume token; never shown
    extra_keys: list[str] = field(default_factory=list)  # the other photos of a match of several (after ``key``)

    @property
    def keys(self) -> list[str]:
        """Every upload the job matches: ``key``, then the extra ones (one photo: just ``key``)."""
        return [self.key, *self.extra_keys]

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def view(self) -> JobView:
        """What ``GET /api/jobs/{id}`` shows of the job (never its connection or token)."""
        return JobView(self.id, self.state, self.created_at, self.updated_at, self.attempts, self.result)


@dataclass(frozen=True)
class JobView:
    """A job as a client sees it: its state, and its result document once finished."""

    job: str
    state: str  # queued, processing, done, failed
    created_at: float
    updated_at: float
    attempts: int
    result: dict[str, Any] | None


class JobStore(Protocol):
    """Job state and final result, kept for a while so a page can resume and ``GET /api/jobs/{id}`` works."""

    def create(
        self,
        job_id: str,
        key: str,
        connection_id: str,
        endpoint: str = "",
        token_hash: str = "",
        extra_keys: Sequence[str] = (),
    ) -> Job:
        """Record a new queued job of ``key`` (and ``extra_keys``, the other photos of a match of several);
        raises :class:`DuplicateJob` if any of these keys already has a job."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def by_key(self, key: str) -> Job | None:
        """The job that has ``key`` among its keys (its first or an extra one), if any."""
        ...

    def start(self, job_id: str, worker: int) -> Job | None:
        """Mark processing (unless finished) and count the attempt."""
        ...

    def finish(self, job_id: str, state: str, result: dict[str, Any]) -> bool:
        """Store the final result once: False (and no change) if the job had already finished."""
        ...

    def attach(self, job_id: str, connection_id: str, endpoint: str = "", token_hash: str | None = None) -> Job | None:
        """Point the job at a new connection (a page that reconnected), perhaps held by another API;
        with ``token_hash``, that becomes the job's resume token."""
        ...


class WorkerJobs(JobStore, Protocol):
    """A job store that can say which jobs a worker process is working on (``JobStore.start`` records the
    worker), for the supervisor of local worker processes (embedded only)."""

    def processing_by(self, worker: int) -> list[Job]: ...
