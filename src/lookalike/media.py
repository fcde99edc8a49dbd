"""The photo formats lookalike accepts, by media type: shared by the decoder and the upload policies.

A module of its own (no imports) so that the upload side, which runs where no engine is installed
(a Lambda function), agrees with the decoder on what a photo is.
"""

MEDIA_TYPES: tuple[str, ...] = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/bmp",
    "image/tiff",
    "image/heic",
    "image/heif",
    "image/avif",
)

#: A photo file's media type by its suffix: what a gallery build reads and what benchmarks upload.
CONTENT_TYPES: dict[str, str] = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".avif": "image/avif",
}
#: The suffixes of photo files.
PHOTO_SUFFIXES: frozenset[str] = frozenset(CONTENT_TYPES)
