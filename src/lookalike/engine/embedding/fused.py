"""The default model, ``fused``: dlib's ResNet and SFace, both aligned on YuNet's 5 points, as one vector.

The two unit vectors are joined into one 256-d vector whose cosine is ``0.7 cos_dlib + 0.3 cos_sface``
(``base.fuse``).  Best measured on every count (docs/results.md); both weight files are
licence-clean (public domain, Apache-2.0).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

from lookalike.engine.align import align_all
from lookalike.engine.embedding.base import Calibration, ChipEmbedder, EmbeddingModel, Landmarks, fuse
from lookalike.engine.embedding.dlib_resnet import DlibYunetEmbedder
from lookalike.engine.embedding.sface import SFace
from lookalike.settings import Settings

#: The share of dlib's cosine in ``fused`` (LFW, 10 folds: 0.65–0.75 are within 0.03 points; docs/results.md).
FUSION_WEIGHT = 0.7


class FusedEmbedder:
    """Two chip embedders as one: both chips of a face cut from one shared region (``align_all``), each
    network batched over a photo's faces, the two run at once.

    ``first`` runs on a second thread with one BLAS thread, ``second`` on the caller's with one OpenCV
    thread: for dlib's ResNet (NumPy/BLAS) and SFace (OpenCV), which both release the GIL, measured
    15–27 ms a face against 22–41 ms one after the other.
    """

    def __init__(self, first: ChipEmbedder, second: ChipEmbedder, weight: float) -> None:
        self.first, self.second, self.weight = first, second, weight
        self.dim = first.dim + second.dim
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="resnet")

    def embed(self, image: np.ndarray, faces: Sequence[Landmarks]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        pairs = [align_all(image, face.points, [self.second.chip, self.first.chip]) for face in faces]
        second_chips = np.stack([pair[0] for pair in pairs])
        first_chips = np.stack([pair[1] for pair in pairs])
        cv2.setNumThreads(1)
        pending = self._pool.submit(self._first, first_chips)
        second = self.second.embed_chips(second_chips)
        return fuse(pending.result(), second, self.weight)

    def _first(self, chips: np.ndarray) -> np.ndarray:
        with threadpool_limits(1, user_api="blas"):
            return self.first.embed_chips(chips)


def create(settings: Settings) -> FusedEmbedder:
    flip = settings.embed_flip
    return FusedEmbedder(DlibYunetEmbedder(flip=flip), SFace(settings, flip=flip), FUSION_WEIGHT)


FUSED = EmbeddingModel(
    name="fused",
    dim=256,
    licence="dlib ResNet: public domain; SFace: Apache-2.0",
    landmarks="yunet",
    plain=Calibration(radius=0.8008, identity_threshold=0.5048, identity_margin=0.0489, similarity_slope=19.9),
    flipped=Calibration(radius=0.8092, identity_threshold=0.5157, identity_margin=0.0474, similarity_slope=18.7),
    create=create,
)
