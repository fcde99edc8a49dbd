"""Use cases of asynchronous matching: submit an uploaded photo as a job, and process one job.

Delivery is at least once (the queue redelivers after a crash), so processing is made idempotent:
the first finished attempt stores the result; a later attempt of a finished job only re-sends that
stored result, and the connection side drops a second terminal event for the same job.  The user's
photo (every photo of a match of several) is deleted as soon as the job has finished, whatever the outcome.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from lookalike.documents import to_json
from lookalike.errors import JobError, Refused
from lookalike.person_filter import PersonFilter
from lookalike.service.events import MAX_EVENT_BYTES, FacesFoundEvent, Failed, Matched, Processing, deliverable
from lookalike.service.ports import (
    ConnectionNotifier,
    DuplicateJob,
    Job,
    JobQueue,
    JobStore,
    Message,
    ObjectStorage,
    valid_key,
)
from lookalike.service.results import (
    DEFAULT_ALIGNED_URL,
    DEFAULT_THUMBNAIL_URL,
    ErrorInfo,
    FacesFound,
    PhotoResult,
)

log = logging.getLogger(__name__)


class Match(Protocol):
    """Photo bytes -> result (:meth:`~lookalike.service.matching.MatchService.match_bytes`)."""

    def __call__(
        self,
        data: bytes,
        name: str = ...,
        watch: list[str] | None = ...,
        on_faces: Callable[[FacesFound], None] | None = ...,
        person_filter: PersonFilter | None = ...,
        explain: bool = ...,
    ) -> PhotoResult: ...


class MatchSeveral(Protocol):
    """2-5 photos of one person (name, bytes) -> one result (:func:`~lookalike.service.several.match_same_person`)."""

    def __call__(self, photos: list[tuple[str, bytes]], person_filter: PersonFilter | None = ...) -> PhotoResult: ...


#: Called with (job id, connection id, endpoint) of the connection a job was just moved away from.
OnMoved = Callable[[str, str, str], None]


def new_resume_token() -> str:
    """The secret that lets a job's creator follow it again (sent once, in ``queued``; stored hashed)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(job: Job, token: object) -> bool:
    """True if ``token`` is the job's resume token (constant-time; a job without one matches nothing)."""
    if not job.token_hash or not isinstance(token, str) or not token or len(token) > 128:
        return False
    return hmac.compare_digest(token_hash(token), job.token_hash)


def terminal_event(job: Job, max_bytes: int = MAX_EVENT_BYTES) -> Matched | Failed:
    """The ``matched`` / ``failed`` event of a finished job, rebuilt from its stored result (a result over
    ``max_bytes`` is pointed to, not carried: :func:`~lookalike.service.events.deliverable`)."""
    result = job.result or {}
    if job.state == "done":
        return deliverable(Matched(job.id, result), max_bytes)
    error = result.get("error") or {}
    return Failed(job.id, ErrorInfo(error.get("code", "failed"), error.get("message", "Failed.")), result)


def job_filter(body: dict[str, Any]) -> PersonFilter | None:
    """The filter a job's message carries (none: everyone); None when it cannot be read (a forged body)."""
    fields = body.get("filter") or {}
    try:
        return PersonFilter.from_fields(fields) if isinstance(fields, dict) else None
    except Refused:
        return None


def body_keys(body: dict[str, Any]) -> list[str]:
    """The upload keys a job's message names (its ``key``, then its ``extra_keys``): what to delete of a
    job no longer recorded.  Only keys this system makes (a forged body names nothing else)."""
    extra = body.get("extra_keys")
    named = [body.get("key"), *(extra if isinstance(extra, list) else [])]
    return [key for key in named if valid_key(key)]


def too_slow(limit: float) -> PhotoResult:
    return PhotoResult.failed(
        "photo",
        "too_slow",
        f"This photo took too long to match (over {limit:.0f} seconds), so matching was stopped. "
        "Please try a smaller photo, or one with fewer faces.",
    )


class JobService:
    """What the API does with a job: submit it, or look it up again."""

    def __init__(self, storage: ObjectStorage, queue: JobQueue, jobs: JobStore) -> None:
        self.storage, self.queue, self.jobs = storage, queue, jobs

    def submit(
        self,
        key: object,
        connection_id: str,
        endpoint: str = "",
        before_enqueue: Callable[[Job], None] | None = None,
        token: str = "",
        on_moved: OnMoved | None = None,
        person_filter: PersonFilter | None = None,
        explain: bool = False,
        extra_keys: Sequence[str] = (),
    ) -> tuple[Job, bool]:
        """(job, created).  Idempotent per key: a page that lost its connection before hearing the job id
        sends the same key again and is attached to the job already made (only the uploader knows the key).

        ``endpoint`` says where the connection lives; ``before_enqueue(job)`` runs after the job is recorded
        and before a worker can see it (the place to tell the client "queued", so that it comes first).
        ``token`` becomes the job's resume token (stored hashed); the same key again makes it the token
        of the existing job (the key is the uploader's own secret: who has it may have a new token).
        ``person_filter`` (whom to compare with) travels with the job's message to the worker; the same key
        again keeps the job's first filter.  ``explain`` (say which parts agree) travels with it too.
        ``extra_keys``: the other photos of a match of several photos of one person (checked by the
        protocol: valid and distinct); every key must have been uploaded, and the same keys again (in the
        same order) attach to the job they made.
        """
        if not key:
            raise JobError("missing_key", 'Say which upload to match: {"action": "match", "key": ...}.')
        if not valid_key(key):
            raise JobError("bad_key", "That is not an upload key this server made.")
        assert isinstance(key, str)
        keys = [key, *extra_keys]
        hashed = token_hash(token) if token else ""
        existing = self._existing(keys)
        if existing is not None:
            return self._move(existing, connection_id, endpoint, hashed or None, on_moved), False
        self._check_uploaded(keys)
        try:
            job = self.jobs.create(
                str(uuid.uuid4()), key, connection_id, endpoint, token_hash=hashed, extra_keys=list(extra_keys)
            )
        except DuplicateJob:  # the same key submitted twice at once: the other submission made the job
            existing = self._existing(keys)
            if existing is None:
                raise JobError("busy", "That upload is being submitted already; try again.") from None
            return self._move(existing, connection_id, endpoint, hashed or None, on_moved), False
        if before_enqueue is not None:
            try:
                before_enqueue(job)
            except Exception:  # the client left as it asked: the job still runs, its result stays fetchable
                log.warning("could not tell the client job %s was queued", job.id, exc_info=True)
        body: dict[str, Any] = {"job_id": job.id, "key": key, "connection_id": connection_id, "endpoint": endpoint}
        if extra_keys:
            body["extra_keys"] = list(extra_keys)
        if person_filter is not None and not person_filter.empty:
            body["filter"] = person_filter.fields()
        if explain:
            body["explain"] = True
        self.queue.send(body)
        return job, True

    def _existing(self, keys: list[str]) -> Job | None:
        """The job these keys made already, if any; ``key_taken`` when one of them belongs to a job of other
        photos (an upload is matched once: alone, or with the same other photos)."""
        for key in keys:
            job = self.jobs.by_key(key)
            if job is not None:
                if job.keys != keys:
                    raise JobError(
                        "key_taken",
                        "A photo of this match was matched with other photos already; please upload it again.",
                    )
                return job
        return None

    def _check_uploaded(self, keys: list[str]) -> None:
        for number, key in enumerate(keys, 1):
            if not self.storage.exists(key):
                which = f"photo {number} of {len(keys)}" if len(keys) > 1 else "that key"
                raise JobError("not_uploaded", f"Nothing has been uploaded under {which} (or it was already matched).")

    def resume(
        self,
        job_id: object,
        connection_id: str,
        endpoint: str = "",
        token: object = None,
        on_moved: OnMoved | None = None,
    ) -> Job:
        """Follow a job on this connection; only with the job's resume token (``bad_token`` otherwise)."""
        if not isinstance(job_id, str) or not job_id or len(job_id) > 64:
            raise JobError("missing_job", 'Say which job to resume: {"action": "resume", "job": ..., "token": ...}.')
        job = self.jobs.get(job_id)
        if job is None:
            raise JobError("unknown_job", "No such job (results are kept for a limited time).")
        if not token_matches(job, token):
            raise JobError("bad_token", "That job can only be resumed with the token its page was given.")
        return self._move(job, connection_id, endpoint, None, on_moved)

    def _move(self, job: Job, connection_id: str, endpoint: str, new_hash: str | None, on_moved: OnMoved | None) -> Job:
        """Point ``job`` at this connection; ``on_moved`` hears of the connection it left, if another."""
        moved = self.jobs.attach(job.id, connection_id, endpoint, token_hash=new_hash)
        if moved is None:
            raise JobError("unknown_job", "No such job (results are kept for a limited time).")
        previous = (job.connection_id, job.endpoint)
        if on_moved is not None and job.connection_id and previous != (connection_id, endpoint):
            try:
                on_moved(job.id, *previous)
            except Exception:  # the old connection is gone: nothing to tell
                log.debug("could not tell %s that job %s moved", job.connection_id, job.id, exc_info=True)
        return moved


class JobProcessor:
    """What a worker does with one queue message."""

    def __init__(
        self,
        storage: ObjectStorage,
        queue: JobQueue,
        jobs: JobStore,
        notifier: ConnectionNotifier,
        match: Match,
        pause_seconds: float = 0.0,
        thumbnails: str = DEFAULT_THUMBNAIL_URL,
        aligned: str = DEFAULT_ALIGNED_URL,
        match_several: MatchSeveral | None = None,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self.storage, self.queue, self.jobs, self.notifier = storage, queue, jobs, notifier
        self.max_event_bytes = max_event_bytes
        self.match = match
        self.match_several = match_several
        self.pause_seconds = pause_seconds
        self.thumbnails = thumbnails
        self.aligned = aligned

    def _notify(self, job: Job, typed: Processing | FacesFoundEvent | Matched | Failed) -> bool:
        event = to_json(typed)
        if self.notifier.send(job.endpoint, job.connection_id, event):
            return True
        # Gone: the page may have reconnected (and resumed) since; follow the job to its new connection.
        fresh = self.jobs.get(job.id)
        if fresh is not None and (fresh.connection_id, fresh.endpoint) != (job.connection_id, job.endpoint):
            job.connection_id, job.endpoint = fresh.connection_id, fresh.endpoint
            return self.notifier.send(job.endpoint, job.connection_id, event)
        return False

    def process(self, message: Message) -> None:
        job_id = message.body.get("job_id", "")
        job = self.jobs.get(job_id)
        if job is None:  # expired or never recorded: nothing to tell anyone
            self._delete(body_keys(message.body))
            self.queue.delete(message.receipt)
            return
        if job.finished:  # a redelivery after the result was stored: re-send it, the client side dedupes
            self._notify(job, terminal_event(job, self.max_event_bytes))
            self._delete(job.keys)
            self.queue.delete(message.receipt)
            return
        job = self.jobs.start(job.id, os.getpid()) or job
        self._notify(job, Processing(job.id, message.receive_count))
        if self.pause_seconds and message.receive_count == 1:
            time.sleep(self.pause_seconds)  # tests only: a window in which to kill this worker
        person_filter = job_filter(message.body)
        if job.extra_keys:  # several photos of one person (``explain`` is for one photo's faces)
            result = self._match_several(job, person_filter)
        else:
            result = self._match_one(job, person_filter, message.body.get("explain") is True)
        self.finish(job, result)
        self.queue.delete(message.receipt)

    def _match_one(self, job: Job, person_filter: PersonFilter | None, explain: bool) -> PhotoResult:
        data = self.storage.get(job.key)
        if data is None:
            return PhotoResult.failed("photo", "upload_missing", "The uploaded photo is gone; please upload it again.")
        if person_filter is None:
            return PhotoResult.failed("photo", "bad_filter", "The job's filter cannot be read.")

        def on_faces(found: FacesFound) -> None:
            if not self._finished(job.id):  # not after the job failed at its time limit
                self._notify(job, FacesFoundEvent.of(job.id, found))

        result = self.match(data, name="photo", on_faces=on_faces, person_filter=person_filter, explain=explain)
        return result.public(self.thumbnails, self.aligned)

    def _match_several(self, job: Job, person_filter: PersonFilter | None) -> PhotoResult:
        """Several photos of one person, named "photo 1", "photo 2", ... in the order of their keys."""
        names = [f"photo {number}" for number in range(1, len(job.keys) + 1)]
        label = " + ".join(names)
        photos: list[tuple[str, bytes]] = []
        for name, key in zip(names, job.keys, strict=True):
            data = self.storage.get(key)
            if data is None:
                return PhotoResult.failed(
                    label,
                    "upload_missing",
                    f"The uploaded {name} of {len(names)} is gone; please upload the photos again.",
                )
            photos.append((name, data))
        if person_filter is None:
            return PhotoResult.failed(label, "bad_filter", "The job's filter cannot be read.")
        if self.match_several is None:
            return PhotoResult.failed(label, "not_supported", "This worker cannot match several photos as one.")
        return self.match_several(photos, person_filter=person_filter).public(self.thumbnails, self.aligned)

    def _delete(self, keys: list[str]) -> None:
        for key in keys:
            self.storage.delete(key)

    def _finished(self, job_id: str) -> bool:
        job = self.jobs.get(job_id)
        return job is None or job.finished

    def finish(self, job: Job, result: PhotoResult) -> bool:
        """Store the result and tell the client; False when a result was stored before (the first stored
        result wins, whichever attempt made it, and whoever stored it tells the client)."""
        state = "failed" if result.error else "done"
        stored_now = self.jobs.finish(job.id, state, to_json(result))
        self._delete(job.keys)
        if not stored_now:
            log.info("job %s had finished already (at its time limit, or by another attempt)", job.id)
            return False
        stored = self.jobs.get(job.id)
        if stored is not None:
            self._notify(stored, terminal_event(stored, self.max_event_bytes))
        return True

    def time_out(self, message: Message, limit: float) -> None:
        """The job of ``message`` ran past its time limit: fail it as ``too_slow`` (unless a result was
        stored already), tell the client and delete the message, so it is not handed to another worker."""
        job = self.jobs.get(message.body.get("job_id", ""))
        if job is None:
            self._delete(body_keys(message.body))
        elif not job.finished:
            self.finish(job, too_slow(limit))
        self.queue.delete(message.receipt)

    def fail_dead_letter(self, body: dict[str, Any]) -> None:
        """A job whose worker died on every attempt: tell the client instead of leaving it waiting."""
        job = self.jobs.get(body.get("job_id", ""))
        if job is None:
            self._delete(body_keys(body))
            return
        if not job.finished:
            self.finish(
                job,
                PhotoResult.failed(
                    "photo", "worker_crashed", "Matching this photo failed repeatedly; please try another photo."
                ),
            )
