"""The rate limit as the routes meet it: a budget per client address, a 429 with ``Retry-After`` past it."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from lookalike.adapters.sqlite_ratelimit import SqliteRateLimiter
from lookalike.web.clients import ClientAddress
from lookalike.web.errors import error
from lookalike.web.metrics import Metrics


class RateLimit:
    """Token buckets shared by every process on the home, keyed by :class:`ClientAddress`."""

    def __init__(self, limiter: SqliteRateLimiter, clients: ClientAddress, metrics: Metrics) -> None:
        self.limiter, self.clients, self.metrics = limiter, clients, metrics

    def allow(self, client: str) -> tuple[bool, float]:
        """(allowed, seconds until the next would be): for the WebSocket, which answers in its own way."""
        return self.limiter.allow(client)

    def limited(self, request: Request) -> JSONResponse | None:
        """The 429 that refuses this request, or None to go on (taking one from the client's budget)."""
        ok, wait = self.allow(self.clients.of(request.scope))
        if ok:
            return None
        self.metrics.refusal("rate_limited")
        return error(
            429,
            "rate_limited",
            f"Too many requests; try again in {wait:.0f} s.",
            {"Retry-After": str(max(1, round(wait)))},
        )
