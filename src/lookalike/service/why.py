"""Why a face looks like its lookalikes, as the result document shows it: the aligned frame of each face
and, when asked for, which parts agree for its top matches (``engine/explain.py``).

The user's face is aligned from the photo in memory (the photo is not kept); each lookalike's aligned
face comes from the gallery (:meth:`~lookalike.gallery.store.Gallery.aligned_faces`; a gallery face
without one, built before aligned faces were kept, is not explained).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from lookalike.engine.align import CANONICAL_SIZE, canonical_matrix
from lookalike.engine.decode import Photo
from lookalike.engine.engine import Face, FaceEngine
from lookalike.engine.explain import AlignedFace, Explanation
from lookalike.service.results import PARTS, AlignedFrame, FaceResult, Lookalike, Why

#: Gallery face ids -> their aligned faces (those the gallery has).
AlignedOf = Callable[[list[int]], dict[int, AlignedFace]]


def aligned_frame(face: Face) -> AlignedFrame:
    """How the page cuts ``face`` from its photo, aligned like the gallery's aligned faces."""
    matrix = canonical_matrix(face.aligned_on)
    return AlignedFrame(CANONICAL_SIZE, [[round(float(v), 5) for v in row] for row in matrix])


def why(explanation: Explanation) -> Why:
    """An explanation as the result document shows it (growths to 4 places, the map to 3)."""
    return Why(
        parts={p: round(explanation.parts[p], 4) for p in PARTS},
        ranking=list(explanation.ranking),
        heatmap=[[round(float(v), 3) for v in row] for row in explanation.heatmap],
        distance=round(explanation.distance, 4),
    )


def with_frames(faces: Sequence[Face], docs: list[FaceResult]) -> list[FaceResult]:
    """Each face's document with its aligned frame (cheap: the page shows every pair aligned)."""
    return [dataclasses.replace(doc, aligned=aligned_frame(face)) for face, doc in zip(faces, docs, strict=True)]


def explained(
    engine: FaceEngine,
    aligned_of: AlignedOf,
    image: Photo,
    faces: Sequence[Face],
    docs: list[FaceResult],
    top: int,
    most: int,
) -> list[FaceResult]:
    """``docs`` with ``why`` on the ``top`` first matches of the ``most`` largest faces (the rest as they are)."""
    if not engine.explains or top <= 0 or most <= 0:
        return docs
    out = list(docs)
    largest = sorted(range(len(faces)), key=lambda i: -faces[i].size)[:most]
    for i in largest:
        shown = out[i].matches[:top]
        theirs = aligned_of([m.face_id for m in shown])
        chosen = [m for m in shown if m.face_id in theirs]
        if not chosen:
            continue
        found = engine.explain(engine.aligned(image, faces[i]), [theirs[m.face_id] for m in chosen])
        by_id = {m.face_id: why(e) for m, e in zip(chosen, found, strict=True)}
        out[i] = dataclasses.replace(out[i], matches=[_with_why(m, by_id.get(m.face_id)) for m in out[i].matches])
    return out


def _with_why(match: Lookalike, found: Why | None) -> Lookalike:
    return match if found is None else dataclasses.replace(match, why=found)
