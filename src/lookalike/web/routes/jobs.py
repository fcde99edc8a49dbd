"""Jobs and results: a job's state, a synchronous match, and the gallery's thumbnails and aligned faces a
result names."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from lookalike.documents import to_json
from lookalike.errors import Refused
from lookalike.person_filter import FIELDS, OCCUPATION_GROUPS, PersonFilter, bad_filter
from lookalike.service.ports import JobView
from lookalike.service.results import PhotoResult
from lookalike.web import schema
from lookalike.web.errors import error
from lookalike.web.forms import FORM_OVERHEAD, read_file_form
from lookalike.web.state import WebState
from lookalike.web.sync_match import Busy

GROUPS = ", ".join(OCCUPATION_GROUPS)


def router(web: WebState) -> APIRouter:
    routes = APIRouter()
    settings = web.settings

    @routes.get("/api/jobs/{job_id}", tags=["jobs"], responses=schema.responses(JobView, 404))
    async def get_job(job_id: str) -> Any:
        """A job's state, and its result once finished (kept for ``job_ttl_seconds``)."""
        job = await run_in_threadpool(web.env.jobs.get, job_id)
        if job is None:
            return error(404, "unknown_job", "No such job (results are kept for a limited time).")
        return to_json(job.view())

    @routes.get("/api/faces/{face_id}/thumbnail", tags=["gallery"], response_class=Response)
    def thumbnail(face_id: str) -> Response:
        """The small JPEG of a gallery face (``face_id``: the number a result gives)."""
        return face_image(face_id, web.thumbnail, "thumbnail")

    @routes.get("/api/faces/{face_id}/aligned", tags=["gallery"], response_class=Response)
    def aligned(face_id: str) -> Response:
        """The aligned face of a gallery face (a 184x184 JPEG, eyes on one line; ``face_id``: the number a
        result gives); 404 for a face the gallery has no aligned face of."""
        return face_image(face_id, web.aligned, "aligned face")

    @routes.post("/api/match", tags=["match"], responses=schema.responses(PhotoResult, 400, 413, 422, 429, 503))
    async def match_now(
        request: Request,
        sex: str | None = Query(None, description="Compare with: female, male or other (default: everyone)."),
        occupation: list[str] | None = Query(
            None,
            description="Occupation groups (repeat, or comma-separate): "
            + GROUPS
            + "; a person in any of them passes.",
        ),
        born_after: str | None = Query(None, description="Only people born after this year (strict)."),
        born_before: str | None = Query(None, description="Only people born before this year (strict)."),
        living: str | None = Query(None, description="true: only living people; false: only the dead."),
        explain: str | None = Query(
            None, description="true: also say which parts of the faces agree (``why``) for the top matches."
        ),
    ) -> Any:
        """Match a photo synchronously (multipart field ``photo``); the same JSON as the ``matched`` event.

        Whom to compare with: the query parameters, or form fields of the same names (a query parameter wins
        over a form field; anything else, or a value that cannot be read, is ``bad_filter``, 400).  At most
        ``match_max_concurrent`` calls run or wait at once; more get 503 with ``Retry-After``.  The photo is
        read before a place is taken: a slow upload holds no place."""
        if (refused := web.rate.limited(request)) is not None:
            return refused
        try:
            unknown = sorted(set(request.query_params) - set(FIELDS) - {"explain"})
            if unknown:
                raise bad_filter(f"Unknown parameter {unknown[0][:40]!r}: use {', '.join(FIELDS)}.")
            how = "Send the photo as a multipart form field named 'photo'."
            fields, data, name = await read_file_form(
                request, "photo", settings.max_upload_bytes, FORM_OVERHEAD, 16, how, ("occupation",)
            )
            fields.pop("photo", None)
            wants_why = yes_or_no(explain if explain is not None else fields.pop("explain", None))
            fields.pop("explain", None)
            query = dict(sex=sex, born_after=born_after, born_before=born_before, living=living)
            query["occupation"] = ",".join(occupation) if occupation else None
            person_filter = PersonFilter.from_fields(fields | {k: v for k, v in query.items() if v})
        except Refused as exc:
            return error(exc.status, exc.code, exc.message)
        try:
            web.sync.enter()
        except Busy as busy:
            web.metrics.refusal("busy")
            return error(503, "busy", "Matching is busy; try again shortly.", {"Retry-After": str(busy.retry_after)})
        try:
            return await match_photo(web, data, name, person_filter, wants_why)
        finally:
            web.sync.leave()

    return routes


def face_image(face_id: str, read: Callable[[int], bytes | None], what: str) -> Response:
    """A gallery face's JPEG that ``read`` gives for its number, or 404."""
    number = int(face_id) if face_id.isascii() and face_id.isdigit() and len(face_id) <= 18 else None
    data = None
    if number is not None:  # anything else (a word, a number SQLite cannot hold) is simply not a face
        data = read(number)
    if not data:
        return error(404, "not_found", f"No {what} for face {face_id[:20]!r}.")
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400"})


def yes_or_no(value: str | None) -> bool:
    """``explain``'s value: true/false, 1/0 or absent (false); anything else is refused (``bad_explain``)."""
    if value is None or value.strip().lower() in ("", "false", "0", "no"):
        return False
    if value.strip().lower() in ("true", "1", "yes"):
        return True
    raise Refused(400, "bad_explain", f"explain is true or false, not {value[:20]!r}.")


async def match_photo(
    web: WebState, data: bytes, name: str, person_filter: PersonFilter | None = None, explain: bool = False
) -> Any:
    """The result document of one photo (with its thumbnails' URLs), counted in the metrics."""
    start = time.perf_counter()
    result = (await web.sync.match(data, name, person_filter, explain)).public(
        web.settings.thumbnail_url, web.settings.aligned_url
    )
    web.metrics.matched_now(result, time.perf_counter() - start)
    if result.error:
        return JSONResponse(to_json(result), status_code=422 if result.error.code != "too_large" else 413)
    return to_json(result)
