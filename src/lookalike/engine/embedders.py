"""Embedding models: how an aligned face becomes a vector, and what a distance means for each model.

``LOOKALIKE_EMBEDDING`` picks one:

* ``fused`` (default): dlib's ResNet and SFace, both aligned on YuNet's 5 points, joined into one
  256-d vector whose cosine is ``0.7 cos_dlib + 0.3 cos_sface``.  Best measured on every count
  (docs/results.md); both weight files are licence-clean (public domain, Apache-2.0).
* ``sface``: SFace alone (OpenCV Zoo, Apache-2.0), 128-d.
* ``dlib``: dlib's ResNet on dlib's own landmarks and chip, 128-d: the engine before v2.

Every model's vectors are scaled to one length, its ``radius``, chosen so that the model's
verification threshold (10-fold cross-validated on LFW ``pairs.txt``) falls at Euclidean distance
0.6.  So for every model "two faces under 0.6 apart are one person", the similarity curve is 50%
at 0.6, and the gallery and its index only ever see Euclidean distances.  What still differs per
model (the identity rule, the curve's slope) is in :data:`CALIBRATIONS`, with how it was measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

from lookalike.engine import weights
from lookalike.engine.align import ARCFACE_CHIP, DLIB_CHIP, align, align_all
from lookalike.engine.resnet import DlibResNet
from lookalike.engine.sface import SFace, fuse, normalise
from lookalike.errors import LookalikeError
from lookalike.settings import Settings

#: The embedding space of the ``dlib`` model: galleries built before engine v2 carry this name.
DLIB_SPACE = "dlib_face_recognition_resnet_model_v1"

#: The share of dlib's cosine in ``fused`` (LFW, 10 folds: 0.65–0.75 are within 0.03 points; docs/results.md).
FUSION_WEIGHT = 0.7

#: Where each model's verification threshold falls (Euclidean distance between scaled vectors).
VERIFICATION_DISTANCE = 0.6


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
    name: str
    dim: int
    licence: str
    #: Aligned on YuNet's 5 points (else dlib's own landmarks): needs the YuNet detector.
    yunet_aligned: bool
    plain: Calibration
    flipped: Calibration

    def calibration(self, flip: bool) -> Calibration:
        return self.flipped if flip else self.plain


MODELS: dict[str, EmbeddingModel] = {
    "fused": EmbeddingModel(
        name="fused",
        dim=256,
        licence="dlib ResNet: public domain; SFace: Apache-2.0",
        yunet_aligned=True,
        plain=Calibration(radius=0.8008, identity_threshold=0.5048, identity_margin=0.0489, similarity_slope=19.9),
        flipped=Calibration(radius=0.8092, identity_threshold=0.5157, identity_margin=0.0474, similarity_slope=18.7),
    ),
    "sface": EmbeddingModel(
        name="sface",
        dim=128,
        licence="Apache-2.0",
        yunet_aligned=True,
        plain=Calibration(radius=0.5191, identity_threshold=0.5226, identity_margin=0.0418, similarity_slope=20.5),
        flipped=Calibration(radius=0.5195, identity_threshold=0.5197, identity_margin=0.0425, similarity_slope=20.5),
    ),
    "dlib": EmbeddingModel(
        name="dlib",
        dim=128,
        licence="public domain",
        yunet_aligned=False,
        plain=Calibration(radius=1.43, identity_threshold=0.45, identity_margin=0.05, similarity_slope=10.0),
        flipped=Calibration(radius=1.43, identity_threshold=0.45, identity_margin=0.05, similarity_slope=10.0),
    ),
}


def embedding_model(settings: Settings) -> EmbeddingModel:
    try:
        return MODELS[settings.embedding]
    except KeyError:
        names = ", ".join(MODELS)
        raise LookalikeError(f"unknown embedding model {settings.embedding!r}: {names}", code="bad_setting") from None


def calibration(settings: Settings) -> Calibration:
    return embedding_model(settings).calibration(settings.embed_flip)


def identity_rule(settings: Settings) -> tuple[float, float]:
    """(threshold, margin) of the 1:N rule: the settings' values, else the model's calibrated ones."""
    cal = calibration(settings)
    threshold = cal.identity_threshold if settings.identity_threshold is None else settings.identity_threshold
    margin = cal.identity_margin if settings.identity_margin is None else settings.identity_margin
    return threshold, margin


def embedding_id(settings: Settings) -> str:
    """Names the embedding space; galleries record it, so vectors of two spaces are never compared."""
    model = embedding_model(settings)
    flip = "+flip" if settings.embed_flip else ""
    if model.name == "dlib":  # the name galleries built before engine v2 carry
        return f"{DLIB_SPACE}{flip}+r{model.plain.radius}"
    return f"{model.name}-v1{flip}+r{model.calibration(settings.embed_flip).radius}"


class YunetAlignedEmbedder:
    """``fused`` and ``sface``: chips aligned on YuNet's 5 points, each network batched over a photo's faces.

    For ``fused`` the two networks run at once, one core each (dlib's ResNet is NumPy/BLAS, SFace is
    OpenCV; both release the GIL): measured 15–27 ms a face against 22–41 ms one after the other.
    """

    def __init__(self, settings: Settings, model: EmbeddingModel, resnet: DlibResNet | None = None) -> None:
        self.settings = settings
        self.model = model
        self.flip = settings.embed_flip
        self._sface = SFace(settings, flip=self.flip)
        if model.name == "fused" and resnet is None:
            resnet = DlibResNet(weights.dlib_file(weights.DLIB_RESNET))
        self._resnet = resnet if model.name == "fused" else None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="resnet") if self._resnet is not None else None

    def embed(self, image: np.ndarray, points: Sequence[np.ndarray]) -> np.ndarray:
        """Scaled vectors (N, dim) of the faces whose YuNet points (5x2, photo coordinates) are given."""
        if not len(points):
            return np.zeros((0, self.model.dim), np.float32)
        if self._resnet is None or self._pool is None:
            vectors = self._sface.embed_chips(np.stack([align(image, p) for p in points]))
        else:
            pairs = [align_all(image, p, [ARCFACE_CHIP, DLIB_CHIP]) for p in points]
            sface_chips = np.stack([pair[0] for pair in pairs])
            dlib_chips = np.stack([pair[1] for pair in pairs])
            cv2.setNumThreads(1)
            pending = self._pool.submit(self._dlib, dlib_chips)
            sface = self._sface.embed_chips(sface_chips)
            vectors = fuse(pending.result(), sface, FUSION_WEIGHT)
        return scaled(vectors, self.model.calibration(self.flip).radius)

    def _dlib(self, chips: np.ndarray) -> np.ndarray:
        assert self._resnet is not None
        with threadpool_limits(1, user_api="blas"):
            batch = np.concatenate([chips, chips[:, :, ::-1]]) if self.flip else chips
            out = normalise(self._resnet.embed(batch))
            if self.flip:
                out = normalise(out[: len(chips)] + out[len(chips) :])
            return out


def scaled(vectors: np.ndarray, radius: float) -> np.ndarray:
    """Unit-direction vectors of length ``radius`` (float32)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return (vectors * (radius / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12))).astype(np.float32)
