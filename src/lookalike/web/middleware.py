"""ASGI middleware of the web app: a request-body limit, another site's pages refused, and security
headers on every response.

All are plain ASGI (no request objects), so they act before any route reads or parses a body.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from lookalike.service.protocol import origin_allowed
from lookalike.web.errors import envelope

Scope = dict[str, Any]
Message = dict[str, Any]

#: The page's policy: its own scripts, styles and images only, no inline script, never in a frame.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    "permissions-policy": "camera=(self), microphone=(), geolocation=()",
}


def docs_policy(html: str) -> str:
    """The policy of the Swagger UI page: its one inline script allowed by its hash, and the inline
    styles and data: images Swagger UI makes at run time; still never in a frame."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


class SecurityHeaders:
    """Adds the security headers to every HTTP response; a route's own ``Content-Security-Policy`` wins."""

    def __init__(self, app: Any, policy: str = PAGE_POLICY) -> None:
        self.app = app
        headers = {"content-security-policy": policy, **SECURITY_HEADERS}
        self.headers = [(k.encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in self.headers if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


async def send_error(send: Any, status: int, code: str, text: str) -> None:
    body = json.dumps(envelope(code, text)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> str | None:
    """A request header as sent (its first value; None without one); ``name`` in lower case."""
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def declared_length(scope: Scope) -> str | None:
    """The request's Content-Length header as sent (None without one)."""
    return header(scope, b"content-length")


class BodyLimit:
    """Refuses request bodies over a limit with 413, before a route reads them.

    A declared ``Content-Length`` over the limit is answered at once, unread; a body without one
    (chunked) is counted as it is read and cut off past the limit (the route sees a disconnect).
    What the client goes on sending is discarded, never stored, for a short while so that it can
    read the answer, then the connection is closed (``http_protocol.py``).
    ``limits`` gives some paths (prefixes) their own limit, e.g. the photo uploads; every other path
    gets ``default``, a few KB: enough for any JSON this API takes.
    """

    def __init__(self, app: Any, default: int, limits: Mapping[str, int] | None = None) -> None:
        self.app, self.default, self.limits = app, default, dict(limits or {})

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits.items():
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        length = declared_length(scope)
        if length is not None and (not length.isdigit() or int(length) > limit):
            await send_error(send, 413, "too_large", too_large_message(limit))
            return
        await self._guarded(scope, receive, send, limit)

    async def _guarded(self, scope: Scope, receive: Any, send: Any, limit: int) -> None:
        state = {"read": 0, "refused": False, "started": False}

        async def counted_receive() -> Message:
            if state["refused"]:
                return {"type": "http.disconnect"}
            message: Message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > limit:
                    state["refused"] = True
                    if not state["started"]:
                        await send_error(send, 413, "too_large", too_large_message(limit))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return  # the 413 went out instead
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not state["refused"]:
                raise
            # else: the route saw the disconnect we made up; the client has its 413


class SameSite:
    """Refuses state-changing requests (POST, PUT, PATCH, DELETE) sent by another site's page: 403
    ``forbidden_origin``, before the body is read.

    A multipart or form POST is a CORS "simple" request: any page can send one with its visitors'
    browsers (``fetch(url, {mode: "no-cors"})``, a form), unread but carried out.  Browsers send
    ``Origin`` on every such request and ``Sec-Fetch-Site`` too; a page cannot change either.
    ``Sec-Fetch-Site: same-origin`` passes (a browser may send ``Origin: null`` for the page's own
    POST under ``Referrer-Policy: no-referrer``); otherwise the rule is the WebSocket's
    (:func:`origin_allowed`: this server's own host, or one of ``origins``), and
    ``Sec-Fetch-Site: cross-site`` is refused unless the ``Origin`` is one listed.  A request with
    neither header is not a browser page's (a script, curl) and passes: it could send any header it
    liked.  ``exempt`` paths (prefixes) are not checked: the workers' event posts (loopback and token).
    """

    METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(
        self, app: Any, origins: str = "", exempt: tuple[str, ...] = (), on_refused: Callable[[], None] | None = None
    ) -> None:
        self.app, self.origins, self.exempt, self.on_refused = app, origins, exempt, on_refused

    def refused(self, scope: Scope) -> bool:
        if scope.get("method") not in self.METHODS or scope.get("path", "").startswith(self.exempt):
            return False
        origin, site = header(scope, b"origin"), (header(scope, b"sec-fetch-site") or "").strip().lower()
        if site == "same-origin":
            return False
        if not origin_allowed(origin, self.origins, header(scope, b"host")):
            return True
        if site != "cross-site":
            return False
        listed = bool(self.origins.strip()) and origin is not None and origin_allowed(origin, self.origins)
        return not listed

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.refused(scope):
            if self.on_refused is not None:
                self.on_refused()
            await send_error(send, 403, "forbidden_origin", "Requests from another site's page are not accepted.")
            return
        await self.app(scope, receive, send)


def install(
    app: Any, json_limit: int, upload_limit: int, origins: str = "", on_refused: Callable[[], None] | None = None
) -> None:
    """The body limit (photo routes get ``upload_limit``, workers' event posts 4 MiB, the rest
    ``json_limit``) inside the same-site check (``origins``: the page origins besides this server's
    own host), both inside the security headers, so that even a 413 or a 403 carries them."""
    limits = {"/storage/upload": upload_limit, "/api/match": upload_limit, "/internal/connections": 4 * 2**20}
    app.add_middleware(BodyLimit, default=json_limit, limits=limits)
    app.add_middleware(SameSite, origins=origins, exempt=("/internal/connections/",), on_refused=on_refused)
    app.add_middleware(SecurityHeaders)


def too_large_message(limit: int) -> str:
    if limit >= 2**20:
        return f"The request body is over the {limit / 2**20:.0f} MB limit."
    return f"The request body is over the {limit} byte limit of this endpoint."
