"""Operations and files: health, metrics, the page and its files, and the API docs (served offline)."""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from lookalike.settings import Settings
from lookalike.web import middleware
from lookalike.web.metrics import MEDIA_TYPE
from lookalike.web.state import WebState

STATIC = resources.files("lookalike.web") / "static"


def router(web: WebState) -> APIRouter:
    routes = APIRouter()

    @routes.get("/healthz", tags=["ops"])
    async def healthz() -> Any:
        ready = web.pool.ready_count() if web.pool else 0
        depth = await run_in_threadpool(web.env.queue.depth)
        ok = web.pool is None or ready > 0
        return JSONResponse(
            {
                "status": "ok" if ok else "starting",
                "workers": web.workers,
                "workers_ready": ready,
                "queue_depth": depth,
                "connections": len(web.hub.connections),
            },
            status_code=200 if ok else 503,
        )

    @routes.get("/metrics", tags=["ops"], response_class=Response)
    def prometheus() -> Response:
        return Response(web.metrics.exposition(), media_type=MEDIA_TYPE)

    filters = gallery_knows_people(web.settings)

    @routes.get("/config.json", include_in_schema=False)
    async def page_config() -> Any:
        """Where the page finds the API and the WebSocket: here, the same origin (on AWS, S3 serves this file);
        and whether the gallery knows its people's facts (``filters``: else the page offers no filters)."""
        return JSONResponse({"api": "", "websocket": "", "filters": filters}, headers={"Cache-Control": "no-cache"})

    @routes.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Any:
        return FileResponse(str(STATIC / "favicon.svg"), media_type="image/svg+xml")

    @routes.get("/", include_in_schema=False)
    async def index() -> Any:
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-cache"})

    @routes.get("/docs", include_in_schema=False)
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

    return routes


def gallery_knows_people(settings: Settings) -> bool:
    """Does the gallery hold facts of its people (a downloaded famous-people set)?  Filters need them; a
    gallery of LFW or celeb_mini knows none, and any filter would leave nobody.  Unknown: offer them."""
    from lookalike.gallery.store import Gallery

    try:
        with Gallery.open(settings.gallery_path()) as gallery:
            return gallery.summary().people_with_facts > 0
    except Exception:  # no gallery here (an API-only server): the workers' gallery decides
        return True


def mount_files(app: FastAPI) -> None:
    """The page's files at ``/static``, Swagger UI's at ``/docs-assets`` (from the swagger-ui-bundle
    package: no CDN).  Mounts belong to the app: FastAPI's routers do not carry them."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
