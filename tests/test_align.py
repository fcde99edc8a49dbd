"""Alignment: the similarity transform, chips of faces outside the photo, one shared reduction for several chips."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lookalike.engine.align import (
    ARCFACE_SIZE,
    ARCFACE_TEMPLATE,
    DLIB_SIZE,
    DLIB_TEMPLATE,
    align,
    align_all,
    similarity_transform,
)
from lookalike.engine.engine import FaceEngine
from lookalike.settings import Settings

from .conftest import read_rgb


def test_similarity_transform_recovers_a_known_similarity() -> None:
    angle, scale, shift = math.radians(17), 3.5, np.array([400.0, 250.0])
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    points = ARCFACE_TEMPLATE @ (scale * rotation).T + shift  # the template, placed in a big photo
    matrix = similarity_transform(points, ARCFACE_TEMPLATE)
    mapped = points @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(mapped - ARCFACE_TEMPLATE).max() < 1e-9
    assert math.hypot(matrix[0, 0], matrix[0, 1]) == pytest.approx(1 / scale)


def test_face_outside_the_image_gives_a_black_chip() -> None:
    image = np.full((100, 100, 3), 200, dtype=np.uint8)
    chip = align(image, ARCFACE_TEMPLATE + 5000)
    assert chip.shape == (ARCFACE_SIZE, ARCFACE_SIZE, 3) and chip.max() == 0


def test_chips_cut_from_one_shared_reduction_match_chips_cut_one_by_one(data: Path) -> None:
    """``align_all`` reduces a big face's region once for both chips; the chips must not change."""
    import cv2

    image = read_rgb(data / "group" / "face_recognition__two_people.jpg")
    big = cv2.resize(image, None, fx=5, fy=5, interpolation=cv2.INTER_CUBIC)  # faces of ~800 px
    for face in FaceEngine(Settings()).analyze(big):
        points = np.asarray(face.landmarks, dtype=np.float64)
        shared = align_all(big, points, [(ARCFACE_TEMPLATE, ARCFACE_SIZE), (DLIB_TEMPLATE, DLIB_SIZE)])
        alone = [align(big, points), align(big, points, DLIB_TEMPLATE, DLIB_SIZE)]
        for a, b in zip(shared, alone):
            assert a.shape == b.shape
            assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0
