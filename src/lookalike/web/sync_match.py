"""Synchronous ``POST /api/match``: a bounded number of calls, on a thread of their own.

The engine is one per process and matches one photo at a time, so calls queue for it.  They wait
on this module's own executor, never on the thread pool that the rest of the app (health, uploads,
job lookups, the WebSocket's messages) shares, and at most ``limit`` are admitted at once, checked
without waiting: the next gets 503 with ``Retry-After`` at once instead of a place in a long queue.
The route reads the photo before it asks for a place, so a place is held only while matching, and
``Retry-After`` is the time the admitted calls need (the running average of one match, measured
on the engine's thread, times the calls admitted): never less than the wait for a place.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from lookalike.person_filter import PersonFilter
from lookalike.service.results import PhotoResult
from lookalike.settings import Settings

if TYPE_CHECKING:
    from lookalike.service.matching import MatchService


class Busy(Exception):
    """Every place is taken; ``retry_after`` (seconds) is when one is likely free."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"busy; retry after {retry_after} s")
        self.retry_after = retry_after


class SyncMatcher:
    def __init__(self, settings: Settings, limit: int) -> None:
        self.settings = settings
        self.limit = max(1, limit)
        self.active = 0  # admitted calls: changed only on the event loop's thread
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lookalike-match")
        self.seconds = 1.0  # a running average of one match, for Retry-After
        self._service: MatchService | None = None
        self._lock = threading.Lock()

    def enter(self) -> None:
        """Take a place, or raise :class:`Busy` (never waits)."""
        if self.active >= self.limit:
            raise Busy(max(1, math.ceil(self.seconds * self.active)))
        self.active += 1

    def leave(self) -> None:
        self.active -= 1

    async def match(
        self, data: bytes, name: str, person_filter: PersonFilter | None = None, explain: bool = False
    ) -> PhotoResult:
        """The result of one photo, computed on this matcher's own thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._run, data, name, person_filter, explain)

    def _run(self, data: bytes, name: str, person_filter: PersonFilter | None, explain: bool = False) -> PhotoResult:
        from lookalike.wiring import match_service

        with self._lock:
            if self._service is None:  # loaded on first use: a server that never matches here needs no engine
                self._service = match_service(self.settings)
            start = time.perf_counter()  # the match itself: not the wait in the queue, not loading the engine
            try:
                return self._service.match_bytes(data, name=name, person_filter=person_filter, explain=explain)
            finally:
                self.seconds = 0.8 * self.seconds + 0.2 * (time.perf_counter() - start)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
