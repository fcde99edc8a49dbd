"""Errors a person can act on.

Each carries a short machine-readable ``code`` (used by the JSON output, the
API and the web page) and a message written for people.  Anything that is not
a :class:`LookalikeError` is a bug.  The family::

    LookalikeError
    ├── ImageError          the bytes are not a photo we can read (a result's ``error``)
    ├── GalleryError        the gallery is missing, damaged or of another version
    ├── ConfigurationError  a setting the profile needs is missing or wrong
    └── Refused             a request refused as sent, with its HTTP ``status``
        ├── UploadRefused   an upload (presign, policy, quota, type)
        └── JobError        a WebSocket message about a job

Every entry point turns one into the same envelope: ``{"error": {"code", "message"}}``
(:func:`lookalike.service.results.error_body`).
"""

from __future__ import annotations


class LookalikeError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0])


class ImageError(LookalikeError):
    """The bytes given are not a photo we can read."""

    code = "bad_image"


class GalleryError(LookalikeError):
    """The gallery is missing, of another format version, or asked for something it lacks."""

    code = "bad_gallery"


class ConfigurationError(LookalikeError):
    """A setting the chosen profile needs is missing or wrong."""

    code = "bad_configuration"


class Refused(LookalikeError):
    """A request that cannot be honoured as sent: ``status`` is its HTTP status, ``code`` goes to the client,
    ``retry_after`` (seconds) is set for a refusal that will pass (a quota, a rate limit)."""

    status = 400

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.retry_after = retry_after


class UploadRefused(Refused):
    """An upload that must not be stored (a forged, expired or reused presign, a quota, a wrong type)."""


class JobError(Refused):
    """A message about a job that cannot be honoured (a WebSocket ``match`` or ``resume``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(400, code, message)
