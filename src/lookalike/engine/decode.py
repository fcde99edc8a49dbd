"""Photo bytes -> an upright 8-bit RGB array, or a clear :class:`ImageError`.

People upload what their phone or camera made: JPEG (often rotated by an EXIF
tag), HEIC, PNG with transparency or 16-bit depth, CMYK JPEG, animated GIF,
WebP.  All of them become the same thing here.  Everything else, and anything
that would need too much memory to decode, is refused before decoding.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lookalike.errors import ImageError
from lookalike.settings import Settings

try:  # HEIC/HEIF (iPhone photos)
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - the dependency is declared; without it HEIC is "not an image"
    pass

Image.init()  # load every plugin now, so that ``formats=`` below can name them

#: The decoders we let Pillow try.  Restricting the list keeps exotic (and risky) decoders such as
#: EPS, PSD or PDF away from uploaded bytes.  (Phones' MPO files open through the JPEG decoder.)
FORMATS: tuple[str, ...] = tuple(
    f for f in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "HEIF") if f in Image.OPEN
)
#: Media types of those formats, for upload policies.


@dataclass(frozen=True)
class ImageInfo:
    """What we learned about the file while decoding it."""

    format: str
    width: int
    height: int
    rotated: bool  # an EXIF orientation tag was applied


def probe(data: bytes, settings: Settings) -> Image.Image:
    """Open ``data`` lazily (header only) and check type and size; raise ImageError otherwise."""
    if not data:
        raise ImageError("The file is empty (0 bytes).", code="empty")
    try:
        with warnings.catch_warnings():
            # Pillow warns past ~89 MP; our own limit (below) is the one that counts.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise ImageError(
            "This file is not an image we can read (supported: JPEG, PNG, WebP, GIF, HEIC, AVIF, BMP, TIFF).",
            code="not_an_image",
        ) from None
    except Image.DecompressionBombError as exc:  # Pillow refuses past twice its own limit
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(None, settings, int(found.group(1)) if found else None) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"This image file is damaged: {exc}.", code="corrupt") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError("The image has no pixels.", code="corrupt")
    if width * height > settings.max_pixels:
        raise _too_large((width, height), settings)
    return image


def load_image(data: bytes, settings: Settings | None = None) -> np.ndarray:
    """Decode ``data`` into an upright ``HxWx3`` uint8 RGB array (see module docstring)."""
    return decode(data, settings)[0]


def decode(data: bytes, settings: Settings | None = None) -> tuple[np.ndarray, ImageInfo]:
    settings = settings or Settings()
    image = probe(data, settings)
    fmt = image.format or "?"
    try:
        image.seek(0)  # first frame of a GIF / WebP animation / multi-page TIFF
        image.load()
        orientation = image.getexif().get(0x0112, 1)
        upright = ImageOps.exif_transpose(image) if orientation not in (1, None) else image
        array = _to_rgb8(upright)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason:
            raise ImageError(
                "The image file is truncated (it ends before the picture does); please upload it again.",
                code="truncated",
            ) from None
        raise ImageError(f"This image file is damaged and cannot be decoded ({reason}).", code="corrupt") from None
    except MemoryError:
        raise _too_large(image.size, settings) from None
    height, width = array.shape[:2]
    return array, ImageInfo(fmt, width, height, rotated=orientation not in (1, None))


def _to_rgb8(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to 8-bit RGB without losing the picture."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16/32-bit greyscale: Pillow's convert("RGB") clips at 255 (a white picture); rescale instead.
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        if mode == "F":
            top = max(float(values.max(initial=1.0)), 1e-9)
        grey = np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def _too_large(size: tuple[int, int] | None, settings: Settings, pixels: int | None = None) -> ImageError:
    limit = settings.max_pixels / 1e6
    if size is None:
        about = f" ({pixels / 1e6:.0f} megapixels)" if pixels else ""
        text = f"The image is too large to decode safely{about}; the limit is {limit:.0f} megapixels."
    else:
        mp = size[0] * size[1] / 1e6
        text = (
            f"The image is {size[0]}x{size[1]} ({mp:.0f} megapixels); the limit is {limit:.0f} megapixels. "
            "Please upload a smaller copy."
        )
    return ImageError(text, code="too_large")
