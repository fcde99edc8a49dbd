"""The worker loop, the same in a worker process of ``lookalike serve`` and in a ``lookalike worker`` container.

Receive a job, keep it hidden from other workers while it runs (a slow photo must not be handed to a
second worker), process it, and between jobs turn dead letters into ``failed`` events.  A job has a
hard time limit: past it the job fails as ``too_slow`` and its message is deleted (never retried); the
computation still running finds the job finished and its late result is dropped.  A stop request
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
    """While a job runs, keep its message hidden and its worker's heartbeat going, up to the job limit.

    Every ``every`` seconds (a third of the visibility timeout, or ``beat_every`` if that is shorter) it
    beats the heartbeat (``heartbeat``: a worker busy with one slow photo is alive) and, once a third of
    the visibility timeout has passed since the last extension, pushes the message's visibility
    ``timeout`` seconds forward: the message never comes back while the job runs.  At ``limit`` seconds
    it calls ``on_limit`` (the worker loop fails the job as too slow and deletes the message) and stops,
    heartbeat included: a worker stuck past the limit is not healthy.  Without ``on_limit`` the message
    is let go and comes back for another worker when its visibility runs out.

    With ``on_stuck``, a job still running ``stuck_grace`` seconds after its limit calls it (a worker
    process of ``lookalike serve`` exits, and its supervisor starts a fresh one: a photo that never ends
    costs one worker for the limit and the grace, not for ever).

    ``clock`` and ``wait`` (wait up to the given seconds; True once the job has ended) are injectable so
    that a test can run the schedule on a fake clock (:meth:`keep`, without the thread).
    """

    def __init__(
        self,
        queue: JobQueue,
        message: Message,
        timeout: float,
        limit: float,
        heartbeat: Callable[[], None] = lambda: None,
        on_limit: Callable[[], None] | None = None,
        beat_every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
        on_stuck: Callable[[], None] | None = None,
        stuck_grace: float = 10.0,
    ) -> None:
        self.queue, self.message, self.timeout, self.limit = queue, message, timeout, limit
        self.heartbeat, self.on_limit = heartbeat, on_limit
        self.on_stuck, self.stuck_grace = on_stuck, stuck_grace
        self.extend_every = timeout / 3
        self.every = max(0.05, min(self.extend_every, beat_every or self.extend_every))
        self.clock = clock
        self._done = threading.Event()
        self._wait = wait or self._done.wait
        self._thread = threading.Thread(target=self.keep, name="visibility", daemon=True)
        self.extensions = 0
        self.timed_out = False

    def keep(self) -> None:
        """The schedule (run by the thread): tick until the job ends or its limit is reached."""
        start = last_extended = self.clock()
        while not self._wait(max(0.0, min(self.every, start + self.limit - self.clock()))):
            now = self.clock()
            if now - start >= self.limit:
                self._give_up(now - start)
                if self.on_stuck is not None and not self._wait(self.stuck_grace):
                    log.error("job %s did not end %.0f s after its limit", self.message.id, self.stuck_grace)
                    self.on_stuck()
                return
            self.heartbeat()
            if now - last_extended >= self.extend_every * 0.999 and self._extend():
                last_extended = now

    def _extend(self) -> bool:
        try:
            self.queue.extend(self.message.receipt, self.timeout)
        except Exception as exc:  # the queue is unreachable for a moment: try again next tick
            log.warning("could not extend visibility of %s: %s", self.message.id, exc)
            return False
        self.extensions += 1
        return True

    def _give_up(self, elapsed: float) -> None:
        self.timed_out = True
        log.warning("job %s still running after %.0f s (limit %.0f s)", self.message.id, elapsed, self.limit)
        if self.on_limit is None:
            return
        try:
            self.on_limit()
        except Exception:  # the job store is unreachable: the message comes back when its visibility ends
            log.exception("could not fail job %s at its time limit", self.message.id)

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
    job_timeout: float = 60.0  # a job running longer fails as ``too_slow`` (its message is deleted)
    wait_seconds: float = 1.0  # long-poll wait per receive
    heartbeat: Callable[[], None] = field(default=lambda: None)  # "I am alive and not stuck"
    heartbeat_every: float | None = None  # beat at least this often during a job (None: with each extension)
    on_stuck: Callable[[], None] | None = None  # a job still running 10 s past its limit (serve's workers exit)
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
        keeper = VisibilityKeeper(
            self.queue,
            message,
            self.visibility_timeout,
            self.job_timeout,
            heartbeat=self.heartbeat,
            on_limit=lambda: self.processor.time_out(message, self.job_timeout),
            beat_every=self.heartbeat_every,
            on_stuck=self.on_stuck,
        )
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
