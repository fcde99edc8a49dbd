"""Many concurrent clients doing what the page does, on loopback (``lookalike bench load``).

Each client: presign -> upload to storage -> ``match`` on its WebSocket -> wait for the result.  It
reports throughput, end-to-end latency percentiles, the overhead beyond engine time (end-to-end
minus the result's ``timings_ms.total``), errors, and the server's memory (server plus workers).
By default it starts its own server (``lookalike serve``) so that memory can be measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lookalike.bench.server import PeakRss, local_server
from lookalike.media import CONTENT_TYPES, PHOTO_SUFFIXES


@dataclass(frozen=True)
class Spread:
    """Percentiles of one measure, in ms (``None`` without a value)."""

    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class LoadReport:
    """What ``lookalike bench load`` measured; its ``to_json`` is the ``--json`` document."""

    url: str
    clients: int
    requests: int
    ok: int
    errors: dict[str, int]  # kind -> requests
    seconds: float
    throughput_per_s: float | None
    latency_ms: Spread  # end to end
    overhead_ms: Spread  # end to end minus the engine's time
    breakdown: dict[str, Spread]  # upload, queue wait, the worker beyond the engine, the engine
    server_memory_mb: float | None  # peak, server plus workers; None for a server not started here
    explain: bool = False  # the clients asked which parts agree (``breakdown["explain_ms"]``: its cost)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def one_client(
    url: str,
    photos: list[tuple[bytes, str]],
    start_index: int,
    count: int,
    results: list[dict[str, Any]],
    timeout: float,
    explain: bool = False,
) -> None:
    import httpx
    from websockets.asyncio.client import connect

    ws_url = url.replace("http://", "ws://").replace("https://", "wss://") + "/ws"
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as http:
        ws = None
        for i in range(count):
            data, content_type = photos[(start_index + i) % len(photos)]
            start = time.perf_counter()
            record: dict[str, Any] = {"ok": False}
            try:
                if ws is None:
                    ws = await connect(ws_url, max_size=2**24)
                    json.loads(await ws.recv())  # hello
                r = await http.post("/api/uploads", json={"content_type": content_type})
                if r.status_code != 201:
                    raise RuntimeError(f"presign {r.status_code}")
                presigned = r.json()
                r = await http.post(
                    presigned["url"], data=presigned["fields"], files={"file": ("photo", data, content_type)}
                )
                if r.status_code not in (200, 201, 204):
                    raise RuntimeError(f"upload {r.status_code}")
                sent = time.perf_counter()
                picked = None
                message = {"action": "match", "key": presigned["key"]} | ({"explain": True} if explain else {})
                await ws.send(json.dumps(message))
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), timeout))
                    if event["event"] == "processing" and picked is None:
                        picked = time.perf_counter()
                    if event["event"] == "matched":
                        done = time.perf_counter()
                        timings = event["result"].get("timings_ms", {})
                        engine = timings.get("total")
                        record = {
                            "ok": True,
                            "engine_ms": engine,
                            "explain_ms": timings.get("explain"),
                            "upload_ms": (sent - start) * 1000,
                            "queue_ms": ((picked or done) - sent) * 1000,
                            "worker_ms": (done - (picked or sent)) * 1000,
                        }
                        break
                    if event["event"] in ("failed", "error"):
                        record = {"ok": False, "error": f"{event['event']}:{event['error']['code']}"}
                        break
            except Exception as exc:  # counted, not raised: a load test reports failures
                record = {"ok": False, "error": type(exc).__name__ + (f": {exc}" if str(exc) else "")}
                if ws is not None:
                    with contextlib.suppress(Exception):
                        await ws.close()
                ws = None
            record["seconds"] = time.perf_counter() - start
            results.append(record)
        if ws is not None:
            await ws.close()


async def run_load(
    url: str,
    photos: list[tuple[bytes, str]],
    clients: int,
    per_client: int,
    timeout: float,
    server_pid: int | None,
    explain: bool = False,
) -> LoadReport:
    results: list[dict[str, Any]] = []
    start = time.perf_counter()
    async with PeakRss(server_pid) as peak:
        await asyncio.gather(
            *(one_client(url, photos, i * per_client, per_client, results, timeout, explain) for i in range(clients))
        )
    wall = time.perf_counter() - start
    ok = [r for r in results if r["ok"]]
    latencies = [r["seconds"] * 1000 for r in ok]
    overheads = [r["seconds"] * 1000 - r["engine_ms"] for r in ok if r.get("engine_ms") is not None]
    # Where the overhead goes: upload (presign + POST), waiting for a free worker, and the worker's
    # time beyond the engine (reading the photo, events, storing the result, the loopback hops).
    breakdown = {
        "upload_ms": spread([r["upload_ms"] for r in ok]),
        "queue_wait_ms": spread([r["queue_ms"] for r in ok]),
        "worker_beyond_engine_ms": spread([r["worker_ms"] - r["engine_ms"] for r in ok if r.get("engine_ms")]),
        "engine_ms": spread([r["engine_ms"] for r in ok if r.get("engine_ms") is not None]),
    }
    if explain:  # part of the engine's time: which parts agree, for the photos that had faces
        breakdown["explain_ms"] = spread([r["explain_ms"] for r in ok if r.get("explain_ms") is not None])
    return LoadReport(
        url=url,
        clients=clients,
        requests=len(results),
        ok=len(ok),
        errors=dict(Counter(r["error"] for r in results if not r["ok"])),
        seconds=round(wall, 2),
        throughput_per_s=round(len(ok) / wall, 2) if wall else None,
        latency_ms=spread(latencies),
        overhead_ms=spread(overheads),
        breakdown=breakdown,
        server_memory_mb=round(peak.bytes / 2**20, 1) if server_pid else None,
        explain=explain,
    )


def spread(values: list[float]) -> Spread:
    """The 50th, 95th and 99th percentiles, rounded to 0.1 ms."""
    ms = lambda v: None if v is None else round(v, 1)  # noqa: E731
    return Spread(ms(percentile(values, 50)), ms(percentile(values, 95)), ms(percentile(values, 99)))


def load_photos(folder: Path, limit: int) -> list[tuple[bytes, str]]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())[:limit]
    return [(p.read_bytes(), CONTENT_TYPES[p.suffix.lower()]) for p in files]


def load_test(
    photos: list[tuple[bytes, str]],
    clients: int,
    per_client: int,
    timeout: float,
    *,
    url: str | None = None,
    gallery: Path | None = None,
    workers: int | None = None,
    explain: bool = False,
) -> LoadReport:
    """``clients`` concurrent clients each matching ``per_client`` of ``photos``, against the server at
    ``url``, else against a ``lookalike serve`` started here (with ``gallery`` and ``workers``), whose
    memory is then measured too."""
    if url is not None:
        return asyncio.run(run_load(url.rstrip("/"), photos, clients, per_client, timeout, None, explain))
    # All its clients come from one address: lift the per-address limits meant for the public.
    env = {
        "LOOKALIKE_RATE_LIMIT_PER_MINUTE": "1000000",
        "LOOKALIKE_WS_MAX_PER_CLIENT": str(clients + 1),
        "LOOKALIKE_HTTP_MAX_PER_CLIENT": "0",
    }
    if gallery is not None:
        env["LOOKALIKE_GALLERY"] = str(gallery)
    if workers is not None:
        env["LOOKALIKE_WORKERS"] = str(workers)
    with local_server(env) as server:
        return asyncio.run(run_load(server.url, photos, clients, per_client, timeout, server.pid, explain))
