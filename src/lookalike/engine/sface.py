"""SFace (OpenCV Zoo, Apache-2.0) as an embedding model: 5 landmarks in, a unit 128-d vector out.

Why this module exists: SFace is the license-clean model that beats dlib's ResNet on LFW when the
face is aligned with YuNet's 5 points to the standard 112x112 ArcFace template (``engine/align.py``).
Distance between two vectors: ``1 - a @ b`` (cosine) or Euclidean on the unit vectors; both rank the same.
"""

from __future__ import annotations

import cv2
import numpy as np

from lookalike.engine.align import align
from lookalike.engine.weights import model_path, quiet_opencv
from lookalike.settings import Settings


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class SFace:
    """SFace through OpenCV's DNN module; batches of chips cost less per face than one at a time."""

    def __init__(self, settings: Settings | None = None, flip: bool = False) -> None:
        self.settings = settings or Settings()
        self.flip = flip
        with quiet_opencv():
            self._net = cv2.dnn.readNetFromONNX(str(model_path("sface", self.settings)))

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
        self._net.setInput(blob)
        out = np.asarray(self._net.forward(), dtype=np.float32).reshape(len(batch), -1)
        if self.flip:
            out = normalise(out[: len(chips)]) + normalise(out[len(chips) :])
        return normalise(out)

    def embed(self, image: np.ndarray, landmarks: list[np.ndarray] | np.ndarray) -> np.ndarray:
        """Unit vectors of the faces with these 5-point ``landmarks`` (YuNet's order) in an RGB image."""
        chips = [align(image, points) for points in landmarks]
        if not chips:
            return np.zeros((0, 128), dtype=np.float32)
        return self.embed_chips(np.stack(chips))


def fuse(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """Unit vectors ``a`` (N, da) and ``b`` (N, db) -> (N, da + db) unit vectors whose cosine is
    ``weight * cos_a + (1 - weight) * cos_b``: a fusion of two models a gallery stores as one vector."""
    return np.concatenate([np.sqrt(weight) * a, np.sqrt(1.0 - weight) * b], axis=-1).astype(np.float32)
