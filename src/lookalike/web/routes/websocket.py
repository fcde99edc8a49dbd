"""The WebSocket (``/ws``), and where workers push its events (the embedded stand-in for API
Gateway's ``@connections``)."""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Request, WebSocket

from lookalike.adapters.notifiers import SECRET_HEADER
from lookalike.web.errors import error
from lookalike.web.session import Session, admitted
from lookalike.web.state import WebState


def from_worker(web: WebState, request: Request) -> bool:
    """Loopback and the internal token: a worker on this machine (never through a proxy)."""
    host = web.clients.peer(request.scope)  # the real peer, not a forwarded address
    try:
        loopback = ipaddress.ip_address(host).is_loopback and not web.clients.via_proxy(request.scope)
    except ValueError:
        loopback = False
    return loopback and request.headers.get(SECRET_HEADER) == web.token


def router(web: WebState) -> APIRouter:
    routes = APIRouter()

    @routes.post("/internal/connections/{connection_id}", include_in_schema=False)
    async def post_to_connection(connection_id: str, request: Request) -> Any:
        """Where workers push events (like API Gateway's @connections); loopback and token only."""
        if not from_worker(web, request):
            return error(403, "forbidden", "Not for you.")
        event = await request.json()
        web.metrics.finished(event)
        if not await web.hub.deliver(connection_id, event):
            return error(410, "gone", "No such connection.")
        return {"delivered": True}

    @routes.websocket("/ws")
    async def websocket(ws: WebSocket) -> None:
        client = web.client_of(ws)
        if await admitted(web, ws, client):
            await Session(web, ws, client).run()

    return routes
