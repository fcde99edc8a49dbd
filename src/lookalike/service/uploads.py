"""Use case: hand a browser a presigned upload, the same for the embedded storage and for S3."""

from __future__ import annotations

import uuid

from lookalike.errors import UploadRefused
from lookalike.service.ports import ObjectStorage, PresignedUpload


class UploadService:
    def __init__(self, storage: ObjectStorage, allowed_types: tuple[str, ...] | list[str]) -> None:
        self.storage = storage
        self.allowed_types = tuple(allowed_types)

    def create(self, content_type: object = None) -> PresignedUpload:
        """A presigned POST for a new key ``uploads/<uuid4>``; refuses a type that is not a photo (415)."""
        if content_type is not None and content_type not in self.allowed_types:
            raise UploadRefused(
                415,
                "bad_content_type",
                f"Files of type {str(content_type)[:60] or 'unknown'!r} are not accepted; "
                "upload a photo (JPEG, PNG, WebP, GIF, HEIC, AVIF, BMP or TIFF).",
            )
        assert content_type is None or isinstance(content_type, str)
        return self.storage.presign_upload(f"uploads/{uuid.uuid4()}", content_type)
