"""dlib's ResNet (public domain; our NumPy forward pass, ``engine/resnet.py``) as embedding models.

* :class:`DlibEmbedder`, the ``dlib`` model: the network on dlib's own chip, cut with dlib's own 5
  landmarks: the engine before v2.  Works with every detector.
* :class:`DlibYunetEmbedder`: the network on a 150x150 chip aligned with YuNet's 5 points onto
  dlib's template (``align.DLIB_TEMPLATE``): the first part of ``fused``, and the evaluation's
  ``dlib-yunet``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lookalike.engine import weights
from lookalike.engine.align import DLIB_CHIP
from lookalike.engine.embedding.base import Calibration, ChipEmbedder, EmbeddingModel, Landmarks, normalise
from lookalike.engine.resnet import DlibResNet

#: The embedding space of the ``dlib`` model: galleries built before engine v2 carry this name.
DLIB_SPACE = "dlib_face_recognition_resnet_model_v1"


def load_resnet() -> DlibResNet:
    return DlibResNet(weights.dlib_file(weights.DLIB_RESNET))


class DlibEmbedder:
    """The ``dlib`` model: each face's dlib chip (``Landmarks.chip``) through the network, one batch a photo.

    With ``flip`` each face is also seen mirrored and the two embeddings are averaged: a cheap
    test-time augmentation that makes embeddings steadier (see docs/engine.md: +0.23 points on LFW
    together with the one length for every face).
    """

    dim = 128

    def __init__(self, flip: bool = False, net: DlibResNet | None = None) -> None:
        self.flip = flip
        self._net = net or load_resnet()

    def embed(self, image: np.ndarray, faces: Sequence[Landmarks]) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        chips = np.stack([_dlib_chip(face) for face in faces])
        if self.flip:
            both = self._net.embed(np.concatenate([chips, chips[:, :, ::-1]]))
            vectors = (both[: len(chips)] + both[len(chips) :]) / 2
        else:
            vectors = self._net.embed(chips)
        return normalise(vectors)


def _dlib_chip(face: Landmarks) -> np.ndarray:
    if face.chip is None:
        raise ValueError("the dlib model embeds dlib's own chips: the face needs dlib's landmarks")
    return face.chip


class DlibYunetEmbedder(ChipEmbedder):
    """The network on the chip aligned with YuNet's points; with ``flip``, the unit vectors of each
    chip and its mirror image summed and normalised."""

    dim = 128
    chip = DLIB_CHIP

    def __init__(self, flip: bool = False, net: DlibResNet | None = None) -> None:
        self.flip = flip
        self._net = net or load_resnet()

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        batch = np.concatenate([chips, chips[:, :, ::-1]]) if self.flip else chips
        out = normalise(self._net.embed(batch))
        if self.flip:
            out = normalise(out[: len(chips)] + out[len(chips) :])
        return out


#: dlib's radius is the mean length of its raw embeddings (measured on LFW: 1.429 +/- 0.072), so
#: distances stay on dlib's familiar scale; its identity rule and curve are the engine v1's.
DLIB_CALIBRATION = Calibration(radius=1.43, identity_threshold=0.45, identity_margin=0.05, similarity_slope=10.0)

DLIB = EmbeddingModel(
    name="dlib",
    dim=128,
    licence="public domain",
    landmarks="dlib",
    plain=DLIB_CALIBRATION,
    flipped=DLIB_CALIBRATION,
    create=lambda settings: DlibEmbedder(flip=settings.embed_flip),
    space=DLIB_SPACE,
)
