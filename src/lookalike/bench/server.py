"""A ``lookalike serve`` of its own for the web benchmarks: a fresh data directory, a free port, its memory."""

from __future__ import annotations

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

import click


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (Linux /proc); 0 where unavailable."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int((Path("/proc") / str(current) / "statm").read_text().split()[1]) * page
        todo.extend(children.get(current, []))
    return total


@dataclass(frozen=True)
class LocalServer:
    url: str
    pid: int
    home: Path

    def rss_bytes(self) -> int:
        return tree_rss_bytes(self.pid)


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
                    raise click.ClickException("the server did not start: " + server.stderr.read().decode()[-2000:])
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise click.ClickException(f"the server did not become ready in {ready_seconds:.0f} s")
                time.sleep(0.2)
            yield LocalServer(url, server.pid, Path(home))
        finally:
            server.terminate()
            try:
                server.wait(120)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
