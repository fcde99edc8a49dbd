"""The web app (embedded profile): presigned uploads, a WebSocket for live progress, worker processes.

Flow: ``POST /api/uploads`` -> the browser POSTs the photo to ``/storage/upload`` -> it sends
``{"action": "match", "key": ...}`` on ``/ws`` -> a worker process matches it and pushes
``processing``, ``faces_found``, ``matched``/``failed`` back through ``/internal/connections/{id}``
(the embedded stand-in for API Gateway's ``@connections``).  ``POST /api/match`` does the same
synchronously for scripts.

This module only assembles the app: what the routes share is built once (``state.py``), the routes
live by concern in ``routes/`` (uploads, jobs, the WebSocket, ops), a socket's life in ``session.py``,
the server's background work in ``lifespan.py``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from lookalike.settings import Settings
from lookalike.web import middleware, schema
from lookalike.web.forms import FORM_OVERHEAD
from lookalike.web.lifespan import lifespan
from lookalike.web.routes import jobs, ops, uploads, websocket
from lookalike.web.state import WebState


def create_app(settings: Settings, workers: int | None = None) -> FastAPI:
    """The ASGI app.  ``workers``: processes to start (default: from settings; 0: none, for tests)."""
    web = WebState.open(settings, workers)
    app = FastAPI(
        title="lookalike",
        version="0.1.0",
        lifespan=lifespan(web),
        docs_url=None,  # served by routes/ops.py from the swagger-ui-bundle package: no CDN, works offline
        description="Which celebrities do the faces in your photo look like? Photos are deleted "
        "as soon as they are matched.",
    )
    app.state.web = web
    app.state.settings, app.state.env, app.state.pool, app.state.hub = settings, web.env, web.pool, web.hub
    middleware.install(
        app,
        settings.max_json_bytes,
        settings.max_upload_bytes + FORM_OVERHEAD,
        origins=settings.websocket_origins,
        on_refused=lambda: web.metrics.refusal("forbidden_origin"),
    )
    app.include_router(uploads.router(web))
    app.include_router(jobs.router(web))
    app.include_router(ops.router(web))
    ops.mount_files(app)
    app.include_router(websocket.router(web))
    schema.install(app)  # the results' and the WebSocket's schemas in /openapi.json
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
