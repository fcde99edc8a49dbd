"""The server's Prometheus metrics (``GET /metrics``): queue, workers, job latency and outcomes, refusals."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from lookalike.service.events import TERMINAL_EVENTS
from lookalike.service.results import PhotoResult

if TYPE_CHECKING:
    from lookalike.adapters.sqlite_queue import SqliteQueue

#: What ``GET /metrics`` answers with.
MEDIA_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """One registry per app.  A job's latency runs from its ``queued`` event to its first terminal one."""

    def __init__(self, queue: SqliteQueue, workers_ready: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        depth = Gauge("lookalike_queue_depth", "Jobs waiting or being processed.", registry=self.registry)
        depth.set_function(queue.depth)
        dead = Gauge("lookalike_queue_dead_letters", "Jobs in the dead-letter table.", registry=self.registry)
        dead.set_function(queue.dead_letter_count)
        workers = Gauge("lookalike_workers_ready", "Worker processes ready.", registry=self.registry)
        workers.set_function(workers_ready)
        self.latency = Histogram(
            "lookalike_job_seconds",
            "Seconds from a photo submitted to its result.",
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
            registry=self.registry,
        )
        self.jobs = Counter("lookalike_jobs_total", "Jobs finished, by outcome.", ["outcome"], registry=self.registry)
        self.failures = Counter(
            "lookalike_job_failures_total", "Failed jobs and matches, by reason.", ["code"], registry=self.registry
        )
        self.refused = Counter(
            "lookalike_refused_total", "Requests refused, by reason.", ["code"], registry=self.registry
        )
        self.refused.labels("forbidden_origin")  # shown (as 0) from the start, as before any refusal
        self.submitted: dict[str, float] = {}  # job id -> when its "queued" went out (monotonic)

    def refusal(self, code: str) -> None:
        self.refused.labels(code).inc()

    def queued(self, job_id: str) -> None:
        self.submitted[job_id] = time.monotonic()

    def finished(self, event: dict[str, Any]) -> None:
        """Count a worker's event: a terminal one of a job queued here ends its latency, once."""
        job_id = str(event.get("job", ""))
        if event.get("event") not in TERMINAL_EVENTS or job_id not in self.submitted:
            return
        self.latency.observe(time.monotonic() - self.submitted.pop(job_id))
        if event["event"] == "matched":
            self.jobs.labels("matched").inc()
        else:
            self.jobs.labels("failed").inc()
            self.failures.labels((event.get("error") or {}).get("code", "failed")).inc()

    def matched_now(self, result: PhotoResult, seconds: float) -> None:
        """Count a synchronous match (``POST /api/match``) and its result."""
        self.latency.observe(seconds)
        if result.error:
            self.failures.labels(result.error.code).inc()
        else:
            self.jobs.labels("matched").inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
