"""Photo quality hints on real photos: a sharp frontal face gets none; blurred, dark, small and turned ones
get theirs.  The degraded copies are made here, in memory, from the real photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lookalike.engine.engine import Face, FaceEngine
from lookalike.engine.quality import HINTS, face_interior, measure, pose

from .conftest import read_rgb

FRONTAL = Path("small") / "face_recognition" / "Barack_Obama" / "Barack_Obama_0002.jpg"
#: Real profiles: Ben Affleck looks towards the image's left, Madonna too (eyes closed, side view).
PROFILES = [
    Path("small") / "five_celeb" / "Ben_Affleck" / "Ben_Affleck_0006.jpg",
    Path("small") / "five_celeb" / "Madonna" / "Madonna_0011.jpg",
]


def largest(engine: FaceEngine, image: np.ndarray) -> Face:
    faces = engine.analyze(image)
    assert faces, "no face found"
    face = max(faces, key=lambda f: f.size)
    assert face.measures is not None
    return face


@pytest.fixture(scope="module")
def frontal(data: Path) -> np.ndarray:
    return read_rgb(data / FRONTAL)


def test_a_sharp_frontal_face_gets_no_hint(engine: FaceEngine, frontal: np.ndarray) -> None:
    face = largest(engine, frontal)
    assert face.measures is not None and face.measures.hints == ()
    m = face.measures
    assert m.size == face.size and m.sharpness > 0.5 and 0.3 < m.brightness < 0.8
    assert m.yaw is not None and abs(m.yaw) < 15


def test_the_same_face_blurred_gets_blurred(engine: FaceEngine, frontal: np.ndarray) -> None:
    size = largest(engine, frontal).size
    blurred = cv2.GaussianBlur(frontal, (0, 0), 0.03 * size)
    m = largest(engine, blurred).measures
    assert m is not None and m.hints == ("blurred",), m


def test_the_same_face_darkened_gets_dark(engine: FaceEngine, frontal: np.ndarray) -> None:
    dark = (frontal.astype(np.float32) * 0.3).astype(np.uint8)  # the exposure cut to 0.3
    m = largest(engine, dark).measures
    assert m is not None and m.hints == ("dark",), m
    # Its sharpness is the photo's, not its brightness: the same within a few hundredths.
    sharp = largest(engine, frontal).measures
    assert sharp is not None and abs(m.sharpness - sharp.sharpness) < 0.1 * sharp.sharpness


def test_the_same_face_downscaled_gets_small_and_not_blurred(engine: FaceEngine, frontal: np.ndarray) -> None:
    size = largest(engine, frontal).size
    scale = 40 / size
    height, width = frontal.shape[:2]
    shrunk = cv2.resize(frontal, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    m = largest(engine, shrunk).measures
    assert m is not None and m.hints == ("small",), m  # measured at its own scale: small, but sharp
    assert m.size < 60


@pytest.mark.parametrize("photo", PROFILES, ids=lambda p: p.stem)
def test_a_real_profile_gets_turned(engine: FaceEngine, data: Path, photo: Path) -> None:
    image = read_rgb(data / photo)
    m = largest(engine, image).measures
    assert m is not None and "turned" in m.hints, m
    assert m.yaw is not None and m.yaw < -35  # towards the image's left
    # Yaw's sign follows the face: the mirror image of the same real photo looks the other way.
    mirrored = largest(engine, np.ascontiguousarray(image[:, ::-1])).measures
    assert mirrored is not None and mirrored.yaw is not None and mirrored.yaw > 35 and "turned" in mirrored.hints


def test_yaw_grows_as_the_nose_moves_towards_an_eye(engine: FaceEngine, frontal: np.ndarray) -> None:
    """On a real face's landmarks: the nose tip moved along the eye line, the yaw grows with it, in its sign."""
    points = np.array(largest(engine, frontal).landmarks, dtype=np.float64)
    eye_distance = float(np.linalg.norm(points[1] - points[0]))
    direction = (points[1] - points[0]) / eye_distance
    yaws = []
    for shift in (-0.4, -0.2, 0.0, 0.2, 0.4):
        moved = points.copy()
        moved[2] = points[2] + shift * eye_distance * direction
        yaws.append(pose(moved)[0])
    assert yaws == sorted(yaws) and yaws[0] < -25 and yaws[-1] > 25


def test_measures_do_not_depend_on_the_photo_size(engine: FaceEngine, frontal: np.ndarray) -> None:
    """The same face at 3x the resolution: the same sharpness, brightness and pose, within a little."""
    face = largest(engine, frontal)
    big = cv2.resize(frontal, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    upscaled = measure(big, np.array(face.landmarks, dtype=np.float64) * 3, face.size * 3)
    assert face.measures is not None
    assert abs(upscaled.sharpness - face.measures.sharpness) < 0.15 * face.measures.sharpness
    assert abs(upscaled.brightness - face.measures.brightness) < 0.02
    assert upscaled.yaw is not None and face.measures.yaw is not None and abs(upscaled.yaw - face.measures.yaw) < 1
    points = np.array(face.landmarks, dtype=np.float64)
    assert face_interior(big, points * 3).shape == face_interior(frontal, points).shape


def test_with_dlibs_landmarks_sharpness_is_measured_and_the_pose_is_not(settings, frontal: np.ndarray) -> None:
    """``LOOKALIKE_EMBEDDING=dlib``: dlib's points (eye corners, nose base) cut the same chip; no nose tip, no yaw."""
    dlib_engine = FaceEngine(settings.replace(embedding="dlib"))
    sharp = largest(dlib_engine, frontal).measures
    assert sharp is not None and sharp.hints == () and sharp.yaw is None and sharp.pitch is None
    blurred = largest(dlib_engine, cv2.GaussianBlur(frontal, (0, 0), 8)).measures
    assert blurred is not None and blurred.hints == ("blurred",)


def test_hints_are_named_in_their_order() -> None:
    assert HINTS == ("small", "blurred", "dark", "turned")
