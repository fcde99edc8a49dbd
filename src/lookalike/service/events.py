"""The events a connection receives, typed; :func:`~lookalike.service.results.to_json` makes their JSON.

From the API (answers to a client's message): ``hello`` (on connecting), ``queued``, ``resumed``,
``moved`` and ``error``.  From the worker: ``processing``, ``faces_found`` and one terminal event,
``matched`` or ``failed`` (:data:`TERMINAL_EVENTS`), which carry the photo's result document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from lookalike.documents import OMIT_EMPTY, to_json
from lookalike.service.results import ErrorInfo, FaceBox, FacesFound

#: A job ends with exactly one of these (a connection drops a second one for the same job).
TERMINAL_EVENTS = ("matched", "failed")
#: The largest event one WebSocket message may carry: API Gateway's limit for a message (128 KB); the
#: embedded app keeps the same rule, so a page works alike on both.
MAX_EVENT_BYTES = 128 * 1024


@dataclass(frozen=True)
class Hello:
    """Sent first on every connection: its id and the size limit of a client message."""

    event: Literal["hello"] = field(default="hello", init=False)
    connection: str
    max_message_bytes: int


@dataclass(frozen=True)
class Queued:
    """The job was made; ``resume_token`` (given only here) lets this page follow it after reconnecting."""

    event: Literal["queued"] = field(default="queued", init=False)
    job: str
    key: str
    resume_token: str


@dataclass(frozen=True)
class Resumed:
    """This connection now follows the job; ``resume_token`` only when it got a new one."""

    event: Literal["resumed"] = field(default="resumed", init=False)
    job: str
    key: str
    state: str
    resume_token: str = field(default="", metadata=OMIT_EMPTY)


@dataclass(frozen=True)
class Moved:
    """The job's progress is now sent to another connection (the same page, reconnected)."""

    event: Literal["moved"] = field(default="moved", init=False)
    job: str
    message: str = "This photo's progress is now shown on another connection (the page reconnected elsewhere)."


@dataclass(frozen=True)
class Error:
    """A client message that cannot be honoured (a bad message, an unknown job, a rate limit...)."""

    event: Literal["error"] = field(default="error", init=False)
    error: ErrorInfo


@dataclass(frozen=True)
class Processing:
    """A worker took the job (``attempt`` counts deliveries: above 1 after a worker crashed)."""

    event: Literal["processing"] = field(default="processing", init=False)
    job: str
    attempt: int


@dataclass(frozen=True)
class FacesFoundEvent:
    """The faces are found (boxes in the photo's pixels); matching them comes next."""

    event: Literal["faces_found"] = field(default="faces_found", init=False)
    job: str
    faces_found: int
    boxes: list[FaceBox]
    width: int
    height: int

    @classmethod
    def of(cls, job: str, found: FacesFound) -> FacesFoundEvent:
        return cls(job, found.faces_found, found.boxes, found.width, found.height)


@dataclass(frozen=True)
class Matched:
    """The job's result (a :class:`~lookalike.service.results.PhotoResult`'s JSON, as stored).  A result too
    large for one WebSocket message (``MAX_EVENT_BYTES``) comes as ``result: null`` with ``result_url``,
    where ``GET`` gives the job with its result (``/api/jobs/{job}``)."""

    event: Literal["matched"] = field(default="matched", init=False)
    job: str
    result: dict[str, Any] | None
    result_url: str | None = field(default=None, metadata=OMIT_EMPTY)


@dataclass(frozen=True)
class Failed:
    """The job failed: ``error`` says why; ``result`` is the stored result document."""

    event: Literal["failed"] = field(default="failed", init=False)
    job: str
    error: ErrorInfo
    result: dict[str, Any]


#: Every event, for the schema the API documents.
EVENTS = (Hello, Queued, Resumed, Moved, Error, Processing, FacesFoundEvent, Matched, Failed)


def deliverable(event: Matched | Failed, limit: int = MAX_EVENT_BYTES) -> Matched | Failed:
    """``event``, or, when its JSON is larger than ``limit`` bytes, a ``matched`` event that says where to
    fetch the result instead of carrying it (a 20-face photo's result with credits and explanations
    comes near API Gateway's 128 KB; posting more fails there)."""
    if not isinstance(event, Matched) or len(json.dumps(to_json(event)).encode()) <= limit:
        return event
    return Matched(event.job, None, result_url=f"/api/jobs/{event.job}")


def error_event(code: str, message: str) -> Error:
    return Error(ErrorInfo(code, message))


def internal_error() -> Error:
    """What a client is told when handling its message failed on our side (a bug: it is logged)."""
    return error_event("internal", "Something went wrong on our side; please try again.")
