"""The embedding models ``lookalike eval`` compares, by name (``--model``): each is made by the engine.

Three kinds:

- ``engine``: the whole engine (``FaceEngine``: detection, landmarks, embedder, one face per photo),
  as configured or with ``embedding`` / ``embed_flip`` set;
- ``points``: one of the engine's embedders on YuNet's 5 points of the face nearest the photo's centre
  (one YuNet run on the whole photo: the evaluation pipeline), with or without mirror-averaging;
- ``fusion``: two of the above joined by ``engine.embedding.fuse`` (the way ``fused`` joins its
  parts), at a weight chosen by cross-validation or given.

Standard library only: the command line lists these names without loading the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class EvaluatedModel:
    name: str
    kind: Literal["engine", "points", "fusion"]
    #: ``engine``: the ``LOOKALIKE_EMBEDDING`` to run (None: as configured); ``points``: which of the
    #: engine's embedders (``sface``: SFace; ``dlib-yunet``: dlib's ResNet on YuNet's points, ``fused``'s first part).
    embedder: str | None = None
    #: Mirror-averaging (None: as configured).
    flip: bool | None = None
    #: ``fusion``: the two models joined (the weight is the first one's share of the cosine).
    parts: tuple[str, str] | None = None
    #: The engine setting (``LOOKALIKE_EMBEDDING``, ``LOOKALIKE_EMBED_FLIP``) whose embedder this is (a
    #: fusion: at the engine's fusion weight), so its distances can be put on the engine's scale.
    offered: tuple[str, bool] | None = None


EVALUATED_MODELS: dict[str, EvaluatedModel] = {
    m.name: m
    for m in (
        EvaluatedModel("engine", "engine"),
        EvaluatedModel("dlib", "engine", embedder="dlib", flip=True, offered=("dlib", True)),
        EvaluatedModel("dlib-yunet", "points", embedder="dlib-yunet", flip=False),
        EvaluatedModel("dlib-yunet-flip", "points", embedder="dlib-yunet", flip=True),
        EvaluatedModel("sface", "points", embedder="sface", flip=False, offered=("sface", False)),
        EvaluatedModel("sface-flip", "points", embedder="sface", flip=True, offered=("sface", True)),
        EvaluatedModel("fused", "fusion", parts=("dlib-yunet", "sface"), offered=("fused", False)),
        EvaluatedModel("fused-flip", "fusion", parts=("dlib-yunet-flip", "sface-flip"), offered=("fused", True)),
        EvaluatedModel("fused-dlib", "fusion", parts=("dlib", "sface")),
    )
}

#: The fusions' parts, by name.
FUSIONS: dict[str, tuple[str, str]] = {m.name: m.parts for m in EVALUATED_MODELS.values() if m.parts}
