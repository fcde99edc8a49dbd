"""Run a per-photo function on every core, each process holding its own :class:`FaceEngine`.

dlib holds the GIL, so threads do not help; processes do.  ``spawn`` keeps the
children free of the parent's open files and threads.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from lookalike.engine.engine import FaceEngine
from lookalike.settings import Settings

T = TypeVar("T")
R = TypeVar("R")

_engine: FaceEngine | None = None


def worker_engine() -> FaceEngine:
    """The engine of the current worker process (created by the pool's initializer)."""
    assert _engine is not None, "called outside map_with_engine"
    return _engine


def single_threaded_blas() -> None:
    """One BLAS thread per process: with one worker process per core, more threads only fight."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _init(settings: Settings, single_thread: bool = True) -> None:
    global _engine
    if single_thread:
        single_threaded_blas()
    _engine = FaceEngine(settings)


def map_with_engine(
    fn: Callable[[T], R], items: Iterable[T], settings: Settings, workers: int | None = None
) -> Iterator[R]:
    """Yield ``fn(item)`` for each item, in completion order; ``fn`` calls :func:`worker_engine`."""
    items = list(items)
    workers = workers or os.cpu_count() or 1
    if not items:
        return
    if workers == 1 or len(items) < 4:
        _init(settings, single_thread=False)
        yield from map(fn, items)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(min(workers, len(items)), initializer=_init, initargs=(settings,)) as pool:
        yield from pool.imap_unordered(fn, items, chunksize=4)
