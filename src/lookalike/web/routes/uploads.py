"""Uploads: a presigned POST for one photo, and the embedded storage's endpoint that takes it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from lookalike.documents import to_json
from lookalike.errors import UploadRefused
from lookalike.service.ports import PresignedUpload
from lookalike.web import schema
from lookalike.web.errors import error
from lookalike.web.forms import FORM_OVERHEAD, FormRefused, read_file_form
from lookalike.web.state import WebState


class UploadRequest(BaseModel):
    content_type: str | None = None


def router(web: WebState) -> APIRouter:
    routes = APIRouter()
    storage = web.env.storage

    @routes.post("/api/uploads", status_code=201, tags=["upload"], responses=schema.created(PresignedUpload, 415, 429))
    async def create_upload(request: Request, body: UploadRequest | None = None) -> Any:
        """A presigned POST (S3's shape) for uploading one photo straight to storage."""
        if (refused := web.rate.limited(request)) is not None:
            return refused
        try:
            return to_json(web.uploads.create(body.content_type if body else None))
        except UploadRefused as exc:
            web.metrics.refusal(exc.code)
            return error(exc.status, exc.code, exc.message)

    @routes.post("/storage/upload", status_code=204, tags=["upload"], response_class=Response, response_model=None)
    async def storage_upload(request: Request) -> Any:
        """The embedded storage's upload endpoint (a multipart form like S3's): fields, then ``file``."""
        if (refused := web.rate.limited(request)) is not None:  # before a byte of the body is read
            return refused
        try:
            how = "The upload is not a valid multipart form with a file field."
            fields, data, _ = await read_file_form(request, "file", storage.max_bytes, FORM_OVERHEAD, 20, how)
            await run_in_threadpool(storage.accept_upload, fields, data, web.client_of(request), web.quota)
        except (FormRefused, UploadRefused) as exc:
            web.metrics.refusal(exc.code)
            wait = exc.retry_after
            return error(exc.status, exc.code, exc.message, {"Retry-After": f"{wait:.0f}"} if wait else None)
        return Response(status_code=204)

    return routes
