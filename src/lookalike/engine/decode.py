"""Photo bytes -> an upright 8-bit RGB array, or a clear :class:`ImageError`.

People upload what their phone or camera made: JPEG (often rotated by an EXIF
tag), HEIC, PNG with transparency or 16-bit depth, CMYK JPEG, animated GIF,
WebP.  All of them become the same thing here.  Everything else, and anything
that would need too much memory to decode, or whose shape no camera makes (a
strip thousands of times longer than wide, which costs the detector minutes), is
refused before decoding.  Messages say what is wrong in plain words; the decoder's
own reason is logged, never shown.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lookalike.errors import ImageError
from lookalike.settings import Settings

try:  # HEIC/HEIF (iPhone photos)
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - the dependency is declared; without it HEIC is "not an image"
    pass

log = logging.getLogger(__name__)

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
    rotated: bool  # a valid EXIF orientation tag (2-8) turned or mirrored the picture


#: EXIF orientations that turn or mirror the picture (1 is upright; anything else is invalid and ignored).
TURNS = frozenset(range(2, 9))

DAMAGED = "This image file is damaged and cannot be read. Please upload the photo again, or another copy of it."


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
        log.info("refused a damaged image: %s: %s", type(exc).__name__, exc)
        raise ImageError(DAMAGED, code="corrupt") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageError("The image has no pixels.", code="corrupt")
    if width * height > settings.max_pixels:
        raise _too_large((width, height), settings)
    check_shape(width, height, settings)
    return image


#: Pictures up to this long side are cheap to scan whatever their shape (an icon, a banner, a test strip):
#: the shape limits apply above it.
SHAPE_FREE_SIDE = 4096


def check_shape(width: int, height: int, settings: Settings) -> None:
    """Refuse a shape no camera makes: sides further apart than ``max_aspect_ratio`` (phone panoramas,
    about 4:1 to 9:1, pass) or a long side over ``max_side``.  Such strips, tiny as files, cost the
    detector minutes; a picture up to ``SHAPE_FREE_SIDE`` px long is cheap whatever its shape."""
    long_side, short_side = max(width, height), min(width, height)
    if long_side <= SHAPE_FREE_SIDE:
        return
    if long_side > settings.max_aspect_ratio * short_side:
        raise ImageError(
            f"The image is {width}x{height} pixels: no camera makes that shape (the long side may be at most "
            f"{settings.max_aspect_ratio:g} times the short one). Please upload an ordinary photo.",
            code="bad_shape",
        )
    if long_side > settings.max_side:
        raise ImageError(
            f"The image is {width}x{height} pixels; its long side may be at most {settings.max_side} pixels. "
            "Please upload a smaller copy.",
            code="bad_shape",
        )


def load_image(data: bytes, settings: Settings | None = None) -> np.ndarray:
    """Decode ``data`` into an upright ``HxWx3`` uint8 RGB array (see module docstring)."""
    return decode(data, settings)[0]


def decode(data: bytes, settings: Settings | None = None) -> tuple[np.ndarray, ImageInfo]:
    """``data`` as an upright RGB array at full size, and what was learned decoding it."""
    settings = settings or Settings()
    return _decoded(probe(data, settings), settings, 1)


#: The reductions a JPEG decoder makes in the DCT domain, largest first: decoding at 1/2 skips most of
#: the work but reading the compressed data (a 12 MP photo: 13-35 ms against 65-86 ms in full).
DCT_REDUCTIONS = (8, 4, 2)
#: Formats whose Pillow decoder can reduce while decoding (``Image.draft``): JPEG, and phones' MPO.
DRAFT_FORMATS = frozenset({"JPEG", "MPO"})


@dataclass
class Photo:
    """A decoded photo: ``pixels`` (upright RGB) at ``scale`` of its full size (1, or 1/2, 1/4, 1/8
    when a JPEG was reduced while decoding), and the full picture decoded when first asked for.

    Coordinates everywhere are the full photo's: a point ``(x, y)`` of the photo is at
    ``(x * scale, y * scale)`` in ``pixels``."""

    pixels: np.ndarray
    scale: float
    info: ImageInfo
    _data: bytes | None = field(default=None, repr=False)
    _settings: Settings | None = field(default=None, repr=False)
    _full: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def of(cls, array: np.ndarray) -> Photo:
        """An array already decoded, as a photo at full scale."""
        height, width = array.shape[:2]
        return cls(array, 1.0, ImageInfo("array", width, height, rotated=False))

    @property
    def width(self) -> int:
        return self.info.width

    @property
    def height(self) -> int:
        return self.info.height

    def full(self) -> np.ndarray:
        """The photo at full size: ``pixels`` itself, or decoded again in full once (then kept)."""
        if self.scale == 1.0:
            return self.pixels
        if self._full is None:
            assert self._data is not None
            self._full = decode(self._data, self._settings)[0]
        return self._full


def decode_photo(
    data: bytes, settings: Settings | None = None, scale_for: Callable[[int, int], float] | None = None
) -> Photo:
    """``data`` decoded as small as ``scale_for(width, height)`` allows (the scale the caller needs of a
    photo of that full size; None: full size): a JPEG is reduced by the largest of
    ``DCT_REDUCTIONS`` that keeps at least that scale; other formats are decoded in full.  Every check
    of :func:`probe` applies to the full size, whatever is decoded."""
    settings = settings or Settings()
    image = probe(data, settings)
    reduction = 1
    if scale_for is not None and image.format in DRAFT_FORMATS:
        needed = scale_for(*upright_size(image))
        reduction = next((r for r in DCT_REDUCTIONS if 1 / r >= needed), 1)
    pixels, info = _decoded(image, settings, reduction)
    return Photo(pixels, 1.0 / reduction, info, data, settings)


def upright_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of ``image`` once turned by its EXIF orientation (5-8 turn it a quarter)."""
    width, height = image.size
    orientation = image.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _decoded(image: Image.Image, settings: Settings, reduction: int) -> tuple[np.ndarray, ImageInfo]:
    """Decode an image :func:`probe` opened, reduced ``reduction`` times in the DCT domain (a JPEG)."""
    fmt = image.format or "?"
    full_width, full_height = image.size
    try:
        image.seek(0)  # first frame of a GIF / WebP animation / multi-page TIFF
        if reduction > 1:
            image.draft(image.mode, (full_width // reduction, full_height // reduction))
        image.load()
        orientation = image.getexif().get(0x0112, 1)
        rotated = isinstance(orientation, int) and orientation in TURNS  # 0, 9, 300: invalid, left as it is
        upright = ImageOps.exif_transpose(image) if rotated else image
        array = _to_rgb8(upright)
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        reason = str(exc) or type(exc).__name__
        log.info("could not decode an image: %s: %s", type(exc).__name__, reason)
        if "truncated" in reason:
            raise ImageError(
                "The image file is incomplete: it ends before the picture does. Please upload it again.",
                code="truncated",
            ) from None
        raise ImageError(DAMAGED, code="corrupt") from None
    except MemoryError:
        raise _too_large((full_width, full_height), settings) from None
    turned = rotated and orientation in (5, 6, 7, 8)
    width, height = (full_height, full_width) if turned else (full_width, full_height)
    return array, ImageInfo(fmt, width, height, rotated=rotated)


#: Rows of a deep greyscale picture converted at a time: about this many pixels (a few MB of temporaries).
BAND_PIXELS = 1 << 20


def _to_rgb8(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to 8-bit RGB without losing the picture."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _deep_grey_to_rgb8(image)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))


def _deep_grey_to_rgb8(image: Image.Image) -> np.ndarray:
    """16/32-bit greyscale (I;16*, I, F) -> 8-bit RGB, rescaled (Pillow's convert("RGB") clips at 255:
    a white picture).  I;16: ``v // 257``; I: the same scale when its values pass 255, else as is;
    F: its maximum is white.  Done a band of rows at a time, in the image's own integers or float32,
    straight into the output: a 49 MP picture costs its RGB output and a few MB more, not the
    several 8-byte-per-pixel copies a float64 conversion of the whole picture makes."""
    mode, (width, height) = image.mode, image.size
    scale = None  # None: integer division by 257 (exact for 16 bits)
    if not mode.startswith("I;16"):
        low, high = image.getextrema()
        top = max(float(high), 1e-9) if mode == "F" else (65535.0 if high > 255 else 255.0)
        scale = np.float32(255.0 / top)
    out = np.empty((height, width, 3), dtype=np.uint8)
    rows = max(1, BAND_PIXELS // width)
    for top_row in range(0, height, rows):
        bottom = min(height, top_row + rows)
        band = np.asarray(image.crop((0, top_row, width, bottom)))
        grey = out[top_row:bottom, :, 0]
        if scale is None:
            np.floor_divide(band, 257, out=grey, casting="unsafe")
        else:
            values = band.astype(np.float32)
            np.multiply(values, scale, out=values)
            np.clip(values, 0, 255, out=values)
            grey[...] = values  # truncates, as astype(uint8) did
        out[top_row:bottom, :, 1] = grey
        out[top_row:bottom, :, 2] = grey
    return out


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
