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
