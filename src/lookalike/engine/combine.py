"""Several photos of one person as one steadier query: check they are one person, then combine.

Every model's vectors have one length (its ``radius``) and two photos of one person are usually
within the verification threshold (0.6) of each other.  :func:`same_person` checks every pair of the
given faces against that threshold; :func:`combine` averages their directions and gives the result
the same length, so it is searched like any face's vector (the mean of unit directions is the
direction closest to all of them: a photo's lighting or angle counts for less).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SamePerson:
    """Whether the faces are of one person.  A face farther than ``threshold`` from *every* other face is
    the odd one out (someone else's photo); any odd one out and they are not taken as one person.  (Two
    faces: both are odd when they are apart.)  Chosen on LFW: see docs/results.md, "Several photos"."""

    distances: list[list[float]]  # pairwise, rounded
    threshold: float
    odd: list[int]  # the faces farther than the threshold from every other face

    @property
    def ok(self) -> bool:
        return not self.odd


def same_person(vectors: np.ndarray, threshold: float) -> SamePerson:
    """Check that ``vectors`` (N×D, N ≥ 2) are of one person (see :class:`SamePerson`)."""
    v = np.asarray(vectors, dtype=np.float64)
    d = np.linalg.norm(v[:, None, :] - v[None, :, :], axis=2)
    far = d > threshold
    odd = [i for i in range(len(v)) if far[i].sum() == len(v) - 1]  # the diagonal is 0, never far
    return SamePerson([[round(float(x), 4) for x in row] for row in d], threshold, odd)


def combine(vectors: np.ndarray) -> np.ndarray:
    """One vector for several faces of a person: the mean direction, at the faces' (common) length."""
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    mean = (v / np.maximum(norms, 1e-12)).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12) * float(norms.mean())).astype(np.float32)
