"""What runs for the server's life: its worker processes (started, replaced when they die, stopped) and
the sweep of photos that no job will take; and what is closed when it ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.concurrency import run_in_threadpool

from lookalike.service.ports import JobStore
from lookalike.settings import Settings
from lookalike.web.state import WebState
from lookalike.web.worker_pool import WorkerPool

SUPERVISE_SECONDS = 0.5  # how often dead worker processes are looked for


def sweep_interval(settings: Settings) -> float:
    """Often enough that a photo never submitted goes soon after its presign expires; at most a minute."""
    return max(1.0, min(60.0, settings.upload_expires_seconds / 2))


def taken_by_a_job(jobs: JobStore) -> Callable[[str], bool]:
    """Whether a job holds an upload (any of its keys: a match of several photos holds them all), so the
    sweep leaves it for the job, which deletes it when it finishes."""

    def taken(key: str) -> bool:
        return jobs.by_key(key) is not None

    return taken


async def sweep_uploads(env: Any, settings: Settings) -> None:
    """Run for the server's life: delete uploads whose presign expired with no job (and very old files)."""
    taken = taken_by_a_job(env.jobs)
    while True:
        await run_in_threadpool(env.storage.sweep, settings.job_ttl_seconds, taken)
        await asyncio.sleep(sweep_interval(settings))


async def supervise(pool: WorkerPool) -> None:
    """Run for the server's life: replace worker processes that died."""
    while True:
        await asyncio.sleep(SUPERVISE_SECONDS)
        pool.check()


def lifespan(web: WebState) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """The app's lifespan (FastAPI's ``lifespan=``) over what ``web`` holds."""

    @contextlib.asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        pool = web.pool
        supervisor = None
        if pool is not None:
            pool.start()
            supervisor = asyncio.create_task(supervise(pool))
        sweeper = asyncio.create_task(sweep_uploads(web.env, web.settings))  # uploads never submitted
        try:
            yield
        finally:
            sweeper.cancel()
            if supervisor is not None:
                supervisor.cancel()
            if pool is not None:
                await run_in_threadpool(pool.stop)
            web.close()

    return run
