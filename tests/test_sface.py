"""SFace: real landmarks on the ArcFace template (as OpenCV aligns them), real photos, size independence, batching."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from lookalike.engine.align import ARCFACE_SIZE, ARCFACE_TEMPLATE, align, similarity_transform
from lookalike.engine.embedding import Landmarks
from lookalike.engine.embedding.sface import SFace
from lookalike.engine.weights import ModelError, model_path
from lookalike.engine.yunet import Network
from lookalike.settings import Settings

from .conftest import DATA

PEOPLE = DATA / "small" / "face_recognition"


@pytest.fixture(scope="module")
def model_settings() -> Settings:
    """The installed models (``lookalike models install``) of the default home."""
    settings = Settings()
    try:
        model_path("sface", settings)
        model_path("yunet", settings)
    except ModelError as exc:
        pytest.skip(f"SFace/YuNet not installed: {exc}")
    return settings


@pytest.fixture(scope="module")
def sface(model_settings: Settings) -> SFace:
    return SFace(model_settings)


def _rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _points(rgb: np.ndarray, settings: Settings) -> np.ndarray:
    """YuNet's 5 points of the largest face, found on a copy at most 1,000 px long."""
    scale = min(1.0, 1000 / max(rgb.shape[:2]))
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    faces = Network(str(model_path("yunet", settings))).detect(np.ascontiguousarray(small[:, :, ::-1]))
    assert len(faces), "no face found"
    face = max(faces, key=lambda f: f[2] * f[3])
    return face[4:14].reshape(5, 2).astype(np.float64) / scale


def _photos(person: str) -> list[Path]:
    folder = PEOPLE / person
    if not folder.is_dir():
        pytest.skip(f"{folder} not found (set LOOKALIKE_DATA_DIR to the shared data folder)")
    return sorted(folder.iterdir())


def test_real_landmarks_land_on_the_template(model_settings: Settings) -> None:
    rgb = _rgb(_photos("Joseph_Biden")[0])
    points = _points(rgb, model_settings)
    matrix = similarity_transform(points, ARCFACE_TEMPLATE)
    mapped = points @ matrix[:, :2].T + matrix[:, 2]
    residual = np.linalg.norm(mapped - ARCFACE_TEMPLATE, axis=1)
    assert residual.max() < 8.0  # pixels of the 112-pixel chip: a face is close to the mean face
    # The eyes (the most stable points) land within a few pixels.
    assert residual[:2].max() < 5.0


def test_align_matches_opencv_align_crop(model_settings: Settings) -> None:
    """Our crop-then-warp equals FaceRecognizerSF.alignCrop on a photo of ordinary size."""
    rgb = _rgb(_photos("Kit_Harington")[0])
    scale = min(1.0, 1000 / max(rgb.shape[:2]))
    rgb = np.ascontiguousarray(cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    points = _points(rgb, model_settings)
    recognizer = cv2.FaceRecognizerSF.create(str(model_path("sface", model_settings)), "")
    row = np.zeros(15, dtype=np.float32)
    row[4:14] = points.ravel()
    theirs = recognizer.alignCrop(np.ascontiguousarray(rgb[:, :, ::-1]), row)[:, :, ::-1]
    ours = align(rgb, points)
    assert ours.shape == (ARCFACE_SIZE, ARCFACE_SIZE, 3)
    assert np.abs(ours.astype(int) - theirs.astype(int)).mean() < 1.0


def test_same_person_closer_than_different_people(model_settings: Settings, sface: SFace) -> None:
    obama = [_photos("Barack_Obama")[i] for i in (0, 1)]
    biden = _photos("Joseph_Biden")[0]
    vectors = []
    for path in [*obama, biden]:
        rgb = _rgb(path)
        vectors.append(sface.embed(rgb, [Landmarks(_points(rgb, model_settings))])[0])
    a, b, c = vectors
    for v in vectors:
        assert v.dtype == np.float32 and v.shape == (128,)
        assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    same = 1 - a @ b
    different = min(1 - a @ c, 1 - b @ c)
    assert same < different
    assert same < 0.6 < different  # well inside SFace's cosine-distance range for one / two people


def test_chip_of_a_12_mp_upscale_is_nearly_the_same(model_settings: Settings, sface: SFace) -> None:
    rgb = _rgb(_photos("Rose_Leslie")[0])
    points = _points(rgb, model_settings)
    factor = math.sqrt(12e6 / (rgb.shape[0] * rgb.shape[1]))
    big = cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    original = sface.embed(rgb, [Landmarks(points)])[0]
    upscaled = sface.embed(big, [Landmarks(points * factor)])[0]
    assert float(original @ upscaled) > 0.995
    # A plain warp of the full image (no area reduction) aliases the chip; ours does not.
    chip_small, chip_big = align(rgb, points), align(big, points * factor)
    assert np.abs(chip_small.astype(int) - chip_big.astype(int)).mean() < 2.0  # a plain warp: ~3.5


def test_batch_equals_one_by_one(model_settings: Settings, sface: SFace) -> None:
    chips = []
    for path in [*_photos("Barack_Obama")[:2], *_photos("Kit_Harington")[:2]]:
        rgb = _rgb(path)
        chips.append(align(rgb, _points(rgb, model_settings)))
    batch = sface.embed_chips(np.stack(chips))
    single = np.concatenate([sface.embed_chips(chip[None]) for chip in chips])
    assert np.abs(batch - single).max() < 1e-4


def test_flip_averages_the_mirror(model_settings: Settings) -> None:
    rgb = _rgb(_photos("Kit_Harington")[0])
    chip = align(rgb, _points(rgb, model_settings))[None]
    plain, flipped = SFace(model_settings), SFace(model_settings, flip=True)
    mirrored = plain.embed_chips(chip[:, :, ::-1])
    expected = plain.embed_chips(chip) + mirrored
    expected /= np.linalg.norm(expected)
    assert np.abs(flipped.embed_chips(chip) - expected).max() < 1e-4
    assert np.abs(flipped.embed_chips(chip) - plain.embed_chips(chip)).max() > 1e-3
