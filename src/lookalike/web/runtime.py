"""Wiring of the embedded profile (one machine), and the worker processes.

Everything lives under ``settings.home``: ``uploads/`` (photos waiting for a worker), ``queue.sqlite``,
``jobs.sqlite`` and ``secret``.  Workers are separate processes (``spawn``: no state shared by
accident with the API process), each holding one :class:`MatchService`.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lookalike.adapters.local_storage import LocalStorage, load_secret
from lookalike.adapters.notifiers import HttpNotifier, internal_token
from lookalike.adapters.sqlite_jobs import SqliteJobStore
from lookalike.adapters.sqlite_queue import SqliteQueue
from lookalike.settings import Settings

if TYPE_CHECKING:
    from lookalike.service.worker import WorkerLoop

log = logging.getLogger(__name__)


@dataclass
class Embedded:
    settings: Settings
    secret: bytes
    storage: LocalStorage
    queue: SqliteQueue
    jobs: SqliteJobStore

    @classmethod
    def open(cls, settings: Settings, channel: str = "") -> Embedded:
        """The embedded adapters under ``settings.home``; ``channel`` is this server's own queue in the
        shared file (its URL), so that servers sharing a home never take each other's jobs."""
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


def build_worker_loop(
    settings: Settings, api_url: str | None = None, heartbeat: Callable[[], None] | None = None
) -> WorkerLoop:
    """The worker loop over the chosen profile's adapters: one wiring for `lookalike serve`'s worker
    processes and for `lookalike worker`.  Embedded: the queue channel of the server at ``api_url``
    (default: the one this host and port name); AWS: SQS, S3, DynamoDB and API Gateway."""
    from lookalike.service.jobs import JobProcessor
    from lookalike.service.matching import MatchService
    from lookalike.service.worker import WorkerLoop

    if settings.profile == "aws":
        from lookalike.adapters.aws import AwsPorts

        aws = AwsPorts.from_settings(settings)
        assert aws.storage is not None and aws.queue is not None and aws.jobs is not None
        storage, queue, jobs, notifier = aws.storage, aws.queue, aws.jobs, aws.notifier
        wait = 10.0  # SQS long polling; short enough that a stop is not kept waiting long
    elif settings.profile == "embedded":
        endpoint = api_url or api_url_for(settings)
        env = Embedded.open(settings, channel=endpoint)
        storage, queue, jobs = env.storage, env.queue, env.jobs
        notifier = HttpNotifier(endpoint, internal_token(env.secret))
        wait = 0.5
    else:
        from lookalike.adapters.aws import ConfigurationError

        raise ConfigurationError(f"LOOKALIKE_PROFILE={settings.profile!r}: use 'embedded' or 'aws'.")
    processor = JobProcessor(
        storage,
        queue,
        jobs,
        notifier,
        MatchService(settings).match_bytes,
        pause_seconds=settings.worker_pause_seconds,
        thumbnails=settings.thumbnail_url,
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
