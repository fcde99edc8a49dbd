"""Why two faces look alike, as the face model itself sees it: occlusion sensitivity on aligned faces.

Both faces are aligned the same way (``align.CANONICAL_CHIP``: eyes on one line, one scale), so one
set of regions fits both: eyes, brows, nose, mouth and *shape* (cheeks, jaw and chin), drawn on the
template's 5 points (:func:`part_masks`).  A part is hidden in both faces at once (painted over with
each face's own mean skin colour, with soft edges) and both are embedded again by the engine's own
embedder; the part's score is how much the distance between the two grows:

* > 0: hiding it moves the faces apart, so the part is what makes them alike;
* < 0: hiding it brings them closer, so the part is what tells them apart.

The regions' soft edges keep a landmark off by a pixel or two from reordering the parts; each part
may also be hidden at a few small shifts of its region (``shifts``, ``SHIFT_SETS``) and the growths
averaged, and the faces' mirror images explained too (``mirror``).  The heat map is the same scores
drawn on the aligned face: each cell, the parts' scores weighted by how much of the cell each covers.

The aligned faces are embedded a few at a time, laid side by side in one image (each in its own
tile), so any :class:`~lookalike.engine.embedding.base.Embedder` that aligns on the 5 points is
explained through its own alignment and networks, batched.  The user's hidden faces are embedded once
and shared by all their lookalikes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from lookalike.engine.align import CANONICAL_SIZE, CANONICAL_TEMPLATE
from lookalike.engine.embedding.base import Embedder, Landmarks

#: The parts scored, in this order (``service.results.PARTS``).
PARTS = ("eyes", "brows", "nose", "mouth", "shape")
#: The looks at each part, by their number: the region itself, then shifted by a few pixels; the
#: growths are averaged (``LOOKALIKE_EXPLAIN_LOOKS``; measured in docs/results.md).
SHIFT_SETS: dict[int, tuple[tuple[int, int], ...]] = {
    1: ((0, 0),),
    3: ((0, 0), (-3, -2), (3, 2)),
    5: ((0, 0), (-3, 0), (3, 0), (0, -3), (0, 3)),
}
DEFAULT_SHIFTS = SHIFT_SETS[1]
#: The heat map's cells per side (about 15 px cells on the 184 px aligned face).
HEATMAP_CELLS = 12
#: Soft edges of the regions (Gaussian sigma, px of the aligned face).
_FEATHER = 2.0
#: Pixels between two faces' tiles in the batch image (no chip reaches past its own tile).
_GAP = 8
#: Aligned faces embedded at once (measured: 4 at a time costs the same per face as 24, and a web app of
#: two workers peaks at 1,028 MB instead of 1,209 MB).
_BATCH = 4


@dataclass(frozen=True)
class AlignedFace:
    """A face aligned onto ``CANONICAL_CHIP`` (184x184x3 uint8 RGB) and its 5 points in that frame."""

    image: np.ndarray
    points: np.ndarray


@dataclass(frozen=True)
class Explanation:
    """Why one pair looks alike: each part's growth of the distance when hidden in both (``PARTS``
    order), the parts ranked (most alike first), the heat map, and the pair's distance."""

    parts: dict[str, float]
    ranking: list[str]
    heatmap: np.ndarray
    distance: float


def _ellipse(shape: tuple[int, int], centre: np.ndarray, axes: tuple[float, float], angle: float = 0.0) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(
        mask,
        (round(centre[0] * 16), round(centre[1] * 16)),
        (round(axes[0] * 16), round(axes[1] * 16)),
        angle,
        0,
        360,
        1,
        -1,
        cv2.LINE_8,
        4,
    )
    return mask.astype(np.float32)


@functools.lru_cache(maxsize=8)
def part_masks(dx: int = 0, dy: int = 0) -> np.ndarray:
    """float32 (len(PARTS), 184, 184) soft masks of the parts on the aligned face, shifted by (dx, dy).

    Drawn from the template's points (eye distance ``e`` ≈ 53 px): each eye an ellipse around its
    centre; each brow a flat ellipse above its eye; the nose from between the eyes to below its tip;
    the mouth around its corners; *shape* the face's oval below the eyes (cheeks, jaw, chin) minus the
    other parts.  The masks do not overlap.
    """
    t = CANONICAL_TEMPLATE + (dx, dy)
    size = (CANONICAL_SIZE, CANONICAL_SIZE)
    left_eye, right_eye, nose, mouth_l, mouth_r = t
    e = float(np.linalg.norm(right_eye - left_eye))
    eye_line = (left_eye + right_eye) / 2
    mouth = (mouth_l + mouth_r) / 2
    eyes = np.maximum(_ellipse(size, left_eye, (0.30 * e, 0.17 * e)), _ellipse(size, right_eye, (0.30 * e, 0.17 * e)))
    brow_up = np.array([0.0, -0.36 * e])
    brows = np.maximum(
        _ellipse(size, left_eye + brow_up + (-0.04 * e, 0), (0.36 * e, 0.13 * e)),
        _ellipse(size, right_eye + brow_up + (0.04 * e, 0), (0.36 * e, 0.13 * e)),
    )
    nose_centre = eye_line + (nose - eye_line) * 0.72 + (0, 0.05 * e)
    nose_mask = _ellipse(size, nose_centre, (0.24 * e, 0.42 * e)) * (1 - eyes)
    mouth_mask = _ellipse(size, mouth + (0, 0.02 * e), (0.5 * np.linalg.norm(mouth_r - mouth_l) + 0.14 * e, 0.22 * e))
    mouth_mask *= 1 - nose_mask
    oval_centre = eye_line + (0, 0.62 * e)
    oval = _ellipse(size, oval_centre, (1.02 * e, 1.32 * e))
    below_eyes = (np.arange(size[0])[:, None] > eye_line[1] + 0.1 * e).astype(np.float32) * np.ones(size, np.float32)
    inner = np.maximum.reduce([eyes, brows, nose_mask, mouth_mask])
    inner_grown = cv2.dilate(inner, np.ones((5, 5), np.uint8))
    shape = oval * below_eyes * (1 - inner_grown)
    hard = np.stack([eyes, brows, nose_mask, mouth_mask, shape])
    soft = np.stack([cv2.GaussianBlur(m, (0, 0), _FEATHER) for m in hard])
    soft.flags.writeable = False
    return soft


def _skin(face: np.ndarray) -> np.ndarray:
    """The face's mean colour inside its oval (what a hidden part is painted with)."""
    masks = part_masks()
    region = masks.sum(0) > 0.5
    return face[region].reshape(-1, 3).mean(0)


def hidden(face: np.ndarray, mask: np.ndarray, fill: np.ndarray | None = None) -> np.ndarray:
    """``face`` with ``mask`` (0..1) painted over with ``fill`` (default: its mean skin colour)."""
    colour = _skin(face) if fill is None else np.asarray(fill, np.float32)
    m = mask[..., None]
    return (face.astype(np.float32) * (1 - m) + colour * m).round().clip(0, 255).astype(np.uint8)


def embed_aligned(embedder: Embedder, faces: Sequence[np.ndarray], points: Sequence[np.ndarray]) -> np.ndarray:
    """Unit vectors of aligned faces, ``_BATCH`` at a time: the faces side by side in one image, one tile
    each (a batch the networks' buffers already fit: a larger one would keep more memory for good)."""
    step = CANONICAL_SIZE + _GAP
    out = []
    for start in range(0, len(faces), _BATCH):
        chunk = list(zip(faces[start : start + _BATCH], points[start : start + _BATCH], strict=True))
        row = np.zeros((CANONICAL_SIZE, step * len(chunk), 3), np.uint8)
        marks = []
        for i, (face, pts) in enumerate(chunk):
            row[:, i * step : i * step + CANONICAL_SIZE] = face
            marks.append(Landmarks(np.asarray(pts, np.float64) + (i * step, 0)))
        out.append(np.asarray(embedder.embed(row, marks), np.float32))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def heatmap(scores: np.ndarray, cells: int = HEATMAP_CELLS) -> np.ndarray:
    """(cells, cells): each cell the parts' ``scores`` weighted by how much of the cell each part covers."""
    masks = part_masks()
    cover = np.stack([cv2.resize(m, (cells, cells), interpolation=cv2.INTER_AREA) for m in masks], axis=-1)
    return np.asarray(cover @ np.asarray(scores, np.float32), np.float32)


def mirrored(face: AlignedFace) -> AlignedFace:
    """``face`` seen in a mirror: the image flipped, its points flipped and put back in YuNet's order
    (the eye on the image's left first, then the other; the same for the mouth's corners)."""
    points = np.asarray(face.points, np.float64).copy()
    points[:, 0] = face.image.shape[1] - 1 - points[:, 0]
    return AlignedFace(np.ascontiguousarray(face.image[:, ::-1]), points[[1, 0, 2, 4, 3]])


def explain(
    embedder: Embedder,
    radius: float,
    face: AlignedFace,
    others: Sequence[AlignedFace],
    shifts: Sequence[tuple[int, int]] = DEFAULT_SHIFTS,
    mirror: bool = False,
) -> list[Explanation]:
    """Why ``face`` looks like each of ``others`` (all aligned onto ``CANONICAL_CHIP``), by the model
    whose embedder is ``embedder`` and whose distances are Euclidean between vectors of length ``radius``.

    With ``mirror`` every face is also seen in a mirror and the growths averaged over the four pairings
    (face or mirror, against lookalike or mirror): the same photo mirrored is then explained the same
    way, for twice the embeddings."""
    if not others:
        return []
    masks = [m for dx, dy in shifts for m in part_masks(dx, dy)]  # shift-major: masks[s * parts + p]
    looks = 1 + len(masks)
    sides = 2 if mirror else 1
    images, points = [], []
    for one in (face, *others):
        seen = [one.image, *(hidden(one.image, m) for m in masks)]
        images += seen
        points += [one.points] * looks
        if mirror:  # the same hidden faces in a mirror: the same parts hidden
            images += [np.ascontiguousarray(v[:, ::-1]) for v in seen]
            points += [mirrored(one).points] * looks
    vectors = embed_aligned(embedder, images, points).reshape(1 + len(others), sides, looks, -1) * radius
    mine = vectors[0]
    out = []
    for theirs in vectors[1:]:
        pairings = [np.linalg.norm(mine[a] - theirs[b], axis=1) for a in range(sides) for b in range(sides)]
        growth = np.mean([(d[1:] - d[0]).reshape(len(shifts), len(PARTS)).mean(0) for d in pairings], axis=0)
        order = sorted(range(len(PARTS)), key=lambda p: -growth[p])
        out.append(
            Explanation(
                parts={PARTS[p]: float(growth[p]) for p in range(len(PARTS))},
                ranking=[PARTS[p] for p in order],
                heatmap=heatmap(growth),
                distance=float(pairings[0][0]),
            )
        )
    return out


def hide_once(face: AlignedFace, part: str, fill: float = 128.0) -> np.ndarray:
    """``face`` with ``part``'s region hidden another way than :func:`explain` hides it: a hard edge, no
    shift, a flat grey (the faithfulness check, ``evaluation/explain.py``)."""
    mask = (part_masks()[PARTS.index(part)] > 0.5).astype(np.float32)
    return hidden(face.image, mask, np.full(3, fill, np.float32))


def mean_rank_agreement(a: Sequence[str], b: Sequence[str]) -> float:
    """Spearman's rho between two rankings of the same parts (1: the same order)."""
    n = len(a)
    position = {p: i for i, p in enumerate(b)}
    d2 = sum((i - position[p]) ** 2 for i, p in enumerate(a))
    return 1 - 6 * d2 / (n * (n * n - 1)) if n > 1 else 1.0


__all__ = [
    "PARTS",
    "AlignedFace",
    "Explanation",
    "embed_aligned",
    "explain",
    "heatmap",
    "hidden",
    "hide_once",
    "mean_rank_agreement",
    "part_masks",
]
