"""The worker loop, the same in a worker process of ``lookalike serve`` and in a ``lookalike worker`` container.

Receive a job, keep it hidden from other workers while it runs (a slow photo must not be handed to a
second worker), process it, and between jobs turn dead letters into ``failed`` events.  A stop request
(SIGTERM from ECS or from the server) lets the current job finish; a message received after the stop
was asked for is released at once, so another worker takes it: nothing is lost either way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lookalike.service.jobs import JobProcessor
from lookalike.service.ports import JobQueue, Message

log = logging.getLogger(__name__)


class VisibilityKeeper:
    """While a job runs, push its message's visibility timeout forward every ``every`` seconds, for at
    most ``limit`` seconds (a job stuck longer is given up: the message comes back for another worker)."""

    def __init__(
        self,
        queue: JobQueue,
        message: Message,
        timeout: float,
        limit: float,
        on_extend: Callable[[], None] = lambda: None,
    ) -> None:
        self.queue, self.message, self.timeout, self.limit = queue, message, timeout, limit
        self.on_extend = on_extend  # a long job is still a live worker: its heartbeat goes on
        self.every = max(0.05, timeout / 3)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility", daemon=True)
        self.extensions = 0

    def _run(self) -> None:
        start = time.monotonic()
        while not self._done.wait(self.every):
            if time.monotonic() - start > self.limit:
                log.warning("job %s still running after %.0f s; letting it go", self.message.id, self.limit)
                return
            try:
                self.queue.extend(self.message.receipt, self.timeout)
                self.extensions += 1
                self.on_extend()
            except Exception as exc:  # the queue is unreachable for a moment: try again next tick
                log.warning("could not extend visibility of %s: %s", self.message.id, exc)

    def __enter__(self) -> VisibilityKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


@dataclass
class WorkerLoop:
    processor: JobProcessor
    queue: JobQueue
    visibility_timeout: float = 60.0
    job_timeout: float = 60.0  # extend visibility for at most this long
    wait_seconds: float = 1.0  # long-poll wait per receive
    heartbeat: Callable[[], None] = field(default=lambda: None)  # "I am alive and not stuck"
    stopping: threading.Event = field(default_factory=threading.Event)
    processed: int = 0

    def stop(self) -> None:
        """Ask the loop to end after the current job (safe from a signal handler)."""
        self.stopping.set()

    def run_once(self) -> bool:
        """Receive and process at most one job; False when there was none."""
        message = self.queue.receive(wait_seconds=self.wait_seconds)
        if message is None:
            for body in self.queue.take_dead_letters():
                self.processor.fail_dead_letter(body)
            return False
        if self.stopping.is_set():  # asked to stop while waiting: hand it back untouched
            self.queue.release(message.receipt)
            return False
        keeper = VisibilityKeeper(self.queue, message, self.visibility_timeout, self.job_timeout, self.heartbeat)
        with keeper:
            self.processor.process(message)
        self.processed += 1
        return True

    def run(self) -> None:
        while not self.stopping.is_set():
            self.heartbeat()
            try:
                self.run_once()
            except Exception:  # a bug in one job must not kill the worker; the message will be redelivered
                log.exception("worker error")
                time.sleep(0.5)
        self.heartbeat()
