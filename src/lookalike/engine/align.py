"""Face alignment: a face's 5 landmarks onto a template, cut as a small chip a network embeds.

Alignment is a similarity transform (Umeyama, least squares) cut from a *crop of the right size*:
for a big face the region around it is first reduced with an area filter to about twice the chip's
scale, so the work does not grow with the photo's resolution and the chip is not aliased.

Landmarks are YuNet's order, in image coordinates: the eye on the image's left (the person's right
eye), the other eye, the nose tip, the mouth corner on the image's left, the other mouth corner.
Images are RGB uint8 (the engine's convention).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: The standard ArcFace 112x112 template (InsightFace's ``arcface_dst``), YuNet's point order.
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
ARCFACE_SIZE = 112

#: dlib's 150x150 chip (padding 0.25) in YuNet's point order, so dlib's ResNet can take YuNet's landmarks:
#: ``align(image, points, DLIB_TEMPLATE, DLIB_SIZE)``.  Measured: YuNet's points on dlib's own chips of 300
#: LFW photos, averaged (``lookalike.evaluation.zoo.dlib_template``).
DLIB_TEMPLATE = np.array(
    [[47.37, 44.51], [100.60, 44.19], [73.37, 76.29], [51.61, 102.15], [97.52, 102.05]], dtype=np.float64
)
DLIB_SIZE = 150  # the side of dlib's own chips, its ResNet's input (``resnet.CHIP_SIZE``)

#: A chip: the template the 5 points are mapped onto, and the chip's side (px).
Chip = tuple[np.ndarray, int]
ARCFACE_CHIP: Chip = (ARCFACE_TEMPLATE, ARCFACE_SIZE)
DLIB_CHIP: Chip = (DLIB_TEMPLATE, DLIB_SIZE)

#: The crop is reduced until the chip's scale is at most this (source pixels per chip pixel <= 2).
_MAX_REDUCTION = 2.0


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 rotation+scale+translation mapping ``src`` points onto ``dst`` (Umeyama, no reflection)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    a, b = src - src_mean, dst - dst_mean
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(d) @ sign) / a.var(0).sum())
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def align(
    image: np.ndarray, landmarks: np.ndarray, template: np.ndarray = ARCFACE_TEMPLATE, size: int = ARCFACE_SIZE
) -> np.ndarray:
    """The aligned ``size`` x ``size`` chip of the face whose 5 points are ``landmarks`` (x, y).

    Only the chip's region of ``image`` (with a margin) is read; if the face is large, that region is
    first reduced with an area filter so the final warp never skips source pixels.
    """
    return align_all(image, landmarks, [(template, size)])[0]


def align_all(image: np.ndarray, landmarks: np.ndarray, chips: list[Chip]) -> list[np.ndarray]:
    """One face's chips for several (template, size) pairs, from one shared region of ``image``.

    For a big face the region is reduced once (area filter) to what the finest chip needs, instead
    of once per chip: a face filling a 24 MP photo is cut down once, not twice.
    """
    points = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)  # the template's points (5, or fewer)
    scale = 0.0  # chip pixels per source pixel, of the finest chip
    corners = []
    for template, size in chips:
        matrix = similarity_transform(points, template)
        scale = max(scale, math.hypot(matrix[0, 0], matrix[0, 1]))
        inverse = cv2.invertAffineTransform(matrix)
        corners.append(np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inverse.T)
    every = np.concatenate(corners)
    margin = 4.0 / scale
    height, width = image.shape[:2]
    left = max(0, int(math.floor(every[:, 0].min() - margin)))
    top = max(0, int(math.floor(every[:, 1].min() - margin)))
    right = min(width, int(math.ceil(every[:, 0].max() + margin)))
    bottom = min(height, int(math.ceil(every[:, 1].max() + margin)))
    if right <= left or bottom <= top:  # the face is entirely outside the image: black chips
        return [np.zeros((size, size, 3), dtype=np.uint8) for _, size in chips]
    region = image[top:bottom, left:right]
    local = points - (left, top)
    reduction = 1.0 / (scale * _MAX_REDUCTION)  # > 1: the region holds more pixels than the warps need
    if reduction > 1.0:
        new_size = (max(1, round(region.shape[1] / reduction)), max(1, round(region.shape[0] / reduction)))
        fx, fy = new_size[0] / region.shape[1], new_size[1] / region.shape[0]
        region = cv2.resize(region, new_size, interpolation=cv2.INTER_AREA)
        local = local * (fx, fy)
    return [
        cv2.warpAffine(
            region,
            similarity_transform(local, template),
            (size, size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
        )
        for template, size in chips
    ]


#: The *aligned face* a person sees beside a lookalike, and the frame explanations work in: 184x184,
#: dlib's template moved by (18, 33) px, so every model's chip lies inside it at full resolution
#: (dlib's 150 px chip exactly, SFace's 112 px chip, which reaches further up and out, too).  Because
#: alignment is a similarity transform, a model's chip cut from this face is its chip cut from the photo.
CANONICAL_SIZE = 184
CANONICAL_TEMPLATE = DLIB_TEMPLATE + np.array([18.0, 33.0])
CANONICAL_CHIP: Chip = (CANONICAL_TEMPLATE, CANONICAL_SIZE)


def canonical_matrix(landmarks: np.ndarray) -> np.ndarray:
    """The 2x3 transform taking photo coordinates to the aligned face's (``CANONICAL_CHIP``)."""
    return similarity_transform(np.asarray(landmarks, dtype=np.float64).reshape(-1, 2), CANONICAL_TEMPLATE)


def canonical_face(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The face aligned onto ``CANONICAL_CHIP`` (184x184x3 uint8) and its 5 points in that frame."""
    points = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    matrix = canonical_matrix(points)
    face = align(image, points, CANONICAL_TEMPLATE, CANONICAL_SIZE)
    return face, points @ matrix[:, :2].T + matrix[:, 2]
