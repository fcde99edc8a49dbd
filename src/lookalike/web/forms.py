"""Reading a multipart form with one file: the declared length checked first, nothing left behind."""

from __future__ import annotations

from typing import Any

from lookalike.errors import Refused

FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the presigned fields around the file


class FormRefused(Refused):
    """A request body that is not the form asked for (no length, too large, no file)."""


async def read_file_form(
    request: Any,
    field: str,
    max_bytes: int,
    overhead: int,
    max_fields: int = 5,
    how: str = "",
    lists: tuple[str, ...] = (),
) -> tuple[dict[str, str], bytes, str]:
    """(text fields, the file's bytes, its file name); :class:`FormRefused` for anything else.  A text field
    given twice keeps its last value, but those named in ``lists`` keep all, joined by commas.

    The length must be declared and within the limit before anything is read; the form's spooled
    temporary file is closed (deleted) whatever happens, so a refused upload leaves nothing on disk.
    """
    how = how or f"Send the file as a multipart form field named {field!r}."
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise FormRefused(411, "length_required", "The upload must say its length.")
    if int(length) > max_bytes + overhead:
        raise FormRefused(413, "too_large", f"The file is over the {max_bytes / 2**20:.0f} MB limit.")
    try:
        form = await request.form(max_files=1, max_fields=max_fields)
    except Exception:  # starlette raises its own errors for malformed multipart
        raise FormRefused(400, "bad_form", how) from None
    try:
        upload = form.get(field)
        if upload is None or isinstance(upload, str):
            raise FormRefused(400, "no_file", how)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        for name in lists:
            if name in fields:
                fields[name] = ",".join(v for v in form.getlist(name) if isinstance(v, str))
        return fields, await upload.read(), upload.filename or "photo"
    finally:
        await form.close()
