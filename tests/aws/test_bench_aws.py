"""``lookalike bench aws``: a small real run (its own ministack, real workers, the page's flow), and its
duplicate counting against a server that answers some jobs twice."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lookalike.bench.aws import Photo, run_phase
from lookalike.bench.emulated_aws.emulator import find_program
from lookalike.bench.server import free_port


@pytest.mark.data
def test_a_small_run_answers_every_job_once_and_leaves_nothing(small_gallery: Path, data: Path, tmp_path: Path) -> None:
    if find_program("ministack") is None:
        pytest.skip("ministack not found: install the ministack package (a dev dependency)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOOKALIKE_"))}
    env |= {"LOOKALIKE_DATA_DIR": str(data), "LOOKALIKE_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "lookalike", "bench", "aws", "--workers", "1,2", "--jobs", "10"]
    command += ["--clients", "4", "--warmup", "2", "--gallery", str(small_gallery), "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    report = json.loads(done.stdout)
    assert report["emulator"].startswith("ministack") and report["endpoint"].startswith("http://127.0.0.1:")
    assert report["gallery"]["faces"] >= 100 and report["photos"] >= 4
    runs = report["runs"]
    assert [run["workers"] for run in runs] == [1, 2]
    for run in runs:
        assert run["jobs"] == run["sent"] == run["results"] == run["matched"] == 10, run
        assert (run["errors"], run["failed"], run["duplicates"]) == (0, 0, 0), run
        assert (run["photos_left"], run["messages_left"], run["dead_letters"]) == (0, 0, 0), run
        assert run["warmup"] == {"jobs": 2, "results": 2, "errors": 0, "duplicates": 0}
        assert run["throughput_per_s"] > 0 and run["seconds"] > 0
        latency = run["latency_ms"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["max"]
        assert 0 < run["after_match_ms"]["p50"] <= latency["p50"]
        assert len(run["load_average"]) == 2
        if Path("/proc/self/stat").exists():  # CPU time is read from /proc
            assert run["cpu_seconds"]["workers"] > 0 and run["cpu_seconds"]["emulator"] > 0, run
    assert runs[0]["faces"] == runs[1]["faces"] >= 10  # the same photos, so the same work, in each run
    assert "2 workers: healthy" in done.stderr  # progress is shown while it runs


# -- duplicate counting, against a stand-in that answers every third job twice -------------------


def stand_in(twice: set[int]) -> Any:
    """The client-facing surface of the stack: presign, the upload, and a WebSocket answering ``match``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    counter = iter(range(10**6))

    async def presign(request: Request) -> Response:
        key = f"uploads/{uuid.uuid4()}"
        url = f"{request.base_url}upload"
        return JSONResponse({"url": url, "fields": {"key": key}, "key": key}, status_code=201)

    async def upload(request: Request) -> Response:
        await request.form()
        return Response(status_code=204)

    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                message = json.loads(await ws.receive_text())
                n = next(counter)
                job = f"job-{n}"
                await ws.send_json({"event": "queued", "job": job, "key": message["key"]})
                matched = {"event": "matched", "job": job, "result": {"faces_found": 1}}
                await ws.send_json(matched)
                if n in twice:
                    await ws.send_json(matched)
        except Exception:
            return

    return Starlette(
        routes=[
            Route("/api/uploads", presign, methods=["POST"]),
            Route("/upload", upload, methods=["POST"]),
            WebSocketRoute("/ws", socket),
        ]
    )


@pytest.fixture
def answering_twice() -> Iterator[tuple[str, set[int]]]:
    import uvicorn

    twice = {0, 3, 6, 9}
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(stand_in(twice), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the stand-in did not start"
        time.sleep(0.05)
    yield f"127.0.0.1:{port}", twice
    server.should_exit = True
    thread.join(10)


def test_a_job_answered_twice_is_counted_once_as_a_duplicate(answering_twice: tuple[str, set[int]]) -> None:
    address, twice = answering_twice
    stack = SimpleNamespace(http_url=f"http://{address}", websocket_url=f"ws://{address}/ws")
    photos = [Photo("a.jpg", b"not really a photo", "image/jpeg")]

    async def settle() -> dict[str, int]:
        return {"photos": 0, "messages": 0, "dead_letters": 0}

    phase, wall, left = asyncio.run(run_phase(stack, photos, 12, 3, 10.0, settle, lambda done: None))
    assert phase.sent == 12 and [o.state for o in phase.outcomes] == ["matched"] * 12
    assert sum(1 for n in phase.terminals.values() if n > 1) == len(twice)
    assert sum(phase.terminals.values()) == 12 + len(twice)
    assert wall > 0 and left == {"photos": 0, "messages": 0, "dead_letters": 0}
