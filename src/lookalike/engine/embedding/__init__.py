"""Embedding models: how an aligned face becomes a vector, and what a distance means for each model.

``base.py`` says what a model is (the :class:`Embedder` protocol, its :class:`EmbeddingModel`
entry, its :class:`Calibration`); one module per model (``fused.py``, ``sface.py``,
``dlib_resnet.py``); ``registry.py`` maps ``LOOKALIKE_EMBEDDING`` to them.
"""

from lookalike.engine.embedding.base import (
    VERIFICATION_DISTANCE,
    Calibration,
    ChipEmbedder,
    Embedder,
    EmbeddingModel,
    Landmarks,
    fuse,
    normalise,
    scaled,
)
from lookalike.engine.embedding.registry import (
    EMBEDDERS,
    calibration,
    create_embedder,
    embedding_id,
    embedding_model,
    identity_rule,
)

__all__ = [
    "EMBEDDERS",
    "VERIFICATION_DISTANCE",
    "Calibration",
    "ChipEmbedder",
    "Embedder",
    "EmbeddingModel",
    "Landmarks",
    "calibration",
    "create_embedder",
    "embedding_id",
    "embedding_model",
    "fuse",
    "identity_rule",
    "normalise",
    "scaled",
]
