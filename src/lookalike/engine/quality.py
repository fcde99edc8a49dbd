"""How good a face's photo is for matching: its size, sharpness, brightness and pose, with hints in words.

Every measure is taken on what the engine already has for a face, with no second detection: its 5
landmarks and a small grey chip of it, cut on those landmarks onto the ArcFace template (the frame
SFace sees), so sharpness and brightness are measured at one face scale whatever the photo's size
(a face smaller than the chip at its own scale: enlarging it would blur it).  A face of a big photo
is first sampled down with a stride, so a face filling a 24 MP photo costs what a small one does
(0.2–1 ms a face).

* ``size``: the box's shorter side in the photo (px).
* ``sharpness``: the standard deviation of the Laplacian of the chip's face interior, divided by the
  standard deviation of its grey levels (so a darker or flatter photo of an equally sharp face scores
  the same): median 0.58 on celeb_mini, 0.35 on LFW's softer news scans; a Gaussian blur of 3% of the
  face's size brings it to ~0.1.
* ``brightness``: the mean grey level of the face interior, 0 (black) to 1 (white); ``contrast``:
  their standard deviation, same units.
* ``yaw`` and ``pitch`` (degrees, estimated): from the nose tip's offset from the eyes' midpoint in
  the face's own frame (eye line horizontal), relative to the eye distance, with a face model in which
  the nose tip is half an eye distance in front of the eyes.  ``yaw`` > 0: the face is turned towards
  the image's right (the person's left); ``pitch`` > 0: tilted down.  No ground truth in the data: the
  numbers order faces by how far they are turned rather than measure angles (a full profile reads
  ~45°: YuNet's points of a hidden eye stay near the nose).  Not estimated for dlib's landmarks
  (``LOOKALIKE_EMBEDDING=dlib``): None.

The hints' thresholds were chosen on LFW and checked on celeb_mini and the full-size photos
(``lookalike eval quality``; docs/engine.md, docs/results.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from lookalike.engine.align import ARCFACE_SIZE, ARCFACE_TEMPLATE, align, similarity_transform

# The thresholds: chosen on LFW (tune), measured on celeb_mini, small/ and group/ (check) with
# ``lookalike eval quality`` (docs/engine.md, docs/results.md).
#: A face is ``small`` under this many px (the box's shorter side): the ``quality`` field's "low".
SMALL_FACE = 60
#: ``blurred`` under this sharpness: the highest value giving at most 2% of LFW's faces the hint (1.3%).
BLURRED = 0.18
#: ``dark`` under this brightness: the lowest value giving the hint to 95% of LFW's faces with the
#: exposure cut to 0.3 (98.7%; none of LFW's faces as they are gets it below 0.28).
DARK = 0.2
#: ``turned`` beyond this |yaw| (degrees): at most 2% of LFW's faces (LFW's 98th percentile).  The
#: pitch is measured but gives no hint: its spread among normal faces (±10°, people's noses differ)
#: is as large as the tilts it could tell, and the data has no tilted faces to check it on.
TURNED_YAW = 35.0

#: The hints, in the order they are given, and what each says (the page and the CLI word them).
HINTS = ("small", "blurred", "dark", "turned")

#: The face interior of the 112 px ArcFace chip (rows, columns): eyes to chin, cheek to cheek,
#: leaving out the hair and background (a portrait's blurred background must not count).
INTERIOR = (slice(30, 104), slice(22, 90))
#: Where the nose tip is, between the eye line (0) and the mouth line (1), on a face looking straight
#: ahead: LFW's median (0.495 on the ArcFace template; YuNet puts the tip lower), so pitch 0 is LFW's usual.
FRONTAL_NOSE = 0.555
#: Eyes-to-mouth distance over eye distance on the frontal template.
FRONTAL_HEIGHT = float(
    (ARCFACE_TEMPLATE[3:, 1].mean() - ARCFACE_TEMPLATE[:2, 1].mean())
    / (ARCFACE_TEMPLATE[1, 0] - ARCFACE_TEMPLATE[0, 0])
)
#: The face model's nose depth: the tip this many eye distances in front of the eyes (anthropometry: ~0.5).
NOSE_DEPTH = 0.5


@dataclass(frozen=True)
class FaceQuality:
    """What a face's photo is like for matching (module doc), and the hints it earns."""

    size: int
    sharpness: float
    brightness: float
    contrast: float
    yaw: float | None  # None: not estimated (dlib's landmarks)
    pitch: float | None
    hints: tuple[str, ...]


def hints_for(size: int, sharpness: float, brightness: float, yaw: float | None) -> tuple[str, ...]:
    """The hints these measures earn, in :data:`HINTS`'s order."""
    earned = {
        "small": size < SMALL_FACE,
        "blurred": sharpness < BLURRED,
        "dark": brightness < DARK,
        "turned": yaw is not None and abs(yaw) > TURNED_YAW,
    }
    return tuple(name for name in HINTS if earned[name])


def eye_nose(points: np.ndarray, yunet_points: bool = True) -> np.ndarray:
    """The eye on the image's left, the other eye and the nose (3x2) of YuNet's 5 points (eye centres,
    nose tip, mouth corners) or dlib's (two corners of each eye, base of the nose)."""
    points = np.asarray(points, dtype=np.float64).reshape(5, 2)
    if yunet_points:
        return points[:3]
    eyes = sorted([points[:2].mean(0), points[2:4].mean(0)], key=lambda p: float(p[0]))
    return np.array([eyes[0], eyes[1], points[4]])


def pose(points: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees, estimated from YuNet's 5 points (module doc for the signs)."""
    points = np.asarray(points, dtype=np.float64).reshape(5, 2)
    left, right, nose = points[0], points[1], points[2]
    across = right - left
    distance = float(np.hypot(*across))
    if distance < 1e-6:
        return 0.0, 0.0
    u = across / distance
    down = np.array([-u[1], u[0]])
    middle = (left + right) / 2
    yaw = math.degrees(math.atan2(float((nose - middle) @ u) / distance, NOSE_DEPTH))
    mouth = float(((points[3] + points[4]) / 2 - middle) @ down)
    if mouth <= 1e-6:
        return yaw, 0.0
    nose_down = float((nose - middle) @ down) / mouth
    tan_pitch = (nose_down - FRONTAL_NOSE) * FRONTAL_HEIGHT / NOSE_DEPTH
    return yaw, math.degrees(math.atan(tan_pitch))


def face_interior(image: np.ndarray, points: np.ndarray, yunet_points: bool = True) -> np.ndarray:
    """The face's interior (:data:`INTERIOR`), grey, 0..1: cut on the ArcFace template, aligned on its
    eyes and nose (3 points of YuNet's or dlib's), at the 112 px chip's scale or, for a face smaller
    than that, at its own (a small face is not enlarged: enlarging would make it look blurred).  A big
    face's region is first sampled down with a stride to about twice the chip's scale (``align`` then
    warps a few hundred thousand pixels, not millions)."""
    three = eye_nose(points, yunet_points)
    matrix = similarity_transform(three, ARCFACE_TEMPLATE[:3])
    scale = math.hypot(matrix[0, 0], matrix[0, 1])  # chip px per photo px
    shrink = min(1.0, 1.0 / scale)  # the chip's size: 1 = 112 px, or the face's own scale
    size = max(16, round(ARCFACE_SIZE * shrink))
    step = max(1, int(1.0 / (2.0 * scale)))  # keeps >= 2 photo px per chip px, what ``align`` reduces to
    if step > 1:
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0, 1], [ARCFACE_SIZE, 0, 1], [0, ARCFACE_SIZE, 1], [ARCFACE_SIZE, ARCFACE_SIZE, 1]])
        spread = corners @ inverse.T
        height, width = image.shape[:2]
        left = max(0, int(spread[:, 0].min()) - step)
        top = max(0, int(spread[:, 1].min()) - step)
        right = min(width, int(spread[:, 0].max()) + step)
        bottom = min(height, int(spread[:, 1].max()) + step)
        if right > left and bottom > top:
            image = np.ascontiguousarray(image[top:bottom:step, left:right:step])
            three = (three - (left, top)) / step
    chip = cv2.cvtColor(align(image, three, ARCFACE_TEMPLATE[:3] * (size / ARCFACE_SIZE), size), cv2.COLOR_RGB2GRAY)
    rows, cols = (slice(round(s.start * size / ARCFACE_SIZE), round(s.stop * size / ARCFACE_SIZE)) for s in INTERIOR)
    return chip[rows, cols].astype(np.float32) / 255.0


def measure(image: np.ndarray, points: np.ndarray, size: int, yunet_points: bool = True) -> FaceQuality:
    """A face's :class:`FaceQuality`: ``points`` are its 5 landmarks (YuNet's, or dlib's when
    ``yunet_points`` is false: then the pose is not estimated, None), ``size`` its box's shorter side."""
    interior = face_interior(image, points, yunet_points)
    contrast = float(interior.std())
    laplacian = cv2.Laplacian(interior, cv2.CV_32F, ksize=1)
    sharpness = float(laplacian.std()) / max(contrast, 1e-3)
    brightness = float(interior.mean())
    yaw, pitch = pose(points) if yunet_points else (None, None)
    return FaceQuality(
        size=int(size),
        sharpness=round(sharpness, 3),
        brightness=round(brightness, 3),
        contrast=round(contrast, 3),
        yaw=None if yaw is None else round(yaw, 1),
        pitch=None if pitch is None else round(pitch, 1),
        hints=hints_for(size, sharpness, brightness, yaw),
    )
