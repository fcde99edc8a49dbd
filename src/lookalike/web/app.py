"""The web app (embedded profile): presigned uploads, a WebSocket for live progress, worker processes.

Flow: ``POST /api/uploads`` -> the browser POSTs the photo to ``/storage/upload`` -> it sends
``{"action": "match", "key": ...}`` on ``/ws`` -> a worker process matches it and pushes
``processing``, ``faces_found``, ``matched``/``failed`` back through ``/internal/connections/{id}``
(the embedded stand-in for API Gateway's ``@connections``).  ``POST /api/match`` does the same
synchronously for scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import anyio.from_thread
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from lookalike.adapters.local_storage import UploadRefused
from lookalike.adapters.notifiers import SECRET_HEADER, internal_token
from lookalike.adapters.sqlite_ratelimit import SqliteRateLimiter
from lookalike.adapters.upload_ledger import Quota
from lookalike.gallery.store import Gallery
from lookalike.service.jobs import JobError, public_result
from lookalike.service.protocol import error_event, hello_event, origin_allowed
from lookalike.settings import Settings
from lookalike.web import middleware
from lookalike.web.clients import ClientAddress
from lookalike.web.connections import Connection, Hub, SocketLimits
from lookalike.web.errors import error
from lookalike.web.forms import FormRefused, read_file_form
from lookalike.web.housekeeping import sweep_uploads
from lookalike.web.limits import RateLimit
from lookalike.web.metrics import MEDIA_TYPE, Metrics
from lookalike.web.sync_match import Busy, SyncMatcher
from lookalike.web.worker_pool import WorkerPool
from lookalike.wiring import Embedded, api_url_for, conversation, upload_service, worker_count

log = logging.getLogger(__name__)
STATIC = resources.files("lookalike.web") / "static"
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the presigned fields around the file


class UploadRequest(BaseModel):
    content_type: str | None = None


def create_app(settings: Settings, workers: int | None = None) -> FastAPI:
    """The ASGI app.  ``workers``: processes to start (default: from settings; 0: none, for tests)."""
    endpoint = api_url_for(settings)  # where this server's connections live; jobs carry it to workers
    env = Embedded.open(settings, channel=endpoint)
    token = internal_token(env.secret)
    mover = env.notifier(endpoint)  # tells a connection (here or on a server sharing the home) "moved"
    talk = conversation(env.storage, env.queue, env.jobs, settings, mover)
    uploads = upload_service(env.storage)
    gallery = Gallery.open(settings.gallery_path())
    gallery_lock = threading.Lock()
    count = worker_count(settings) if workers is None else workers
    pool = WorkerPool(settings, endpoint, count) if count > 0 else None
    hub = Hub()
    sockets = SocketLimits(settings.ws_max_per_client, settings.ws_idle_seconds, settings.job_ttl_seconds)
    metrics = Metrics(env.queue, lambda: pool.ready_count() if pool else 0)
    limiter = SqliteRateLimiter(settings.home / "ratelimit.sqlite", settings.rate_limit_per_minute)
    clients = ClientAddress(settings.trusted_proxies, settings.ipv6_client_prefix)
    rate = RateLimit(limiter, clients, metrics)
    sync = SyncMatcher(settings, settings.match_max_concurrent)
    quota = Quota(settings.upload_quota_client_bytes, settings.upload_quota_total_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        supervisor = None
        if pool is not None:
            pool.start()

            async def supervise() -> None:
                while True:
                    await asyncio.sleep(0.5)
                    pool.check()

            supervisor = asyncio.create_task(supervise())

        sweeper = asyncio.create_task(sweep_uploads(env, settings))  # uploads never submitted
        try:
            yield
        finally:
            sweeper.cancel()
            if supervisor is not None:
                supervisor.cancel()
            if pool is not None:
                await run_in_threadpool(pool.stop)
            sync.close()
            mover.close()
            gallery.close()

    app = FastAPI(
        title="lookalike",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below from the swagger-ui-bundle package: no CDN, works offline
        description="Which celebrities do the faces in your photo look like? Photos are deleted "
        "as soon as they are matched.",
    )
    app.state.settings, app.state.env, app.state.pool, app.state.hub = settings, env, pool, hub
    middleware.install(
        app,
        settings.max_json_bytes,
        settings.max_upload_bytes + FORM_OVERHEAD,
        origins=settings.websocket_origins,
        on_refused=lambda: metrics.refusal("forbidden_origin"),
    )

    def client_of(request: Request | WebSocket) -> str:
        return clients.of(request.scope)

    # -- uploads --------------------------------------------------------------------------------

    @app.post("/api/uploads", status_code=201, tags=["upload"])
    async def create_upload(request: Request, body: UploadRequest | None = None) -> Any:
        """A presigned POST (S3's shape) for uploading one photo straight to storage."""
        if (refused := rate.limited(request)) is not None:
            return refused
        try:
            return uploads.create(body.content_type if body else None).as_dict()
        except JobError as exc:
            metrics.refusal(exc.code)
            return error(415, exc.code, exc.message)

    @app.post("/storage/upload", status_code=204, tags=["upload"], response_class=Response, response_model=None)
    async def storage_upload(request: Request) -> Any:
        """The embedded storage's upload endpoint (a multipart form like S3's): fields, then ``file``."""
        if (refused := rate.limited(request)) is not None:  # before a byte of the body is read
            return refused
        try:
            how = "The upload is not a valid multipart form with a file field."
            fields, data, _ = await read_file_form(request, "file", env.storage.max_bytes, FORM_OVERHEAD, 20, how)
            await run_in_threadpool(env.storage.accept_upload, fields, data, client_of(request), quota)
        except (FormRefused, UploadRefused) as exc:
            metrics.refusal(exc.code)
            wait = getattr(exc, "retry_after", None)
            return error(exc.status, exc.code, exc.message, {"Retry-After": f"{wait:.0f}"} if wait else None)
        return Response(status_code=204)

    # -- jobs and results -----------------------------------------------------------------------

    @app.get("/api/jobs/{job_id}", tags=["jobs"])
    async def get_job(job_id: str) -> Any:
        """A job's state, and its result once finished (kept for ``job_ttl_seconds``)."""
        job = await run_in_threadpool(env.jobs.get, job_id)
        if job is None:
            return error(404, "unknown_job", "No such job (results are kept for a limited time).")
        return job.as_dict()

    @app.get("/api/faces/{face_id}/thumbnail", tags=["gallery"], response_class=Response)
    def thumbnail(face_id: str) -> Response:
        """The small JPEG of a gallery face (``face_id``: the number a result gives)."""
        number = int(face_id) if face_id.isascii() and face_id.isdigit() and len(face_id) <= 18 else None
        data = None
        if number is not None:  # anything else (a word, a number SQLite cannot hold) is simply not a face
            with gallery_lock:
                data = gallery.thumbnail(number)
        if not data:
            return error(404, "not_found", f"No thumbnail for face {face_id[:20]!r}.")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400"})

    @app.post("/api/match", tags=["match"])
    async def match_now(request: Request) -> Any:
        """Match a photo synchronously (multipart field ``photo``); the same JSON as the ``matched`` event.

        At most ``match_max_concurrent`` calls run or wait at once; more get 503 with ``Retry-After``.
        The photo is read before a place is taken: a slow upload holds no place."""
        if (refused := rate.limited(request)) is not None:
            return refused
        try:
            how = "Send the photo as a multipart form field named 'photo'."
            _, data, name = await read_file_form(request, "photo", settings.max_upload_bytes, FORM_OVERHEAD, 5, how)
        except FormRefused as exc:
            return error(exc.status, exc.code, exc.message)
        try:
            sync.enter()
        except Busy as busy:
            metrics.refusal("busy")
            return error(503, "busy", "Matching is busy; try again shortly.", {"Retry-After": str(busy.retry_after)})
        try:
            return await match_photo(data, name)
        finally:
            sync.leave()

    async def match_photo(data: bytes, name: str) -> Any:
        start = time.perf_counter()
        result = public_result(await sync.match(data, name), settings.thumbnail_url)
        metrics.matched_now(result, time.perf_counter() - start)
        if result["error"]:
            return JSONResponse(result, status_code=422 if result["error"]["code"] != "too_large" else 413)
        return result

    # -- health, metrics, page ------------------------------------------------------------------

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> Any:
        ready = pool.ready_count() if pool else 0
        depth = await run_in_threadpool(env.queue.depth)
        ok = pool is None or ready > 0
        return JSONResponse(
            {
                "status": "ok" if ok else "starting",
                "workers": count,
                "workers_ready": ready,
                "queue_depth": depth,
                "connections": len(hub.connections),
            },
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", tags=["ops"], response_class=Response)
    def prometheus() -> Response:
        return Response(metrics.exposition(), media_type=MEDIA_TYPE)

    @app.get("/config.json", include_in_schema=False)
    async def page_config() -> Any:
        """Where the page finds the API and the WebSocket: here, the same origin (on AWS, S3 serves this file)."""
        return JSONResponse({"api": "", "websocket": ""}, headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Any:
        return FileResponse(str(STATIC / "favicon.svg"), media_type="image/svg+xml")

    @app.get("/", include_in_schema=False)
    async def index() -> Any:
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="lookalike API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg" if (STATIC / "favicon.svg").exists() else "",
        )
        page.headers["Content-Security-Policy"] = middleware.docs_policy(bytes(page.body).decode())
        return page

    # -- worker -> connection -------------------------------------------------------------------

    @app.post("/internal/connections/{connection_id}", include_in_schema=False)
    async def post_to_connection(connection_id: str, request: Request) -> Any:
        """Where workers push events (like API Gateway's @connections); loopback and token only."""
        host = clients.peer(request.scope)  # the real peer: a worker on this machine, never through a proxy
        try:
            loopback = ipaddress.ip_address(host).is_loopback and not clients.via_proxy(request.scope)
        except ValueError:
            loopback = False
        if not loopback or request.headers.get(SECRET_HEADER) != token:
            return error(403, "forbidden", "Not for you.")
        event = await request.json()
        metrics.finished(event)
        delivered = await hub.deliver(connection_id, event)
        if not delivered:
            return error(410, "gone", "No such connection.")
        return {"delivered": True}

    # -- the WebSocket --------------------------------------------------------------------------

    @app.websocket("/ws")
    async def websocket(ws: WebSocket) -> None:
        client = client_of(ws)
        if not origin_allowed(ws.headers.get("origin"), settings.websocket_origins, ws.headers.get("host")):
            metrics.refusal("forbidden_origin")  # another site's page: refused at the handshake
            return await ws.close(code=1008)
        await ws.accept()
        if not sockets.admit(client):
            metrics.refusal("too_many_connections")
            return await sockets.refuse(ws)
        connection_id = uuid.uuid4().hex
        conn = Connection(ws)
        hub.add(connection_id, conn)
        idle = asyncio.create_task(sockets.close_when_idle(conn))

        async def send(event: dict[str, Any]) -> None:
            """Send to this connection (the caller holds its lock)."""
            name, job_id = event.get("event"), str(event.get("job", ""))
            if name == "queued":
                metrics.queued(job_id)
            elif name == "resumed":
                hub.resumed_by(job_id, connection_id)
            elif name == "error":
                metrics.refusal(event["error"]["code"])
            await conn.send(event)  # closed under us: the job goes on, and a resume finds it

        def reply(event: dict[str, Any]) -> None:  # called from the conversation's worker thread
            anyio.from_thread.run(send, event)

        try:
            await ws.send_json(hello_event(connection_id, settings.ws_max_message_bytes))
            while True:
                raw = await ws.receive()
                if raw["type"] == "websocket.disconnect":
                    break
                conn.last_message = time.monotonic()
                text = raw.get("text")
                if text is None:
                    text = (raw.get("bytes") or b"").decode("utf-8", "replace")
                async with conn.lock:  # worker events for this connection wait: "queued" goes out first
                    ok, wait = rate.allow(client)
                    if not ok and conn.refused(time.monotonic()):
                        await send(error_event("rate_limited", f"Too many requests; try again in {wait:.0f} s."))
                        continue
                    if not ok:  # it kept sending after its refusals: no more answers
                        metrics.refusal("rate_limited_closed")
                        await sockets.close_rate_limited(conn)
                        break
                    try:
                        await run_in_threadpool(talk.handle, text, connection_id, endpoint, reply)
                    except Exception:  # a bug must not drop the socket
                        log.exception("websocket message failed")
                        await send(error_event("internal", "Something went wrong on our side; please try again."))
        except WebSocketDisconnect:
            pass
        finally:
            idle.cancel()
            sockets.leave(client)
            hub.remove(connection_id)

    return app


def server_config(app: FastAPI, settings: Settings, **overrides: Any) -> Any:
    """uvicorn's config for this app: WebSocket frames capped well above the app's own message limit."""
    import uvicorn

    from lookalike.web.http_protocol import protocol_with_timeout

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "ws_max_size": max(64 * 1024, settings.ws_max_message_bytes * 4),
        "lifespan": "on",
        # Half-open requests and slow bodies are dropped; an unread body is discarded up to a photo's size,
        # then cut off; a client address holds at most http_max_per_client connections.
        "http": protocol_with_timeout(
            settings.header_timeout_seconds,
            settings.max_upload_bytes + 2**20,
            settings.min_body_bytes_per_second,
            settings.http_max_per_client,
            settings.trusted_proxies,
            settings.ipv6_client_prefix,
        ),
        "proxy_headers": False,  # the app decides whom to believe (web/clients.py, LOOKALIKE_TRUSTED_PROXIES)
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)
