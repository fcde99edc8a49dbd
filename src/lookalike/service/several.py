"""Several photos of one person as one query (``lookalike match --same-person A B C``).

Each photo's largest face is found and described; the faces are checked to be one person
(``engine/combine.py``: a face farther than the verification threshold from every other one is
someone else's, and the whole request is refused, naming that photo); their vectors are combined
into one, steadier query, and that query is matched like a single face.  The result is a
:class:`PhotoResult` whose one face is the first photo's, with the combined matches and
``same_person`` saying which photos were combined and how far apart they were.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lookalike.engine.combine import combine, same_person
from lookalike.engine.decode import decode_photo
from lookalike.engine.engine import Face
from lookalike.errors import ImageError, LookalikeError
from lookalike.person_filter import PersonFilter
from lookalike.service.matching import MatchService
from lookalike.service.ports import MAX_PHOTOS, MIN_PHOTOS
from lookalike.service.results import PhotoResult, SamePersonInfo

__all__ = ["MAX_PHOTOS", "MIN_PHOTOS", "match_same_person"]


@dataclass(frozen=True)
class _Found:
    name: str
    face: Face
    width: int
    height: int
    rotated: bool
    faces_found: int


def _largest_face(service: MatchService, name: str, data: bytes) -> _Found:
    """The photo's largest face, described; :class:`LookalikeError` for a photo without one."""
    if len(data) > service.settings.max_upload_bytes:
        raise ImageError(f"{name} is over the upload limit.", code="too_large")
    image = decode_photo(data, service.settings, service.engine.decode_scale)
    info = image.info
    detections = service.engine.detect(image)
    if not detections:
        raise ImageError(f"No face found in {name}: each photo must show the person's face.", code="no_face")
    (face,) = service.engine.describe(image, detections[:1])
    return _Found(name, face, info.width, info.height, info.rotated, len(detections))


def match_same_person(
    service: MatchService, photos: list[tuple[str, bytes]], person_filter: PersonFilter | None = None
) -> PhotoResult:
    """One result for 2-5 photos of one person (see the module docstring); never raises for bad input."""
    label = " + ".join(name for name, _ in photos)
    if not MIN_PHOTOS <= len(photos) <= MAX_PHOTOS:
        return PhotoResult.failed(label, "bad_photos", f"Give {MIN_PHOTOS} to {MAX_PHOTOS} photos of one person.")
    try:
        found = [_largest_face(service, name, data) for name, data in photos]
    except LookalikeError as exc:
        return PhotoResult.failed(label, exc.code, exc.message)
    vectors = np.array([f.face.embedding for f in found])
    check = same_person(vectors, service.settings.threshold)
    if not check.ok:
        odd = ", ".join(found[i].name for i in check.odd)
        return replace(
            PhotoResult.failed(
                label,
                "not_same_person",
                f"These photos do not look like one person to the face model ({odd} looks like someone else). "
                "Give photos of one person only, recent ones, facing the camera.",
            ),
            same_person=SamePersonInfo([f.name for f in found], check.distances, check.threshold, check.odd),
        )
    first = found[0]
    faces, _ = service.lookalikes([first.face], [combine(vectors)], person_filter=person_filter)
    return PhotoResult(
        photo=label,
        error=None,
        width=first.width,
        height=first.height,
        rotated=first.rotated,
        faces_found=first.faces_found,
        faces=faces,
        watch={"faces": True},
        timings_ms={},
        compared_with=service.compared_with(person_filter),
        same_person=SamePersonInfo([f.name for f in found], check.distances, check.threshold, []),
    )
