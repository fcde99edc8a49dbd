"""``lookalike bench load``: many concurrent clients doing what the page does, on loopback.

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
from pathlib import Path
from typing import Any

import click

from lookalike.bench.server import PeakRss, local_server
from lookalike.media import CONTENT_TYPES, PHOTO_SUFFIXES


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
                await ws.send(json.dumps({"action": "match", "key": presigned["key"]}))
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), timeout))
                    if event["event"] == "processing" and picked is None:
                        picked = time.perf_counter()
                    if event["event"] == "matched":
                        done = time.perf_counter()
                        engine = event["result"].get("timings_ms", {}).get("total")
                        record = {
                            "ok": True,
                            "engine_ms": engine,
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
    url: str, photos: list[tuple[bytes, str]], clients: int, per_client: int, timeout: float, server_pid: int | None
) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    start = time.perf_counter()
    async with PeakRss(server_pid) as peak:
        await asyncio.gather(
            *(one_client(url, photos, i * per_client, per_client, results, timeout) for i in range(clients))
        )
    wall = time.perf_counter() - start
    ok = [r for r in results if r["ok"]]
    latencies = [r["seconds"] * 1000 for r in ok]
    overheads = [r["seconds"] * 1000 - r["engine_ms"] for r in ok if r.get("engine_ms") is not None]
    ms = lambda v: None if v is None else round(v, 1)  # noqa: E731

    def spread(values: list[float]) -> dict[str, float | None]:
        return {f"p{q}": ms(percentile(values, q)) for q in (50, 95, 99)}

    # Where the overhead goes: upload (presign + POST), waiting for a free worker, and the worker's
    # time beyond the engine (reading the photo, events, storing the result, the loopback hops).
    breakdown = {
        "upload_ms": spread([r["upload_ms"] for r in ok]),
        "queue_wait_ms": spread([r["queue_ms"] for r in ok]),
        "worker_beyond_engine_ms": spread([r["worker_ms"] - r["engine_ms"] for r in ok if r.get("engine_ms")]),
        "engine_ms": spread([r["engine_ms"] for r in ok if r.get("engine_ms") is not None]),
    }
    return {
        "url": url,
        "clients": clients,
        "requests": len(results),
        "ok": len(ok),
        "errors": dict(Counter(r["error"] for r in results if not r["ok"])),
        "seconds": round(wall, 2),
        "throughput_per_s": round(len(ok) / wall, 2) if wall else None,
        "latency_ms": {
            "p50": ms(percentile(latencies, 50)),
            "p95": ms(percentile(latencies, 95)),
            "p99": ms(percentile(latencies, 99)),
        },
        "overhead_ms": {
            "p50": ms(percentile(overheads, 50)),
            "p95": ms(percentile(overheads, 95)),
            "p99": ms(percentile(overheads, 99)),
        },
        "breakdown": breakdown,
        "server_memory_mb": round(peak.bytes / 2**20, 1) if server_pid else None,
    }


def load_photos(folder: Path, limit: int) -> list[tuple[bytes, str]]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())[:limit]
    return [(p.read_bytes(), CONTENT_TYPES[p.suffix.lower()]) for p in files]


@click.command("load")
@click.option("--clients", type=click.IntRange(1), default=50, show_default=True, help="Concurrent clients.")
@click.option(
    "--photos",
    "photo_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Folder of photos to send (searched recursively).",
)
@click.option(
    "--requests",
    "per_client",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="Photos each client sends, one after another.",
)
@click.option(
    "--max-photos",
    type=click.IntRange(1),
    default=200,
    show_default=True,
    help="Read at most this many photos from the folder.",
)
@click.option("--url", default=None, help="Use a running server instead of starting one (memory is then not measured).")
@click.option("--gallery", type=click.Path(path_type=Path), default=None, help="Gallery for the server it starts.")
@click.option("--workers", type=click.IntRange(1), default=None, help="Workers of the server it starts.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait for one result.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def load(
    clients: int,
    photo_dir: Path,
    per_client: int,
    max_photos: int,
    url: str | None,
    gallery: Path | None,
    workers: int | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Load-test the web app: CLIENTS concurrent users each matching photos through the WebSocket flow."""
    photos = load_photos(photo_dir, max_photos)
    if not photos:
        raise click.UsageError(f"no photos under {photo_dir}")
    if url is not None:
        report = asyncio.run(run_load(url.rstrip("/"), photos, clients, per_client, timeout, None))
    else:
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
            report = asyncio.run(run_load(server.url, photos, clients, per_client, timeout, server.pid))
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    lat, over = report["latency_ms"], report["overhead_ms"]
    click.echo(
        f"{report['ok']}/{report['requests']} matched by {clients} clients in {report['seconds']} s: "
        f"{report['throughput_per_s']} photos/s"
    )
    click.echo(f"end-to-end ms  p50 {lat['p50']}  p95 {lat['p95']}  p99 {lat['p99']}")
    click.echo(f"overhead ms    p50 {over['p50']}  p95 {over['p95']}  p99 {over['p99']}  (beyond engine time)")
    b = report["breakdown"]
    click.echo("p50 ms: " + ", ".join(f"{k.removesuffix('_ms').replace('_', ' ')} {v['p50']}" for k, v in b.items()))
    if report["errors"]:
        click.echo("errors: " + ", ".join(f"{k} x{v}" for k, v in report["errors"].items()))
    if report["server_memory_mb"] is not None:
        click.echo(f"server memory (peak, server + workers): {report['server_memory_mb']} MB")
