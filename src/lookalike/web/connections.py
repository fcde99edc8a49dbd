"""The WebSocket connections this process holds: delivery of events to them, a cap per client, and
an idle timeout.

Idle means: no message from the client for ``idle_seconds`` *and* no job of this connection still
waiting for its result.  A page waiting for a slow job sends nothing, and must not be cut off: its
connection counts as busy while a job it submitted or resumed has had no ``matched``/``failed`` (up to
``busy_limit_seconds`` after its last message, so that a job that never ends does not pin the socket
for ever).  An idle connection is closed with code 4408 and the reason ``idle``; the page connects
again when it has something to send.  Dead peers are found by uvicorn's WebSocket pings.

A socket that goes on sending after it was refused for the rate limit is closed: past
``MAX_REFUSALS`` refusals within ``REFUSAL_WINDOW_SECONDS`` it gets no more answers, only a close
(1008, reason ``rate_limited``), so that a flood of messages costs the server a few answers, not one
answer per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from lookalike.documents import to_json
from lookalike.service.events import TERMINAL_EVENTS, error_event

IDLE_CLOSE_CODE = 4408  # "request timeout", in the range RFC 6455 leaves to applications
TOO_MANY_CLOSE_CODE = 1008  # policy violation
RATE_LIMITED_CLOSE_CODE = 1008
MAX_REFUSALS = 10  # rate-limit refusals answered per socket within the window; the next closes it
REFUSAL_WINDOW_SECONDS = 60.0


@dataclass
class Connection:
    websocket: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    finished_jobs: set[str] = field(default_factory=set)
    pending_jobs: set[str] = field(default_factory=set)  # submitted or resumed here, no result yet
    last_message: float = field(default_factory=time.monotonic)
    refusals: deque[float] = field(default_factory=deque)  # when its recent rate-limit refusals were

    def refused(self, now: float) -> bool:
        """Count a rate-limit refusal: True if it is to be answered, False if the socket is to be closed
        (more than ``MAX_REFUSALS`` within ``REFUSAL_WINDOW_SECONDS``)."""
        while self.refusals and now - self.refusals[0] > REFUSAL_WINDOW_SECONDS:
            self.refusals.popleft()
        self.refusals.append(now)
        return len(self.refusals) <= MAX_REFUSALS

    async def send(self, event: dict[str, Any]) -> bool:
        """Send an event (the caller holds :attr:`lock`): at most one terminal event per job, however
        many times a redelivered job is finished by workers.  False if the socket closed under us."""
        if event.get("event") in TERMINAL_EVENTS:
            job_id = str(event.get("job", ""))
            if job_id in self.finished_jobs:
                return True  # already told: a redelivered job's second result is dropped here
            self.finished_jobs.add(job_id)
        self.note(event)
        try:
            await self.websocket.send_json(event)
        except Exception:  # closed under us (the exception type depends on the server's WS library)
            return False
        return True

    def note(self, event: dict[str, Any]) -> None:
        """Keep ``pending_jobs`` up to date with an event about to be sent here."""
        name, job_id = event.get("event"), str(event.get("job", ""))
        if name in ("queued", "resumed") and event.get("state") not in ("done", "failed"):
            self.pending_jobs.add(job_id)
        elif name in TERMINAL_EVENTS or name == "moved":
            self.pending_jobs.discard(job_id)

    def idle_for(self, now: float, busy_limit: float) -> float:
        """Seconds this connection has been idle (0 while a job of its is pending, within the limit)."""
        quiet = now - self.last_message
        return 0.0 if self.pending_jobs and quiet < busy_limit else quiet


class Hub:
    """The WebSocket connections this process holds, and delivery of workers' events to them."""

    def __init__(self) -> None:
        self.connections: dict[str, Connection] = {}
        self.follow: dict[str, str] = {}  # job id -> the connection that resumed it

    def add(self, connection_id: str, conn: Connection) -> None:
        self.connections[connection_id] = conn

    def resumed_by(self, job_id: str, connection_id: str) -> None:
        """Workers' events of ``job_id`` go to ``connection_id`` from now on (the job was resumed there)."""
        self.follow[job_id] = connection_id

    def remove(self, connection_id: str) -> None:
        """Forget a closed connection, and the jobs it followed."""
        self.connections.pop(connection_id, None)
        for job_id in [j for j, c in self.follow.items() if c == connection_id]:
            self.follow.pop(job_id, None)

    async def deliver(self, connection_id: str, event: dict[str, Any]) -> bool:
        """Send a worker's event to its connection (or the one that resumed the job); False if gone."""
        job_id = str(event.get("job", ""))
        target = connection_id if event.get("event") == "moved" else self.follow.get(job_id, connection_id)
        conn = self.connections.get(target)
        if conn is None:
            return False
        async with conn.lock:
            return await conn.send(event)


class SocketLimits:
    """Open WebSockets per client address (in this process), and the idle timeout."""

    def __init__(self, max_per_client: int, idle_seconds: float, busy_limit_seconds: float) -> None:
        self.max_per_client = max_per_client
        self.idle_seconds = idle_seconds
        self.busy_limit_seconds = max(busy_limit_seconds, idle_seconds)
        self.open: Counter[str] = Counter()

    def admit(self, client: str) -> bool:
        """Count a new connection of ``client``; False (and not counted) if it has its share open."""
        if self.max_per_client > 0 and self.open[client] >= self.max_per_client:
            return False
        self.open[client] += 1
        return True

    def leave(self, client: str) -> None:
        self.open[client] -= 1
        if self.open[client] <= 0:
            del self.open[client]

    async def refuse(self, websocket: Any) -> None:
        """Tell an accepted connection over the cap why, and close it."""
        with contextlib.suppress(Exception):  # gone already
            await websocket.send_json(
                to_json(error_event("too_many_connections", "Too many open connections from your address."))
            )
            await websocket.close(code=TOO_MANY_CLOSE_CODE, reason="too many connections")

    async def close_rate_limited(self, conn: Connection) -> None:
        """Close a socket that kept sending after its refusals (no answer to its last message)."""
        with contextlib.suppress(Exception):  # closed already
            await conn.websocket.close(code=RATE_LIMITED_CLOSE_CODE, reason="rate_limited")

    async def close_when_idle(self, conn: Connection) -> None:
        """Run for the connection's life: close it once idle (see the module docstring)."""
        if self.idle_seconds <= 0:
            return
        tick = max(0.05, min(1.0, self.idle_seconds / 4))
        while True:
            await asyncio.sleep(tick)
            if conn.idle_for(time.monotonic(), self.busy_limit_seconds) >= self.idle_seconds:
                with contextlib.suppress(Exception):  # closed already
                    await conn.websocket.close(code=IDLE_CLOSE_CODE, reason="idle")
                return
