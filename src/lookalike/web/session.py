"""One WebSocket's life on this server: admitted, greeted, its messages answered in order.

A message is handled under the connection's lock, so that a worker's events for it wait: the job's
``queued`` always goes out before its first ``processing``.  Every event this server sends on a
socket, its own answers and workers' events alike, goes through :meth:`Connection.send`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import anyio.from_thread
from fastapi import WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from lookalike.documents import to_json
from lookalike.service.events import Hello, error_event, internal_error
from lookalike.service.protocol import origin_allowed
from lookalike.web.connections import Connection
from lookalike.web.state import WebState

log = logging.getLogger(__name__)


def frame_text(frame: dict[str, Any]) -> str:
    """A received frame's message: its text, or its bytes read as UTF-8."""
    text = frame.get("text")
    if text is None:
        text = (frame.get("bytes") or b"").decode("utf-8", "replace")
    return str(text)


async def admitted(web: WebState, ws: WebSocket, client: str) -> bool:
    """Accept the handshake, or refuse it (another site's page, or too many sockets of this client)."""
    if not origin_allowed(ws.headers.get("origin"), web.settings.websocket_origins, ws.headers.get("host")):
        web.metrics.refusal("forbidden_origin")  # another site's page: refused at the handshake
        await ws.close(code=1008)
        return False
    await ws.accept()
    if not web.sockets.admit(client):
        web.metrics.refusal("too_many_connections")
        await web.sockets.refuse(ws)
        return False
    return True


class Session:
    """An admitted socket of ``client`` (it counts against the client's cap until :meth:`run` ends)."""

    def __init__(self, web: WebState, ws: WebSocket, client: str) -> None:
        self.web, self.ws, self.client = web, ws, client
        self.id = uuid.uuid4().hex
        self.conn = Connection(ws)

    async def run(self) -> None:
        """Greet the socket, then answer its messages until it closes or is closed."""
        web = self.web
        web.hub.add(self.id, self.conn)
        idle = asyncio.create_task(web.sockets.close_when_idle(self.conn))
        try:
            await self.ws.send_json(to_json(Hello(self.id, web.talk.max_message_bytes)))
            while True:
                frame = await self.ws.receive()
                if frame["type"] == "websocket.disconnect" or not await self.handle(frame):
                    break
        except WebSocketDisconnect:
            pass
        finally:
            idle.cancel()
            web.sockets.leave(self.client)
            web.hub.remove(self.id)

    async def handle(self, frame: dict[str, Any]) -> bool:
        """Answer one message; False when the socket is to be closed."""
        self.conn.last_message = time.monotonic()
        text = frame_text(frame)
        async with self.conn.lock:  # worker events for this connection wait: "queued" goes out first
            ok, wait = self.web.rate.allow(self.client)
            if not ok and self.conn.refused(time.monotonic()):
                refusal = error_event("rate_limited", f"Too many requests; try again in {wait:.0f} s.")
                await self.send(to_json(refusal))
                return True
            if not ok:  # it kept sending after its refusals: no more answers
                self.web.metrics.refusal("rate_limited_closed")
                await self.web.sockets.close_rate_limited(self.conn)
                return False
            try:
                await run_in_threadpool(self.web.talk.handle, text, self.id, self.web.endpoint, self.reply)
            except Exception:  # a bug must not drop the socket
                log.exception("websocket message failed")
                await self.send(to_json(internal_error()))
        return True

    async def send(self, event: dict[str, Any]) -> None:
        """Send one of this server's answers (the caller holds the connection's lock)."""
        name, job_id = event.get("event"), str(event.get("job", ""))
        if name == "queued":
            self.web.metrics.queued(job_id)
        elif name == "resumed":
            self.web.hub.resumed_by(job_id, self.id)
        elif name == "error":
            self.web.metrics.refusal(event["error"]["code"])
        await self.conn.send(event)  # closed under us: the job goes on, and a resume finds it

    def reply(self, event: dict[str, Any]) -> None:
        """:meth:`send` from the conversation's worker thread."""
        anyio.from_thread.run(self.send, event)
