"""SFace (OpenCV Zoo, Apache-2.0) as an embedding model: 5 landmarks in, a unit 128-d vector out.

Why this module exists: SFace is the license-clean model that beats dlib's ResNet on LFW when the
face is aligned with YuNet's 5 points to the standard 112x112 ArcFace template (``engine/align.py``).
Distance between two vectors: ``1 - a @ b`` (cosine) or Euclidean on the unit vectors; both rank the same.
"""

from __future__ import annotations

import cv2
import numpy as np

from lookalike.engine.align import ARCFACE_CHIP
from lookalike.engine.embedding.base import Calibration, ChipEmbedder, EmbeddingModel, normalise
from lookalike.engine.weights import model_path, quiet_opencv
from lookalike.settings import Settings


class SFace(ChipEmbedder):
    """SFace through OpenCV's DNN module; batches of chips cost less per face than one at a time.

    The network is loaded on first use (``lookalike models install`` puts it in place; a missing or
    wrong file is said then)."""

    dim = 128
    chip = ARCFACE_CHIP

    def __init__(self, settings: Settings | None = None, flip: bool = False) -> None:
        self.settings = settings or Settings()
        self.flip = flip
        self._loaded: cv2.dnn.Net | None = None

    def _net(self) -> cv2.dnn.Net:
        if self._loaded is None:
            with quiet_opencv():
                self._loaded = cv2.dnn.readNetFromONNX(str(model_path("sface", self.settings)))
        return self._loaded

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """``chips``: uint8 (N, 112, 112, 3) RGB -> float32 (N, 128), unit length.

        With ``flip`` each chip is also seen mirrored and the two outputs summed before normalising.
        """
        chips = np.asarray(chips, dtype=np.uint8)
        if len(chips) == 0:
            return np.zeros((0, 128), dtype=np.float32)
        batch = np.concatenate([chips, chips[:, :, ::-1]]) if self.flip else chips
        # SFace wants RGB, 0..255, no mean: what FaceRecognizerSF.feature does from a BGR image with swapRB.
        blob = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
        net = self._net()
        net.setInput(blob)
        out = np.asarray(net.forward(), dtype=np.float32).reshape(len(batch), -1)
        if self.flip:
            out = normalise(out[: len(chips)]) + normalise(out[len(chips) :])
        return normalise(out)


SFACE = EmbeddingModel(
    name="sface",
    dim=128,
    licence="Apache-2.0",
    landmarks="yunet",
    plain=Calibration(radius=0.5191, identity_threshold=0.5226, identity_margin=0.0418, similarity_slope=20.5),
    flipped=Calibration(radius=0.5195, identity_threshold=0.5197, identity_margin=0.0425, similarity_slope=20.5),
    create=lambda settings: SFace(settings, flip=settings.embed_flip),
)
