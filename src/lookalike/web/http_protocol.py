"""uvicorn's HTTP protocol with a header timeout, a minimum body speed, a cap on connections per
client address, and a bound on discarded bodies.

uvicorn times out an idle keep-alive connection between requests, but not a request whose headers
never end, nor a connection that never sends a byte, nor a body sent a byte at a time: a client can
hold any number of those open (a "slowloris").  Here:

* each connection must finish a request's headers within ``header_timeout`` seconds of connecting,
  or of the previous response; else it is closed (before a WebSocket upgrade the timer stops: those
  have their own idle timeout);
* after the headers, the body must arrive at ``min_body_rate`` bytes per second on average, after a
  grace of ``header_timeout``: a body of ``n`` bytes must be complete ``header_timeout + n /
  min_body_rate`` seconds after its headers, and a body that falls behind that pace is cut off (the
  connection is closed, the route sees a disconnect).  Time during which the app is not reading (its
  buffer is full) is not counted against the client;
* a client (the TCP peer, as the rate limit keys it) holds at most ``max_per_client`` connections; the next is
  answered 503 ``too_many_connections`` before a byte of it is read, what it sends is dropped unread
  for a second (so that it can read the answer), then it is closed.  A peer in ``trusted_proxies``
  is exempt: behind a proxy every connection comes from it.  A connection that becomes a WebSocket
  leaves the count (sockets have their own cap).

A request answered before its body was read (a 413, a 503) goes on sending it; uvicorn discards
those bytes (nothing is stored), so that the client, which sends its whole body before it reads,
sees the answer.  Here that lingering ends after ``linger_bytes``: the connection is closed, so no
client makes the server read an unwanted body of any size.  The header timer, armed again by the
response, bounds its time.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lookalike.web.clients import ClientAddress
from lookalike.web.errors import envelope

BUSY_RETRY_SECONDS = 10
REFUSED_LINGER_SECONDS = 1.0


class HeaderTimeoutProtocol(HttpToolsProtocol):
    header_timeout: float = 10.0
    linger_bytes: int = 32 * 2**20
    min_body_rate: float = 0.0  # bytes per second; 0: no rule
    max_per_client: int = 0  # 0: no cap
    clients: ClientAddress = ClientAddress()
    open_per_client: Counter[str] = Counter()  # each class made by protocol_with_timeout has its own

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._discarded = self._body_bytes = 0
        self._counted: str | None = None
        self._refused = False
        if not self._admit():
            self._refuse()
            return
        self._arm()

    # -- connections per client ----------------------------------------------------------------

    def _admit(self) -> bool:
        host = str(self.client[0]) if self.client else ""
        if self.max_per_client <= 0 or not host or self.clients.is_trusted(host):
            return True
        key = self.clients.of({"client": self.client})  # the key the rate limit counts this peer against
        if self.open_per_client[key] >= self.max_per_client:
            return False
        self.open_per_client[key] += 1
        self._counted = key
        return True

    def _release(self) -> None:
        host, self._counted = self._counted, None
        if host is not None:
            self.open_per_client[host] -= 1
            if self.open_per_client[host] <= 0:
                del self.open_per_client[host]

    def _refuse(self) -> None:
        message = "Too many open connections from your address."
        body = json.dumps(envelope("too_many_connections", message)).encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nretry-after: {BUSY_RETRY_SECONDS}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self._refused = True
        if self.transport.can_write_eof():  # the answer, then what the client sends is read and dropped for a
            self.transport.write_eof()  # moment: closing at once would reset its connection before it reads
            self.loop.call_later(REFUSED_LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    # -- parser callbacks ------------------------------------------------------------------------

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
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
        if not (self.parser.should_upgrade() and self._should_upgrade()):
            self._start_body_clock()

    def on_message_complete(self) -> None:
        self._stop_body_clock()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._stop_body_clock()  # what is still sent is discarded, within the linger and the header timer
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm()  # waiting for the next request: keep-alive's own timeout is shorter, this is a backstop

    def handle_websocket_upgrade(self) -> None:
        self._disarm()
        self._stop_body_clock()
        self._release()
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._stop_body_clock()
        self._release()
        super().connection_lost(exc)

    # -- the header timer ------------------------------------------------------------------------

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

    # -- the body's pace -------------------------------------------------------------------------

    def _start_body_clock(self) -> None:
        self._stop_body_clock()
        self._body_bytes = 0
        if self.min_body_rate > 0:
            self._body_start = self._body_checked = self.loop.time()
            self._body_timer = self.loop.call_later(max(self.header_timeout, 0.0), self._check_body)

    def _stop_body_clock(self) -> None:
        timer = getattr(self, "_body_timer", None)
        if timer is not None:
            timer.cancel()
            self._body_timer = None

    def _check_body(self) -> None:
        """The body must be ``header_timeout + bytes / min_body_rate`` seconds old at most."""
        self._body_timer = None
        now = self.loop.time()
        if self.flow.read_paused:  # the app is not reading: the time since the last look is not the client's
            self._body_start += now - self._body_checked
            self._body_checked = now
            self._body_timer = self.loop.call_later(1.0, self._check_body)
            return
        self._body_checked = now
        due = self._body_start + max(self.header_timeout, 0.0) + self._body_bytes / self.min_body_rate
        if now < due:
            self._body_timer = self.loop.call_later(due - now, self._check_body)
        elif not self.transport.is_closing():
            self.transport.close()  # too slow: the route reading it sees a disconnect


def protocol_with_timeout(
    seconds: float,
    linger_bytes: int = 32 * 2**20,
    min_body_rate: float = 0.0,
    max_per_client: int = 0,
    trusted_proxies: str = "",
    ipv6_prefix: int = 64,
) -> type[Any]:
    """The protocol class to give uvicorn (``Config(http=...)``): this header timeout, linger, minimum
    body speed (bytes/s) and cap on connections per client address (with its own count)."""
    attributes = {
        "header_timeout": float(seconds),
        "linger_bytes": int(linger_bytes),
        "min_body_rate": float(min_body_rate),
        "max_per_client": int(max_per_client),
        "clients": ClientAddress(trusted_proxies, ipv6_prefix),
        "open_per_client": Counter(),
    }
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), attributes)
