"""A ``lookalike serve`` of its own for the web benchmarks: a fresh data directory, a free port, its memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lookalike.bench import BenchError


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all held open together, so none repeats)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


def free_port() -> int:
    """A free loopback port (for a server of the benchmarks or the tests)."""
    return free_ports(1)[0]


def _proc_stats() -> dict[int, list[str]]:
    """Each process's ``/proc/<pid>/stat`` fields after its name (Linux); empty elsewhere."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError, ValueError):
            continue
    return stats


def process_tree(pids: list[int], stats: dict[int, list[str]]) -> list[int]:
    """These processes and all their descendants (field 1 of ``stat`` is the parent's pid)."""
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    tree, todo = [], list(pids)
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (Linux /proc); 0 where unavailable."""
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    total = 0
    for current in process_tree([pid], _proc_stats()):
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int((Path("/proc") / str(current) / "statm").read_text().split()[1]) * page
    return total


def tree_cpu_seconds(pids: list[int]) -> float | None:
    """CPU time (user + system) of these processes and all their descendants, including children that
    have exited and were waited for; Linux (/proc) only, else None."""
    if not pids or not Path("/proc/self/stat").exists():
        return None
    stats = _proc_stats()
    total = 0
    for pid in process_tree(pids, stats):
        fields = stats.get(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
            total += int(fields[13]) + int(fields[14])  # its children that have exited (theirs included)
    return total / os.sysconf("SC_CLK_TCK")


class PeakRss:
    """``async with PeakRss(pid) as peak:``, the peak resident memory of ``pid``'s process tree meanwhile,
    sampled every ``every`` seconds (``peak.bytes``; ``peak.start``: at the start)."""

    def __init__(self, pid: int | None, every: float = 0.5) -> None:
        self.pid, self.every = pid, every
        self.start = self.bytes = tree_rss_bytes(pid) if pid else 0
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while self.pid and not self._done.is_set():
            self.bytes = max(self.bytes, tree_rss_bytes(self.pid))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), self.every)

    async def __aenter__(self) -> PeakRss:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._done.set()
        if self._task is not None:
            await self._task


@dataclass(frozen=True)
class LocalServer:
    url: str
    pid: int
    home: Path


@contextlib.contextmanager
def local_server(env: dict[str, str], ready_seconds: float = 120.0) -> Iterator[LocalServer]:
    """Start ``lookalike serve`` on a free loopback port with a fresh home (plus ``env``); stop it after."""
    import httpx

    with tempfile.TemporaryDirectory(prefix="lookalike-bench-") as home:
        port = free_port()
        full_env = {
            **os.environ,
            "LOOKALIKE_HOME": home,
            "LOOKALIKE_PORT": str(port),
            "LOOKALIKE_HOST": "127.0.0.1",
            **env,
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "lookalike", "serve"],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + ready_seconds
            while True:
                if server.poll() is not None:
                    raise BenchError("the server did not start: " + server.stderr.read().decode()[-2000:])
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise BenchError(f"the server did not become ready in {ready_seconds:.0f} s")
                time.sleep(0.2)
            yield LocalServer(url, server.pid, Path(home))
        finally:
            server.terminate()
            try:
                server.wait(120)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
