"""The error envelope of every HTTP answer that refuses: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from lookalike.service.results import error_body


def envelope(code: str, message: str) -> dict[str, Any]:
    """The body of a refusal; routes, the middleware and the HTTP protocol all build it here (the same
    envelope as the Lambdas': :func:`~lookalike.service.results.error_body`)."""
    return error_body(code, message)


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(envelope(code, message), status_code=status, headers=headers)
