"""The worker processes of ``lookalike serve``: started, supervised, replaced and stopped.

Workers are separate processes (``spawn``: no state shared by accident with the API process), each
running the worker loop that :func:`lookalike.wiring.build_worker_loop` builds.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from typing import Any

from lookalike.settings import Settings
from lookalike.wiring import Embedded, build_worker_loop, worker_count

log = logging.getLogger(__name__)


def worker_main(settings: Settings, api_url: str, ready: Any = None) -> None:
    """One worker process of ``lookalike serve``: the shared worker loop, until SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    if worker_count(settings) > 1:
        from lookalike.engine.parallel import single_threaded_blas

        single_threaded_blas()
    loop = build_worker_loop(settings, api_url)
    loop.on_stuck = lambda: os._exit(STUCK_EXIT_CODE)  # the pool starts a fresh worker in its place
    signal.signal(signal.SIGTERM, lambda *_: loop.stop())
    if ready is not None:
        ready.set()
    loop.run()


#: A worker of ``lookalike serve`` whose job did not end after its time limit exits with this (and is replaced).
STUCK_EXIT_CODE = 75

#: How much longer than the job limit a stopping worker is given to end (its last result and events).
STOP_MARGIN_SECONDS = 10.0


class WorkerPool:
    """Starts N worker processes and restarts any that dies (a crash costs one delivery, not a worker).

    The job a dead worker was holding is handed back to the queue at once (its visibility timeout is not
    waited for); stopping lets each worker finish its job, up to the job limit and a margin."""

    def __init__(self, settings: Settings, api_url: str, count: int | None = None, env: Embedded | None = None) -> None:
        self.settings = settings
        self.api_url = api_url
        self.count = worker_count(settings) if count is None else count
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[Any] = []
        self.restarts = 0
        self.released = 0  # jobs of dead workers handed back at once
        self._env = env

    def _start_one(self) -> Any:
        ready = self.context.Event()
        process = self.context.Process(
            target=worker_main, args=(self.settings, self.api_url, ready), name="lookalike-worker", daemon=True
        )
        process.start()
        process.ready = ready
        process.started_at = time.monotonic()
        process.mourned = False
        return process

    def start(self) -> None:
        self.processes = [self._start_one() for _ in range(self.count)]

    def wait_ready(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        return all(p.ready.wait(max(0.0, deadline - time.monotonic())) for p in self.processes)

    def ready_count(self) -> int:
        return sum(1 for p in self.processes if p.is_alive() and p.ready.is_set())

    def check(self) -> None:
        """Hand back the jobs of dead workers at once, and replace the workers (at most one start per slot
        every 2 s, so a worker that cannot start does not spin)."""
        now = time.monotonic()
        for i, process in enumerate(self.processes):
            if process.is_alive():
                continue
            if not process.mourned:
                process.mourned = True
                self.release_jobs_of(process.pid)
            if now - process.started_at >= 2.0:
                log.warning("worker %s exited with %s; starting another", process.pid, process.exitcode)
                self.restarts += 1
                self.processes[i] = self._start_one()

    def release_jobs_of(self, pid: int | None) -> int:
        """Make the messages of the jobs worker ``pid`` was processing visible again now; how many."""
        if pid is None:
            return 0
        if self._env is None:
            self._env = Embedded.open(self.settings, channel=self.api_url)
        count = 0
        try:
            for job in self._env.jobs.processing_by(pid):
                if self._env.queue.release_job(job.id):
                    log.warning("worker %s died during job %s: handed back to the queue", pid, job.id)
                    count += 1
        except Exception:  # the files are busy or gone: the visibility timeout brings the job back anyway
            log.exception("could not hand back the jobs of worker %s", pid)
        self.released += count
        return count

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM every worker: each finishes the job it holds (a job ends by its limit, so by default
        wait that long and a margin) and exits; one still running then is killed."""
        if timeout is None:
            timeout = self.settings.job_timeout_seconds + STOP_MARGIN_SECONDS
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("worker %s did not stop within %.0f s; killing it", process.pid, timeout)
                process.kill()
                process.join(1)
