"""The server's background chores: sweeping photos that no job will take."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.concurrency import run_in_threadpool

from lookalike.settings import Settings


def sweep_interval(settings: Settings) -> float:
    """Often enough that a photo never submitted goes soon after its presign expires; at most a minute."""
    return max(1.0, min(60.0, settings.upload_expires_seconds / 2))


async def sweep_uploads(env: Any, settings: Settings) -> None:
    """Run for the server's life: delete uploads whose presign expired with no job (and very old files)."""

    def taken(key: str) -> bool:
        return env.jobs.by_key(key) is not None

    while True:
        await run_in_threadpool(env.storage.sweep, settings.job_ttl_seconds, taken)
        await asyncio.sleep(sweep_interval(settings))
