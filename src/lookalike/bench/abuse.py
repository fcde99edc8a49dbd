"""What a public server meets on day one, against a real server of its own (``lookalike bench abuse``).

It starts ``lookalike serve`` (its own data directory, a free loopback port) and plays, one after
another, what attackers and careless users do, printing for each what happened beside its target:

* ``thin_pngs``: tiny PNGs of shapes no camera makes (1x49M, 49Mx1, 3x16M, 16Mx3) and the widest
  shape still accepted (16000x1600) are queued, then a normal photo: how long that photo waits.
* ``sync_flood``: 50 concurrent ``POST /api/match``; the worst ``/healthz`` latency meanwhile, and
  the time of an unrelated WebSocket job started during the flood.
* ``big_body``: a 50 MB body to ``POST /api/uploads`` (with a length, and chunked): the status and
  how much the server's memory (server + workers) grew.
* ``reuse``: a presigned POST sent again after its photo was matched.
* ``takeover``: another socket resumes someone's job with its id alone.
* ``sockets``: 500 WebSockets from one address; ``half_open``: 200 requests whose headers never end;
  ``slow_bodies``: 4 uploads to ``/api/match`` trickled a byte every 5 s while another client matches.
* ``forwarded_for``: presigns each with a new ``X-Forwarded-For`` from loopback (no proxy configured).
* ``leftovers``: files left in the upload storage once every job has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookalike.bench.server import LocalServer, PeakRss, local_server

THIN_SHAPES = ((1, 49_000_000), (49_000_000, 1), (3, 16_000_000), (16_000_000, 3), (16_000, 1_600))
MB = 2**20


@dataclass
class Outcome:
    """One scenario: what happened, the number that matters, its target and whether it was met."""

    scenario: str
    happened: str
    measured: float | None
    unit: str
    target: str
    met: bool | None
    details: dict[str, Any] = field(default_factory=dict)


def thin_png(width: int, height: int) -> bytes:
    """A flat grey PNG of that shape (made here: no photo in it); a few dozen KB for ~49 MP."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (width, height), 128).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


class Client:
    """What the page does, over httpx and websockets, against one server."""

    def __init__(self, server: LocalServer, timeout: float) -> None:
        import httpx

        self.server, self.timeout = server, timeout
        self.http = httpx.AsyncClient(base_url=server.url, timeout=timeout, limits=httpx.Limits(max_connections=200))
        self.ws_url = server.url.replace("http://", "ws://") + "/ws"

    async def close(self) -> None:
        await self.http.aclose()

    async def upload(self, data: bytes, content_type: str) -> tuple[str, dict[str, Any]]:
        """Presign and upload; returns the key and the presigned form (to try it again)."""
        r = await self.http.post("/api/uploads", json={"content_type": content_type})
        r.raise_for_status()
        presigned = r.json()
        r = await self.http.post(presigned["url"], data=presigned["fields"], files={"file": ("p", data, content_type)})
        if r.status_code != 204:
            raise RuntimeError(f"upload refused: {r.status_code} {r.text[:200]}")
        return presigned["key"], presigned

    @contextlib.asynccontextmanager
    async def socket(self) -> AsyncIterator[Any]:
        from websockets.asyncio.client import connect

        async with connect(self.ws_url, max_size=2**24, open_timeout=self.timeout) as ws:
            hello = json.loads(await ws.recv())
            assert hello["event"] == "hello", hello
            yield ws

    async def until(self, ws: Any, *names: str) -> dict[str, Any]:
        while True:
            event = dict(json.loads(await asyncio.wait_for(ws.recv(), self.timeout)))
            if event.get("event") in names:
                return event

    async def match(self, key: str) -> tuple[str, float]:
        """Submit ``key`` on a socket of its own; (final event with its code, seconds to it)."""
        async with self.socket() as ws:
            start = time.perf_counter()
            await ws.send(json.dumps({"action": "match", "key": key}))
            try:
                event = await self.until(ws, "matched", "failed", "error")
            except TimeoutError:
                return f"no answer in {self.timeout:.0f} s", time.perf_counter() - start
            code = (event.get("error") or {}).get("code", "")
            return event["event"] + (f":{code}" if code else ""), time.perf_counter() - start


async def thin_pngs(client: Client, photo: bytes) -> Outcome:
    pngs = [thin_png(w, h) for w, h in THIN_SHAPES]
    thin_keys = [(await client.upload(data, "image/png"))[0] for data in pngs]
    thin_tasks = [asyncio.create_task(client.match(key)) for key in thin_keys]
    await asyncio.sleep(0.5)  # they are in the queue first
    key, _ = await client.upload(photo, "image/jpeg")
    outcome, seconds = await client.match(key)
    thin = await asyncio.gather(*thin_tasks)
    details = {
        f"{w}x{h} ({len(data) // 1024} KB)": f"{name} in {secs:.1f} s"
        for (w, h), data, (name, secs) in zip(THIN_SHAPES, pngs, thin, strict=True)
    }
    return Outcome(
        "thin_pngs",
        f"normal photo {outcome} behind {len(pngs)} thin PNGs; " + "; ".join(f"{k}: {v}" for k, v in details.items()),
        round(seconds, 2),
        "s",
        "< 20 s",
        outcome == "matched" and seconds < 20,
        details,
    )


async def poll_health(client: Client, stop: asyncio.Event, seen: list[float]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=client.server.url, timeout=120) as http:
        while not stop.is_set():
            start = time.perf_counter()
            with contextlib.suppress(httpx.HTTPError):
                await http.get("/healthz")
            seen.append(time.perf_counter() - start)
            await asyncio.sleep(0.1)


async def sync_flood(client: Client, photo: bytes, calls: int = 50) -> Outcome:
    """50 synchronous matches at once from one address (a loopback address of its own, when the server
    is on 127.0.0.1: the WebSocket job meanwhile is another client's, not held by the flood's caps)."""
    import httpx

    local = "127.0.0.2" if client.server.url.startswith("http://127.0.0.1:") else None
    transport = httpx.AsyncHTTPTransport(local_address=local) if local else None
    flooder = httpx.AsyncClient(base_url=client.server.url, timeout=client.timeout, transport=transport)

    async def one() -> str:
        try:
            r = await flooder.post("/api/match", files={"photo": ("p.jpg", photo, "image/jpeg")})
        except Exception as exc:  # counted: a flood reports what each call got
            return type(exc).__name__
        return f"{r.status_code}" + (f" Retry-After {r.headers['retry-after']}" if "retry-after" in r.headers else "")

    stop, health = asyncio.Event(), []  # type: ignore[var-annotated]
    poller = asyncio.create_task(poll_health(client, stop, health))
    flood = [asyncio.create_task(one()) for _ in range(calls)]
    await asyncio.sleep(0.2)
    try:
        key, _ = await client.upload(photo, "image/jpeg")
        ws_outcome, ws_seconds = await client.match(key)
        statuses = Counter(await asyncio.gather(*flood))
    finally:
        stop.set()
        await poller
        await flooder.aclose()
    worst = max(health) if health else None
    return Outcome(
        "sync_flood",
        f"{calls} sync matches: "
        + ", ".join(f"{k} x{v}" for k, v in sorted(statuses.items()))
        + f"; a WebSocket job meanwhile: {ws_outcome} in {ws_seconds:.2f} s; /healthz polled {len(health)} times",
        None if worst is None else round(worst * 1000, 1),
        "ms worst /healthz",
        "< 1000 ms",
        worst is not None and worst < 1.0,
        {"statuses": dict(statuses), "websocket_job_s": round(ws_seconds, 2), "healthz_polls": len(health)},
    )


async def big_body(client: Client, megabytes: int = 50) -> Outcome:
    import httpx

    async def body() -> AsyncIterator[bytes]:
        chunk = b"0," * (MB // 2)
        for _ in range(megabytes):
            yield chunk
            await asyncio.sleep(0)

    async def send(with_length: bool) -> str:
        headers = {"content-type": "application/json"}
        if with_length:
            headers["content-length"] = str(megabytes * MB)
        start = time.perf_counter()
        try:
            r = await client.http.post("/api/uploads", content=body(), headers=headers)
            return f"{r.status_code} in {time.perf_counter() - start:.2f} s"
        except httpx.HTTPError as exc:
            return f"connection closed by the server ({type(exc).__name__}) in {time.perf_counter() - start:.2f} s"

    async with PeakRss(client.server.pid, every=0.05) as peak:
        answers = {"with a length": await send(True), "chunked": await send(False)}
    grew = (peak.bytes - peak.start) / MB
    return Outcome(
        "big_body",
        f"{megabytes} MB JSON to /api/uploads: " + "; ".join(f"{k}: {v}" for k, v in answers.items()),
        round(grew, 1),
        "MB memory growth",
        "413, no growth (< 20 MB)",
        all(a.startswith("413") or a.startswith("connection closed") for a in answers.values()) and grew < 20,
        {"answers": answers, "base_mb": round(peak.start / MB, 1)},
    )


async def reuse(client: Client, photo: bytes) -> Outcome:
    key, presigned = await client.upload(photo, "image/jpeg")
    outcome, _ = await client.match(key)
    r = await client.http.post(presigned["url"], data=presigned["fields"], files={"file": ("p", photo, "image/jpeg")})
    kept = (client.server.home / "storage" / key).exists()
    return Outcome(
        "reuse",
        f"first upload {outcome}; the same presigned POST again: {r.status_code}; file kept on disk: {kept}",
        float(r.status_code),
        "HTTP status",
        "refused (4xx), nothing kept",
        400 <= r.status_code < 500 and not kept,
    )


async def takeover(client: Client, photo: bytes) -> Outcome:
    key, _ = await client.upload(photo, "image/jpeg")
    async with client.socket() as owner, client.socket() as thief:
        await owner.send(json.dumps({"action": "match", "key": key}))
        queued = await client.until(owner, "queued")
        await thief.send(json.dumps({"action": "resume", "job": queued["job"]}))
        answer = await client.until(thief, "resumed", "error")
        try:
            owner_final = (await asyncio.wait_for(client.until(owner, "matched", "failed", "moved"), 30))["event"]
        except TimeoutError:
            owner_final = "nothing for 30 s"
    refused = answer["event"] == "error"
    said = answer["event"] + (f":{answer['error']['code']}" if refused else "")
    return Outcome(
        "takeover",
        f"resume by job id alone: {said}; the owner's socket then got: {owner_final}",
        None,
        "",
        "refused; the owner keeps its events",
        refused and owner_final == "matched",
    )


async def sockets(client: Client, count: int = 500) -> Outcome:
    from websockets.asyncio.client import connect

    opened: list[Any] = []
    refused = 0
    for _ in range(count):
        try:
            ws = await connect(client.ws_url, open_timeout=10)
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if event.get("event") != "hello":
                refused += 1
                await ws.close()
                continue
            opened.append(ws)
        except Exception:  # refused at the handshake, or closed at once: counted
            refused += 1
    for ws in opened:
        with contextlib.suppress(Exception):
            await ws.close()
    return Outcome(
        "sockets",
        f"{count} WebSockets from one address: {len(opened)} accepted, {refused} refused",
        float(len(opened)),
        "accepted",
        f"capped (< {count})",
        len(opened) < count,
    )


async def slow_bodies(client: Client, photo: bytes, count: int = 4, wait: float = 60.0) -> Outcome:
    """``count`` uploads to ``/api/match`` that send their headers, then a byte every 5 s (from an address
    of their own), while another client matches a photo: does it get a place, and are they dropped?"""

    host, port = client.server.url.removeprefix("http://").split(":")
    local = "127.0.0.3" if host == "127.0.0.1" else None
    head = (
        f"POST /api/match HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=XX\r\n"
        "Content-Length: 200000\r\n\r\n--XX\r\n"
    ).encode()
    streams = [
        await asyncio.open_connection(host, int(port), local_addr=(local, 0) if local else None) for _ in range(count)
    ]
    for _, writer in streams:
        writer.write(head)
        await writer.drain()
    start, dropped = time.monotonic(), {}

    async def trickle(i: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while time.monotonic() - start < wait:
                writer.write(b"x")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    if await asyncio.wait_for(reader.read(65536), 5) == b"":
                        break
        dropped[i] = time.monotonic() - start
        writer.close()

    tricklers = [asyncio.create_task(trickle(i, r, w)) for i, (r, w) in enumerate(streams)]
    await asyncio.sleep(1)
    t0 = time.perf_counter()
    r = await client.http.post("/api/match", files={"photo": ("p.jpg", photo, "image/jpeg")})
    seconds = time.perf_counter() - t0
    await asyncio.gather(*tricklers)
    held = [t for t in dropped.values() if t >= wait]
    slowest = max(dropped.values()) if dropped else None
    return Outcome(
        "slow_bodies",
        f"{count} bodies trickled at 1 byte / 5 s to /api/match: a normal match meanwhile got {r.status_code} in "
        f"{seconds:.2f} s; {count - len(held)} of {count} trickles dropped by the server"
        + (f" (the last after {slowest:.0f} s)" if slowest is not None and not held else ""),
        round(seconds, 2),
        "s for the normal match",
        "200; trickles dropped",
        r.status_code == 200 and not held,
    )


def half_open(url: str, count: int = 200, wait: float = 90.0) -> Outcome:
    """Connections that send the start of a request and never finish its headers."""
    import select

    host, port = url.removeprefix("http://").split(":")
    conns = []
    for _ in range(count):
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        conns.append(s)
    start, closed_at = time.monotonic(), {}
    while len(closed_at) < count and time.monotonic() - start < wait:
        readable, _, _ = select.select([s for s in conns if s not in closed_at], [], [], 0.5)
        for s in readable:
            with contextlib.suppress(OSError):
                if s.recv(65536) == b"":
                    closed_at[s] = time.monotonic() - start
    for s in conns:
        s.close()
    slowest = max(closed_at.values()) if closed_at else None
    return Outcome(
        "half_open",
        f"{count} requests with unfinished headers: {len(closed_at)} dropped by the server within {wait:.0f} s"
        + (f" (the last after {slowest:.1f} s)" if slowest is not None else ""),
        float(count - len(closed_at)),
        "still open",
        "0",
        len(closed_at) == count,
    )


async def forwarded_for(client: Client, limit: int) -> Outcome:
    """A burst of presigns, each claiming another address: one client's budget must hold (its bucket of
    ``limit`` plus what refills during the burst), unless the server believes the header."""
    sent, passed, start = limit + 40, 0, time.monotonic()
    for i in range(sent):
        forged = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        r = await client.http.post(
            "/api/uploads", json={"content_type": "image/jpeg"}, headers={"X-Forwarded-For": forged}
        )
        passed += r.status_code == 201
    allowed = limit + int((time.monotonic() - start) * limit / 60) + 1
    return Outcome(
        "forwarded_for",
        f"{sent} presigns from loopback, each with a new X-Forwarded-For: {passed} passed "
        f"(one client's budget: {limit} a minute, {allowed} counting what refilled during the burst)",
        float(passed),
        "passed",
        f"<= {allowed}",
        passed <= allowed,
    )


async def leftovers(client: Client) -> Outcome:
    deadline = time.monotonic() + client.timeout
    while time.monotonic() < deadline:
        r = await client.http.get("/healthz")
        if r.json().get("queue_depth", 0) == 0:
            break
        await asyncio.sleep(0.5)
    root = client.server.home / "storage"
    files = [p for p in root.rglob("*") if p.is_file() and "uploads" in p.relative_to(root).parts]
    return Outcome(
        "leftovers",
        f"files left in the upload storage after every job finished: {len(files)}",
        float(len(files)),
        "files",
        "0",
        not files,
    )


async def run_all(server: LocalServer, photo: bytes, timeout: float, limit: int, only: set[str]) -> list[Outcome]:
    client = Client(server, timeout)
    scenarios: list[tuple[str, Callable[[], Awaitable[Outcome]]]] = [
        ("thin_pngs", lambda: thin_pngs(client, photo)),
        ("sync_flood", lambda: sync_flood(client, photo)),
        ("big_body", lambda: big_body(client)),
        ("reuse", lambda: reuse(client, photo)),
        ("takeover", lambda: takeover(client, photo)),
        ("sockets", lambda: sockets(client)),
        ("slow_bodies", lambda: slow_bodies(client, photo)),
        ("half_open", lambda: asyncio.to_thread(half_open, server.url)),
        ("forwarded_for", lambda: forwarded_for(client, limit)),
        ("leftovers", lambda: leftovers(client)),
    ]
    outcomes = []
    try:
        for name, scenario in scenarios:
            if only and name not in only:
                continue
            try:
                outcomes.append(await scenario())
            except Exception as exc:  # a scenario that breaks is reported, and the others still run
                outcomes.append(Outcome(name, f"the scenario failed: {type(exc).__name__}: {exc}", None, "", "", False))
    finally:
        await client.close()
    return outcomes


def small_gallery(data_dir: Path, out: Path) -> Path:
    """The six people of ``small/face_recognition``: enough for results, built in seconds."""
    from lookalike.gallery.build import build_gallery, scan_sources
    from lookalike.gallery.store import Gallery
    from lookalike.settings import Settings

    photos, _ = scan_sources([data_dir / "small" / "face_recognition"])
    with Gallery.create(out) as g:
        build_gallery(g, photos, Settings(gallery=out), workers=2)
    return out


def default_photo(data_dir: Path) -> Path | None:
    """The normal photo when none is given: the first of Barack Obama's in ``small/face_recognition``."""
    found = sorted((data_dir / "small" / "face_recognition" / "Barack_Obama").glob("*.jpg"))
    return found[0] if found else None


def play(
    photo: Path,
    data_dir: Path,
    *,
    gallery: Path | None = None,
    workers: int = 2,
    rate_limit: int = 300,
    timeout: float = 120.0,
    only: set[str] | None = None,
) -> list[Outcome]:
    """Start ``lookalike serve`` (with ``gallery``, else a small one built from ``data_dir``) and play the
    scenarios (``only`` these, when given) against it, one after another."""
    with tempfile.TemporaryDirectory(prefix="lookalike-abuse-") as scratch:
        if gallery is None:
            gallery = small_gallery(data_dir, Path(scratch) / "gallery")
        env = {
            "LOOKALIKE_GALLERY": str(gallery),
            "LOOKALIKE_WORKERS": str(workers),
            "LOOKALIKE_RATE_LIMIT_PER_MINUTE": str(rate_limit),
        }
        with local_server(env) as server:
            return asyncio.run(run_all(server, photo.read_bytes(), timeout, rate_limit, only or set()))
