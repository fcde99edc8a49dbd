"""What an embedding model is: the :class:`Embedder` protocol, its registry entry, what its distances mean.

An embedder turns faces, each given by the 5 landmarks it is aligned on, into unit vectors.  Every
model's vectors are then scaled to one length, its ``radius``, chosen so that the model's
verification threshold (10-fold cross-validated on LFW ``pairs.txt``) falls at Euclidean distance
0.6.  So for every model "two faces under 0.6 apart are one person", the similarity curve is 50%
at 0.6, and the gallery and its index only ever see Euclidean distances.  What still differs per
model (the identity rule, the curve's slope) is in its :class:`Calibration`, with how it was measured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from lookalike.engine.align import Chip, align
from lookalike.settings import Settings

#: Where each model's verification threshold falls (Euclidean distance between scaled vectors).
VERIFICATION_DISTANCE = 0.6


@dataclass(frozen=True)
class Landmarks:
    """The 5 points one face is aligned on (5x2 float, photo coordinates), found by the engine.

    ``yunet`` points are YuNet's (eye centres, nose tip, mouth corners; ``engine/align.py``'s order);
    ``dlib`` points are dlib's shape predictor's (two corners of each eye, base of the nose), which
    come with dlib's own 150x150 chip of the face (``chip``).
    """

    points: np.ndarray
    chip: np.ndarray | None = None


class Embedder(Protocol):
    """One embedding model: a photo's faces in, one unit vector per face out."""

    #: Length of the vectors.
    dim: int

    def embed(self, image: np.ndarray, faces: Sequence[Landmarks]) -> np.ndarray:
        """float32 (len(faces), dim) unit vectors of ``faces`` in ``image`` (HxWx3 uint8 RGB)."""
        ...


class ChipEmbedder:
    """An embedder whose network takes the face aligned onto a template (``chip``): a subclass gives
    ``dim``, ``chip`` and :meth:`embed_chips`; cutting the chips from the photo is done here."""

    dim: int
    chip: Chip

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """uint8 (N, size, size, 3) RGB chips -> float32 (N, dim) unit vectors."""
        raise NotImplementedError

    def embed(self, image: np.ndarray, faces: Sequence[Landmarks]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        template, size = self.chip
        return self.embed_chips(np.stack([align(image, face.points, template, size) for face in faces]))


@dataclass(frozen=True)
class Calibration:
    """What distances mean for one model (with or without mirror-averaging), measured on ../shared/data.

    ``radius``: vector length; 0.6 / sqrt(2 t) for the model's LFW cross-validated cosine threshold t
    (``lookalike eval lfw --model … --weight 0.7``).  ``identity_threshold`` / ``identity_margin``: the
    1:N rule (nearest person within the threshold and at least the margin closer than the next),
    chosen with ``lookalike eval models`` (strangers named at most 1%, held-out halves).
    ``similarity_slope``: the logistic curve's steepness at 0.6, giving LFW's median different-person
    pair the similarity dlib's curve (slope 10) gives it (``evaluation/lfw.py``).  The default's values
    were measured through the engine itself (``--model engine``, ``eval lfw``); the others' on the
    evaluation pipeline (YuNet's detection points).  dlib without mirror-averaging keeps dlib's curve.
    """

    radius: float
    identity_threshold: float
    identity_margin: float
    similarity_slope: float


@dataclass(frozen=True)
class EmbeddingModel:
    """One entry of the registry (``registry.EMBEDDERS``): a model the engine offers, by its
    ``LOOKALIKE_EMBEDDING`` name, and how to make its embedder."""

    name: str
    dim: int
    licence: str
    #: Which 5 points the engine finds for it: YuNet's (so it needs the YuNet detector), or dlib's
    #: shape predictor's with dlib's chip (any detector).
    landmarks: Literal["yunet", "dlib"]
    plain: Calibration
    flipped: Calibration
    #: The embedder for these settings (``embed_flip``, the model files' settings).
    create: Callable[[Settings], Embedder] = field(compare=False)
    #: The embedding space's name in the embedding id (default ``<name>-v1``).
    space: str = ""

    def calibration(self, flip: bool) -> Calibration:
        return self.flipped if flip else self.plain

    def embedding_id(self, flip: bool) -> str:
        """Names the embedding space; galleries record it, so vectors of two spaces are never compared."""
        return f"{self.space or self.name + '-v1'}{'+flip' if flip else ''}+r{self.calibration(flip).radius}"


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (float32)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def scaled(vectors: np.ndarray, radius: float) -> np.ndarray:
    """Unit-direction vectors of length ``radius`` (float32)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return (vectors * (radius / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12))).astype(np.float32)


def fuse(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """Unit vectors ``a`` (N, da) and ``b`` (N, db) -> (N, da + db) unit vectors whose cosine is
    ``weight * cos_a + (1 - weight) * cos_b``: a fusion of two models a gallery stores as one vector."""
    return np.concatenate([np.sqrt(weight) * a, np.sqrt(1.0 - weight) * b], axis=-1).astype(np.float32)
