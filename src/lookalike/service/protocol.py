"""The WebSocket protocol, one definition for every entry point (the embedded ASGI app and the Lambda).

A client sends JSON objects: ``{"action": "match", "key": <upload key>}`` to match an uploaded photo, or
``{"action": "match", "keys": [<upload key>, ...]}`` to match 2-5 photos of one person as one query
(with, optionally, a filter of whom to compare with: :class:`MatchMessage`),
or ``{"action": "resume", "job": <job id>, "token": <resume token>}`` to follow a job again after
reconnecting.  The server answers with events: ``queued`` (with the job's ``resume_token``, given only
here), ``resumed``, then (from a worker) ``processing``, ``faces_found`` and one terminal ``matched`` or
``failed``; a message that cannot be honoured gets ``error`` with a code.  A connection whose job is
taken over by another connection (the same page, reconnected) is told ``moved``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from lookalike.documents import to_json
from lookalike.errors import JobError, Refused
from lookalike.person_filter import PersonFilter
from lookalike.service.events import MAX_EVENT_BYTES, Error, Failed, Matched, Moved, Queued, Resumed, error_event
from lookalike.service.jobs import JobService, new_resume_token, terminal_event
from lookalike.service.ports import MAX_PHOTOS, MIN_PHOTOS, ConnectionNotifier, Job, valid_key

ACTIONS = ("match", "resume")


def _normal_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def origin_allowed(origin: str | None, allowed: str, own_host: str | None = None) -> bool:
    """May a page of this ``Origin`` open the WebSocket?  (``$connect`` on AWS, the handshake embedded.)

    Browsers always send ``Origin`` on a WebSocket handshake and a page cannot change it, so refusing
    every origin but the page's stops other sites from driving the API with their visitors' browsers
    (and their addresses' rate budgets).  A handshake without ``Origin`` is not a browser's (a script,
    the benchmarks): it is let in, as it could send any ``Origin`` it liked anyway.  ``allowed``: the
    page origins (scheme, host and port), comma-separated; ``own_host``: this server's ``Host`` header
    (the page it serves itself, whatever the scheme a proxy in front adds).  With neither, any origin."""
    if origin is None:
        return True
    origins = {_normal_origin(o) for o in allowed.split(",") if o.strip()}
    sent = _normal_origin(origin)
    if own_host and sent.partition("://")[2] == own_host.strip().lower():
        return True
    return not origins and not own_host or sent in origins


@dataclass(frozen=True)
class MatchMessage:
    """``match``: match the photo uploaded under ``key`` (the key a presigned upload gave), or the 2-5
    photos of one person uploaded under ``keys`` (each photo with its own presigned upload).

    Exactly one of ``key`` and ``keys`` is sent.  With ``keys`` the photos' faces are checked to be one
    person and combined into one query (as ``lookalike match --same-person``); the result has one face
    (the first photo's, with the combined lookalikes) and ``same_person``; photos of more than one person
    fail with ``not_same_person``, naming the photo that looks like someone else ("photo 2": the photos
    are numbered in the order of ``keys``).  ``keys`` that cannot be taken get ``error``, nothing queued:
    ``key_and_keys`` (both sent), ``bad_keys`` (not a list), ``bad_key_count`` (not 2-5),
    ``bad_key`` (one is not an upload key), ``duplicate_keys`` (one upload named twice),
    ``not_uploaded`` (one was not uploaded) or ``key_taken`` (one belongs to a match of other photos).
    The same ``keys`` again follow the job already made, like the same ``key`` again.

    The optional fields choose whom the faces are compared with (:mod:`lookalike.person_filter`; left
    out: everyone): ``sex``, ``occupation`` (groups: actor, musician, athlete, politician, writer,
    scientist, business; a person in any passes), ``born_after`` / ``born_before`` (years, strict) and
    ``living``.  A filter that cannot be read gets ``error`` with code ``bad_filter``.

    ``explain``: also say, for the top matches of the photo's largest faces, which parts of the faces
    agree (``why`` on each of those matches; about 0.3 s more a face).  Not a boolean: ``bad_explain``."""

    action: Literal["match"]
    key: str | None = None
    keys: list[str] | None = None
    sex: Literal["female", "male", "other"] | None = None
    occupation: list[str] | None = None
    born_after: int | None = None
    born_before: int | None = None
    living: bool | None = None
    explain: bool = False


@dataclass(frozen=True)
class ResumeMessage:
    """``resume``: follow ``job`` on this connection, with the ``resume_token`` its ``queued`` event gave."""

    action: Literal["resume"]
    job: str
    token: str


#: What a client may send (the schema the API documents; :func:`parse` reads them).
CLIENT_MESSAGES = (MatchMessage, ResumeMessage)


@dataclass(frozen=True)
class ClientMessage:
    action: str
    key: object = None
    job: object = None
    token: object = None
    person_filter: PersonFilter = PersonFilter()
    explain: bool = False
    keys: tuple[str, ...] = ()  # a match of several photos: every key, in order (then ``key`` is unused)


#: The ``match`` message's fields that are not a filter.
_NOT_FILTER = ("action", "key", "keys", "job", "token", "explain")


def several_keys(message: dict[str, Any]) -> tuple[str, ...]:
    """The ``keys`` of a match message (empty without them); :class:`JobError` for keys that cannot be
    taken (see :class:`MatchMessage`), before anything is recorded or queued."""
    if "keys" not in message:
        return ()
    if "key" in message:
        raise JobError("key_and_keys", 'Send either "key" (one photo) or "keys" (several photos of one person).')
    keys = message["keys"]
    if not isinstance(keys, list):
        raise JobError("bad_keys", '"keys" must be a list of upload keys: {"action": "match", "keys": [...]}.')
    if not MIN_PHOTOS <= len(keys) <= MAX_PHOTOS:
        raise JobError(
            "bad_key_count",
            f'Give {MIN_PHOTOS} to {MAX_PHOTOS} photos of one person ({len(keys)} sent); one photo goes in "key".',
        )
    for number, key in enumerate(keys, 1):
        if not valid_key(key):
            raise JobError("bad_key", f"Key {number} of {len(keys)} is not an upload key this server made.")
    if len(set(keys)) < len(keys):
        raise JobError("duplicate_keys", 'An upload is named twice in "keys": give each photo its own upload.')
    return tuple(keys)


def parse(raw: str | bytes | None, max_bytes: int) -> ClientMessage:
    """Read one client message; raises :class:`JobError` (``too_big``, ``bad_json``, ``unknown_action``)."""
    data = raw.encode() if isinstance(raw, str) else (raw or b"")
    if len(data) > max_bytes:
        raise JobError("too_big", f"Messages are limited to {max_bytes} bytes.")
    try:
        message = json.loads(data.decode("utf-8", "replace"))
        if not isinstance(message, dict):
            raise ValueError
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise JobError("bad_json", 'Messages must be JSON objects, e.g. {"action": "match", ...}.') from None
    action = message.get("action")
    if action not in ACTIONS:
        raise JobError("unknown_action", f"Unknown action {str(action)[:40]!r}; use 'match' or 'resume'.")
    person_filter = PersonFilter()
    explain = message.get("explain", False)
    keys: tuple[str, ...] = ()
    if action == "match":
        if not isinstance(explain, bool):
            raise JobError("bad_explain", '"explain" is true or false.')
        keys = several_keys(message)
        try:
            chosen = {k: v for k, v in message.items() if k not in _NOT_FILTER}
            person_filter = PersonFilter.from_fields(chosen)  # a field it does not know is refused
        except Refused as exc:
            raise JobError(exc.code, exc.message) from None
    key = keys[0] if keys else message.get("key")
    return ClientMessage(
        action, key, message.get("job"), message.get("token"), person_filter, explain=explain is True, keys=keys
    )


class Conversation:
    """Handles client messages for one API, whatever carries them.

    ``reply(event)`` sends an event (its JSON) to the connection that sent the message; it must be
    synchronous with respect to the job: ``queued`` is replied before the job reaches the queue, so it
    always comes before a worker's first event.
    """

    def __init__(
        self,
        jobs: JobService,
        max_message_bytes: int,
        notifier: ConnectionNotifier | None = None,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self.jobs = jobs
        self.max_message_bytes = max_message_bytes
        self.max_event_bytes = max_event_bytes  # a larger result is pointed to (``events.deliverable``)
        self.notifier = notifier  # tells a connection its job moved to another one

    def handle(
        self, raw: str | bytes | None, connection_id: str, endpoint: str, reply: Callable[[dict[str, Any]], None]
    ) -> Job | None:
        """Act on one message; returns the job it concerned (``None`` after an error)."""

        def answer(event: Queued | Resumed | Error | Matched | Failed) -> None:
            reply(to_json(event))

        token = ""
        try:
            message = parse(raw, self.max_message_bytes)
            if message.action == "match":
                token = new_resume_token()
                job, created = self.jobs.submit(
                    message.key,
                    connection_id,
                    endpoint,
                    before_enqueue=lambda job: answer(Queued(job.id, job.key, token)),
                    token=token,
                    on_moved=self._tell_moved(),
                    person_filter=message.person_filter,
                    explain=message.explain,
                    extra_keys=message.keys[1:],
                )
                if created:
                    return job
                # The same key(s) again: a page that lost the "queued" answer, or reconnected and asked again.
            else:
                job = self.jobs.resume(message.job, connection_id, endpoint, message.token, self._tell_moved())
                token = ""  # the client has its token already
        except JobError as exc:
            answer(error_event(exc.code, exc.message))
            return None
        answer(Resumed(job.id, job.key, job.state, token))
        if job.finished:
            answer(terminal_event(job, self.max_event_bytes))
        return job

    def _tell_moved(self) -> Callable[[str, str, str], None] | None:
        notifier = self.notifier
        if notifier is None:
            return None

        def tell(job_id: str, connection: str, endpoint: str) -> None:
            notifier.send(endpoint, connection, to_json(Moved(job_id)))

        return tell
