"""uvicorn's HTTP protocol with a header-read timeout and a bound on discarded bodies.

uvicorn times out an idle keep-alive connection between requests, but not a request whose headers
never end, nor a connection that never sends a byte: a client can hold any number of those open
(a "slowloris").  Here each connection must finish a request's headers within ``header_timeout``
seconds of connecting, or of the previous response; else it is closed.  The timer stops once the
headers are in (a slow upload of the body is the route's and the body limit's business) and before a
WebSocket upgrade (those have their own idle timeout).

A request answered before its body was read (a 413, a 503) goes on sending it; uvicorn discards
those bytes (nothing is stored), so that the client, which sends its whole body before it reads,
sees the answer.  Here that lingering ends after ``linger_bytes``: the connection is closed, so no
client makes the server read an unwanted body of any size.  The header timer, armed again by the
response, bounds its time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderTimeoutProtocol(HttpToolsProtocol):
    header_timeout: float = 10.0
    linger_bytes: int = 32 * 2**20

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._discarded = 0
        self._arm()

    def on_body(self, body: bytes) -> None:
        if self.cycle is not None and self.cycle.response_complete:  # answered: uvicorn drops these bytes
            self._discarded += len(body)
            if self._discarded > self.linger_bytes and not self.transport.is_closing():
                self.transport.close()
                return
        super().on_body(body)

    def on_message_begin(self) -> None:
        self._discarded = 0
        super().on_message_begin()
        if getattr(self, "_header_timer", None) is None:  # the clock runs from the connection or last response
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm()  # waiting for the next request: keep-alive's own timeout is shorter, this is a backstop

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        if self.header_timeout > 0:
            self._header_timer = self.loop.call_later(self.header_timeout, self._timed_out)

    def _disarm(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _timed_out(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_with_timeout(seconds: float, linger_bytes: int = 32 * 2**20) -> type[Any]:
    """The protocol class to give uvicorn (``Config(http=...)``) with this header timeout and linger."""
    attributes = {"header_timeout": float(seconds), "linger_bytes": int(linger_bytes)}
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), attributes)
