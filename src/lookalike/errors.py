"""Errors a person can act on.

Each carries a short machine-readable ``code`` (used by the JSON output, the
API and the web page) and a message written for people.  Anything that is not
a :class:`LookalikeError` is a bug.
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
