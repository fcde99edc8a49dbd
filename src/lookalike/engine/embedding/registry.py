"""The embedding models the engine offers, by their ``LOOKALIKE_EMBEDDING`` name, and what the settings pick.

``fused`` (default, ``fused.py``): dlib's ResNet and SFace on YuNet's 5 points, one 256-d vector.
``sface`` (``sface.py``): SFace alone, 128-d.  ``dlib`` (``dlib_resnet.py``): dlib's ResNet on dlib's
own landmarks and chip, 128-d: the engine before v2.

A new model is a module beside these (an :class:`~lookalike.engine.embedding.base.Embedder` and its
:class:`~lookalike.engine.embedding.base.EmbeddingModel`) and one entry in :data:`EMBEDDERS`.
"""

from __future__ import annotations

from lookalike.engine.embedding.base import Calibration, Embedder, EmbeddingModel
from lookalike.engine.embedding.dlib_resnet import DLIB
from lookalike.engine.embedding.fused import FUSED
from lookalike.engine.embedding.sface import SFACE
from lookalike.errors import LookalikeError
from lookalike.settings import Settings

EMBEDDERS: dict[str, EmbeddingModel] = {model.name: model for model in (FUSED, SFACE, DLIB)}


def embedding_model(settings: Settings) -> EmbeddingModel:
    try:
        return EMBEDDERS[settings.embedding]
    except KeyError:
        names = ", ".join(EMBEDDERS)
        raise LookalikeError(f"unknown embedding model {settings.embedding!r}: {names}", code="bad_setting") from None


def create_embedder(settings: Settings) -> Embedder:
    """The embedder of the settings' model (``embedding``, ``embed_flip``)."""
    return embedding_model(settings).create(settings)


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
    return embedding_model(settings).embedding_id(settings.embed_flip)
