"""Embed many photos on all cores: one face per photo (nearest the centre, LFW's rule) or none."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from lookalike.engine.decode import load_image
from lookalike.engine.parallel import map_with_engine, worker_engine
from lookalike.errors import LookalikeError
from lookalike.gallery.build import one_face
from lookalike.settings import Settings


def _embed_one(path: str) -> tuple[str, np.ndarray | None, str | None]:
    engine = worker_engine()
    try:
        image = load_image(Path(path).read_bytes(), engine.settings)
    except (LookalikeError, OSError) as exc:
        return path, None, getattr(exc, "code", "unreadable")
    face, _ = one_face(image, engine, "centre")
    return (path, None, "no_face") if face is None else (path, face.embedding, None)


def _embed_one_face_recognition(path: str) -> tuple[str, np.ndarray | None, str | None]:
    """The peer's pipeline with its defaults (HOG, upsample 1, 5-point landmarks), same face rule."""
    import face_recognition

    image = face_recognition.load_image_file(path)
    locations = face_recognition.face_locations(image)
    if not locations:
        return path, None, "no_face"
    height, width = image.shape[:2]
    top, right, bottom, left = min(
        locations, key=lambda b: ((b[1] + b[3]) / 2 - width / 2) ** 2 + ((b[0] + b[2]) / 2 - height / 2) ** 2
    )
    vector = face_recognition.face_encodings(image, [(top, right, bottom, left)])[0]
    return path, np.asarray(vector, dtype=np.float32), None


PIPELINES = {"lookalike": _embed_one, "face_recognition": _embed_one_face_recognition}


def embed_photos(
    paths: Iterable[str],
    settings: Settings,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    pipeline: str = "lookalike",
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """({path: embedding}, {path: why no embedding}); ``pipeline`` may name the peer, for comparison."""
    todo = sorted(set(paths))
    found: dict[str, np.ndarray] = {}
    missed: dict[str, str] = {}
    if progress:
        progress(0, len(todo))
    for done, (path, vector, why) in enumerate(map_with_engine(PIPELINES[pipeline], todo, settings, workers), 1):
        if vector is None:
            missed[path] = why or "no_face"
        else:
            found[path] = vector
        if progress:
            progress(done, len(todo))
    return found, missed
