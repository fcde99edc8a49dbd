"""Decoding: every format people upload becomes upright RGB; everything else is a clear ImageError."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.engine.decode import decode, load_image
from lookalike.engine.engine import FaceEngine
from lookalike.errors import ImageError
from lookalike.settings import Settings

from .conftest import jpeg_bytes, read_rgb

S = Settings()


def _error(data: bytes, settings: Settings = S) -> ImageError:
    with pytest.raises(ImageError) as info:
        decode(data, settings)
    return info.value


def _png_header_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge picture: the classic decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_empty_file() -> None:
    err = _error(b"")
    assert err.code == "empty" and "empty" in err.message


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is text",
        b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
        b"8BPS\x00\x01" + b"\0" * 40,
    ],
    ids=["text", "pdf", "svg", "eps", "psd"],
)
def test_not_an_image_or_wrong_type(data: bytes) -> None:
    err = _error(data)
    assert err.code == "not_an_image"
    assert "not an image" in err.message


def test_truncated_jpeg() -> None:
    rng = np.random.default_rng(1)
    data = jpeg_bytes(rng.integers(0, 255, (400, 400, 3), dtype=np.uint8))
    err = _error(data[: len(data) // 2])
    assert err.code == "truncated"
    assert "incomplete" in err.message


def test_hundred_megapixel_bomb_is_refused_before_decoding() -> None:
    err = _error(_png_header_bomb(10_000, 10_000))
    assert err.code == "too_large"
    assert "100 megapixels" in err.message and "limit is 50" in err.message


def test_real_large_image_over_a_lower_limit() -> None:
    data = jpeg_bytes(np.zeros((1000, 1200, 3), np.uint8))
    err = _error(data, Settings(max_pixels=1_000_000))
    assert err.code == "too_large"
    assert decode(data, Settings(max_pixels=1_200_000))[0].shape == (1000, 1200, 3)


def _picture() -> Image.Image:
    rng = np.random.default_rng(2)
    return Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF"])
def test_formats_people_upload(fmt: str) -> None:
    out = io.BytesIO()
    _picture().save(out, fmt)
    array, info = decode(out.getvalue(), S)
    assert array.shape == (60, 80, 3) and array.dtype == np.uint8
    assert info.format == fmt


def test_rgba_is_composited_on_white() -> None:
    image = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    assert load_image(out.getvalue()).reshape(-1, 3).min(axis=0).tolist() == [255, 255, 255]


def test_16_bit_greyscale_keeps_its_picture() -> None:
    ramp = (np.linspace(0, 65535, 256, dtype=np.uint32)[None, :].repeat(8, 0)).astype(np.uint16)
    out = io.BytesIO()
    Image.fromarray(ramp).save(out, "PNG")
    array = load_image(out.getvalue())
    assert array[0, 0, 0] == 0 and array[0, -1, 0] == 255 and 120 < array[0, 128, 0] < 135


def _old_deep_grey(values: np.ndarray, mode: str) -> np.ndarray:
    """The float64 conversion deep greyscale had before it was done in bands (the reference picture)."""
    values = values.astype(np.float64)
    top = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
    if mode == "F":
        top = max(float(values.max(initial=1.0)), 1e-9)
    return np.clip(values * (255.0 / top), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("mode", "low", "high", "fmt"),
    [
        ("I;16", 0, 65535, "PNG"),
        ("I;16B", 0, 65535, "TIFF"),
        ("I", -5000, 70000, "TIFF"),
        ("I", 0, 255, "TIFF"),  # 8-bit values in 32 bits: kept as they are
        ("F", -0.5, 3.75, "TIFF"),
    ],
)
def test_deep_greyscale_in_bands_is_the_same_picture(
    mode: str, low: float, high: float, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lookalike.engine.decode as decode_module

    monkeypatch.setattr(decode_module, "BAND_PIXELS", 1000)  # many bands, a last short one
    rng = np.random.default_rng(7)
    dtype = {"I;16": np.uint16, "I;16B": np.uint16, "I": np.int32, "F": np.float32}[mode]
    values = rng.uniform(low, high, size=(37, 101)).astype(dtype)
    values[0, :4] = [low, high, 257, 514] if mode != "F" else [low, high, 0, 1]
    image = Image.fromarray(values) if mode in ("I;16", "I", "F") else Image.fromarray(values).convert(mode)
    out = io.BytesIO()
    image.save(out, fmt)
    array = load_image(out.getvalue())
    assert Image.open(io.BytesIO(out.getvalue())).mode == mode
    assert array.shape == (37, 101, 3) and array.dtype == np.uint8
    assert (array[:, :, 0] == array[:, :, 1]).all() and (array[:, :, 0] == array[:, :, 2]).all()
    reference = _old_deep_grey(np.asarray(Image.open(io.BytesIO(out.getvalue()))), mode)
    assert np.abs(array[:, :, 0].astype(int) - reference).max() <= 1


PEAK_SCRIPT = """
import io, sys
import numpy as np
from PIL import Image
from lookalike.engine.decode import decode
mode, fmt = sys.argv[1], sys.argv[2]
image = Image.new(mode, (7000, 7000))
out = io.BytesIO()
image.save(out, fmt, **({"compression": "tiff_adobe_deflate"} if fmt == "TIFF" else {}))
data = out.getvalue()
del image, out
def status(key):
    return int(next(line for line in open("/proc/self/status") if line.startswith(key)).split()[1]) * 1024
open("/proc/self/clear_refs", "w").write("5")  # the peak starts again from here
base = status("VmRSS")
array, _ = decode(data)
print(status("VmHWM") - base, array.nbytes)
"""


@pytest.mark.parametrize(("mode", "fmt"), [("I;16", "PNG"), ("I", "TIFF"), ("F", "TIFF")])
def test_a_49_megapixel_deep_greyscale_picture_decodes_in_little_memory(mode: str, fmt: str) -> None:
    """7000x7000 16-bit PNG (95 KB) and 32-bit TIFFs: the peak above the start is Pillow's own picture and
    the RGB output (3 bytes a pixel), under 3x the output; the float64 conversion peaked at ~9x (1.2 GB)."""
    import subprocess
    import sys

    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc to measure the peak memory")
    run = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, mode, fmt], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    peak, output = map(int, run.stdout.split())
    assert output == 7000 * 7000 * 3
    assert peak < 3 * output, f"peak {peak / 2**20:.0f} MB above the start for a {output / 2**20:.0f} MB picture"


def test_greyscale_and_cmyk() -> None:
    grey = io.BytesIO()
    Image.new("L", (20, 10), 77).save(grey, "JPEG")
    assert load_image(grey.getvalue()).shape == (10, 20, 3)
    cmyk = io.BytesIO()
    Image.new("CMYK", (20, 10), (0, 255, 255, 0)).save(cmyk, "JPEG")
    r, g, b = load_image(cmyk.getvalue())[5, 5].tolist()
    assert r > 200 and g < 60 and b < 60  # red survives the CMYK round trip


def test_animated_gif_gives_first_frame() -> None:
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:])
    r, _, b = load_image(out.getvalue())[0, 0].tolist()
    assert r > 200 and b < 50


@pytest.mark.parametrize(
    "orientation,turn",
    [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270), (3, Image.Transpose.ROTATE_180)],
)
def test_exif_orientation_is_applied(orientation: int, turn: Image.Transpose) -> None:
    upright = np.zeros((40, 80, 3), np.uint8)
    upright[:, :10] = 255  # a white band on the left edge
    stored = Image.fromarray(upright).transpose(turn)  # how a phone stores a turned photo
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    stored.save(out, "JPEG", exif=exif.tobytes(), quality=95)
    array, info = decode(out.getvalue(), S)
    assert info.rotated
    assert array.shape == (40, 80, 3)
    assert array[:, :8].mean() > 200 and array[:, 20:].mean() < 30


def test_rotated_phone_photo_still_finds_the_face(data: Path, engine) -> None:  # type: ignore[no-untyped-def]
    upright = read_rgb(data / "small" / "face_recognition" / "Barack_Obama" / "Barack_Obama_0001.jpg")
    stored = np.ascontiguousarray(np.rot90(upright, k=1))  # sensor orientation; EXIF says turn it back
    exif = Image.Exif()
    exif[0x0112] = 6
    data_bytes = jpeg_bytes(stored, exif=exif.tobytes())
    hog_only = FaceEngine(Settings(detector="hog", embedding="dlib"))
    assert hog_only.detect(stored) == [], "a sideways face is invisible to HOG (else this test proves nothing)"
    for detector in (hog_only, engine):  # HOG, and the default detector
        faces = detector.analyze(load_image(data_bytes))
        assert len(faces) == 1
        reference = detector.analyze(upright)[0]
        got, want = faces[0].box, reference.box  # the rotated copy went through JPEG once more: a pixel may move
        tolerance = max(2, (want.right - want.left) // 50)
        assert all(
            abs(a - b) <= tolerance
            for a, b in zip((got.left, got.top, got.right, got.bottom), (want.left, want.top, want.right, want.bottom))
        ), (got, want)
        # One more JPEG generation moves YuNet's points by ~1-2% of the face (engine/yunet.py REFINE_FACES),
        # dlib's by less: the same face all the same, far under 0.6.
        assert np.linalg.norm(faces[0].embedding - reference.embedding) < (0.05 if detector is hog_only else 0.15)


# -- shapes no camera makes, invalid EXIF, the decoder's own words ---------------------------------


@pytest.mark.parametrize("size", [(1, 49_000_000), (49_000_000, 1), (3, 16_000_000), (16_000_000, 3)])
def test_thin_png_is_refused_before_decoding(size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Strips under the pixel limit that took the detector minutes each: refused from the header alone."""

    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    err = _error(_png_header_bomb(*size))
    assert err.code == "bad_shape"
    assert f"{size[0]}x{size[1]}" in err.message and "no camera makes that shape" in err.message


def test_a_small_picture_of_any_shape_is_cheap_and_decodes() -> None:
    out = io.BytesIO()
    Image.new("RGB", (4096, 2), (90, 120, 150)).save(out, "PNG")
    assert decode(out.getvalue(), S)[0].shape == (2, 4096, 3)
    assert _error(_png_header_bomb(4097, 2)).code == "bad_shape"


def test_a_long_side_over_the_limit_is_refused() -> None:
    err = _error(_png_header_bomb(30_000, 4_000))  # 4:1 and 120 MP: too large first
    assert err.code == "too_large"
    err = _error(_png_header_bomb(22_000, 2_000), Settings(max_pixels=100_000_000))
    assert err.code == "bad_shape" and "at most 20000 pixels" in err.message


@pytest.mark.parametrize("size", [(12_000, 1_500), (1_500, 12_000), (18_000, 2_000), (20_000, 1_667)])
def test_phone_panoramas_still_decode(size: tuple[int, int]) -> None:
    """Phone panoramas are about 4:1 to 9:1 (a 360-degree one the widest): they pass."""
    out = io.BytesIO()
    Image.new("RGB", size, (90, 120, 150)).save(out, "PNG")
    array, info = decode(out.getvalue(), S)
    assert array.shape == (size[1], size[0], 3) and (info.width, info.height) == size


def test_shape_limits_are_settings() -> None:
    out = io.BytesIO()
    Image.new("RGB", (8000, 2000), (90, 120, 150)).save(out, "PNG")
    assert _error(out.getvalue(), Settings(max_aspect_ratio=3)).code == "bad_shape"
    assert _error(out.getvalue(), Settings(max_side=6000)).code == "bad_shape"
    assert decode(out.getvalue(), S)[1].width == 8000
    env = Settings.from_env({"LOOKALIKE_MAX_ASPECT_RATIO": "5", "LOOKALIKE_MAX_SIDE": "9000"})
    assert (env.max_aspect_ratio, env.max_side) == (5.0, 9000)


@pytest.mark.parametrize("orientation", [0, 9, 300])
def test_invalid_exif_orientation_is_not_reported_as_rotated(orientation: int) -> None:
    stored = np.zeros((40, 80, 3), np.uint8)
    stored[:, :10] = 255  # a white band on the left edge
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    Image.fromarray(stored).save(out, "PNG", exif=exif.tobytes())
    array, info = decode(out.getvalue(), S)
    assert not info.rotated
    assert np.array_equal(array, stored)  # left as it is


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _damaged_png() -> bytes:
    """A PNG whose header is fine and whose pixel data is not zlib at all."""
    ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"not pixels " * 20) + _chunk(b"IEND", b"")


def _truncated_png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()[:5000]


def _pillow_says(data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception as exc:
        return str(exc)
    raise AssertionError("Pillow read it")


@pytest.mark.parametrize("make", [_damaged_png, _truncated_png], ids=["damaged", "truncated"])
def test_a_damaged_files_message_has_no_pillow_text(
    make: Callable[[], bytes], caplog: pytest.LogCaptureFixture
) -> None:
    data = make()
    internal = _pillow_says(data)
    with caplog.at_level("INFO", logger="lookalike.engine.decode"):
        err = _error(data)
    assert err.code in ("corrupt", "truncated")
    assert internal not in err.message and "(" not in err.message
    assert "Please upload" in err.message or "please upload" in err.message
    assert internal in caplog.text  # the reason is logged for whoever runs the server


# -- decoded reduced: only the pixels detection needs, the full photo when a small face needs it -----


def _phone_photo(data: Path, size: tuple[int, int] = (4032, 3024), orientation: int = 1) -> bytes:
    """A real portrait enlarged to a phone's 12 MP and saved as a JPEG, with an EXIF orientation."""
    upright = Image.open(data / "small" / "face_recognition" / "Barack_Obama" / "Barack_Obama_0001.jpg").convert("RGB")
    big = upright.resize(size, Image.Resampling.BICUBIC)
    turns = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}
    stored = big.transpose(turns[orientation]) if orientation in turns else big
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    stored.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_a_big_jpeg_is_decoded_reduced_as_asked_and_upright(data: Path, orientation: int) -> None:
    from lookalike.engine.decode import decode_photo

    raw = _phone_photo(data, orientation=orientation)
    full, info = decode(raw, S)
    photo = decode_photo(raw, S, lambda width, height: 0.5 if (width, height) == (4032, 3024) else 1.0)
    assert photo.scale == 0.5 and photo.pixels.shape == (1512, 2016, 3)
    assert (
        (photo.width, photo.height, photo.info.rotated)
        == (4032, 3024, orientation != 1)
        == (info.width, info.height, info.rotated)
    )
    halved = np.asarray(Image.fromarray(full).reduce(2), np.float32)
    assert np.abs(photo.pixels.astype(np.float32) - halved).mean() < 3  # the same picture, the same way up
    assert photo._full is None and np.array_equal(photo.full(), full)  # the full photo only when asked for
    assert decode_photo(raw, S, lambda w, h: 0.26).scale == 0.5  # never smaller than asked
    assert decode_photo(raw, S, lambda w, h: 0.25).scale == 0.25
    assert decode_photo(raw, S).scale == 1.0


def test_only_jpegs_are_reduced_and_every_limit_applies_to_the_full_size(data: Path) -> None:
    from lookalike.engine.decode import decode_photo

    png = io.BytesIO()
    Image.open(io.BytesIO(_phone_photo(data, (2000, 1500)))).save(png, "PNG")
    assert decode_photo(png.getvalue(), S, lambda w, h: 0.5).scale == 1.0
    with pytest.raises(ImageError) as refused:  # 12 MP over a 10 MP limit, though 3 MP would be decoded
        decode_photo(_phone_photo(data), Settings(max_pixels=10_000_000), lambda w, h: 0.5)
    assert refused.value.code == "too_large"
    with pytest.raises(ImageError) as bomb:
        decode_photo(_png_header_bomb(20_000, 20_000), S, lambda w, h: 0.125)
    assert bomb.value.code == "too_large"
    truncated = _phone_photo(data)[:200_000]
    with pytest.raises(ImageError) as cut:
        decode_photo(truncated, S, lambda w, h: 0.5)
    assert cut.value.code == "truncated"


def test_faces_described_from_the_reduced_copy_match_the_full_photo(data: Path, engine: FaceEngine) -> None:
    """A big face is described from the half-size decode (the full photo is never decoded), and its
    box, points and embedding are those of the full photo's; a small face decodes the full photo."""
    from lookalike.engine.decode import decode_photo

    raw = _phone_photo(data)
    photo = decode_photo(raw, S, engine.decode_scale)
    assert photo.scale == 0.5
    (face,) = engine.analyze(photo)
    assert photo._full is None  # a 12 MP portrait: everything came from the 3 MP copy
    (reference,) = engine.analyze(decode(raw, S)[0])
    assert np.abs(np.subtract(face.points, reference.points)).max() < 0.01 * face.size
    assert np.linalg.norm(face.embedding - reference.embedding) < 0.06  # resampling alone: the same face
    assert abs(face.box.width - reference.box.width) <= 0.02 * reference.box.width
    assert face.measures is not None and face.measures.size == face.size == reference.size
    # the aligned face ("why you look alike") is cut from the reduced copy too, and looks the same
    ours, theirs = engine.aligned(photo, face), engine.aligned(decode(raw, S)[0], face)
    assert photo._full is None and ours.image.shape == theirs.image.shape == (184, 184, 3)
    assert np.abs(ours.image.astype(np.float32) - theirs.image.astype(np.float32)).mean() < 4
    assert np.allclose(ours.points, theirs.points, atol=1e-6)

    small = io.BytesIO()  # the same portrait, small, pasted into a 12 MP photo: its face is ~130 px
    canvas = Image.new("RGB", (4032, 3024), (90, 110, 100))
    canvas.paste(
        Image.open(data / "small" / "face_recognition" / "Barack_Obama" / "Barack_Obama_0001.jpg").reduce(2),
        (1500, 1000),
    )
    canvas.save(small, "JPEG", quality=92)
    photo = decode_photo(small.getvalue(), S, engine.decode_scale)
    found = engine.detect(photo)
    (face,) = engine.describe(photo, found)
    assert photo._full is not None  # described from the full photo: exactly as from the full array
    (reference,) = engine.describe(decode(small.getvalue(), S)[0], found)
    assert np.array_equal(face.embedding, reference.embedding) and face.box == reference.box
