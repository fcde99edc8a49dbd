"""Benchmarks that print numbers: engine latency (vs face_recognition), search at scale, the web app under load.

These are libraries: each returns what it measured (dataclasses, or rows of numbers) and prints nothing;
the ``lookalike bench`` commands in ``lookalike.cli`` turn them into tables and JSON.
"""

from __future__ import annotations

from lookalike.errors import LookalikeError


class BenchError(LookalikeError):
    """A benchmark could not run: the server it started, or a worker, did not come up."""

    code = "bench_failed"
