"""The documents the system gives back, typed: a photo's result, its faces and lookalikes, and errors.

:class:`PhotoResult` is what :class:`~lookalike.service.matching.MatchService` returns and what every
entry point shows: the CLI's table and ``--json``, ``POST /api/match``, the ``matched``/``failed``
events and ``GET /api/jobs/{id}``.  :func:`lookalike.documents.to_json` is the one way any of them becomes JSON.

Plain dataclasses (no framework): the Lambda bundle carries this module, and the web app derives the
OpenAPI schema from the same classes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from lookalike.documents import OMIT_EMPTY, to_json

#: Where a page finds a gallery face's thumbnail by default: the embedded API (on AWS, a CDN path).
DEFAULT_THUMBNAIL_URL = "/api/faces/{face_id}/thumbnail"
#: Where a page finds a gallery face's aligned face by default (on AWS, a CDN path).
DEFAULT_ALIGNED_URL = "/api/faces/{face_id}/aligned"


@dataclass(frozen=True)
class ErrorInfo:
    """What went wrong: ``code`` for programs, ``message`` for people."""

    code: str
    message: str


@dataclass(frozen=True)
class ErrorBody:
    """The one error envelope of every HTTP answer: ``{"error": {"code", "message"}}``."""

    error: ErrorInfo


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON of the error envelope."""
    return to_json(ErrorBody(ErrorInfo(code, message)))


@dataclass(frozen=True)
class FaceBox:
    """A face's box in the photo's pixels (upright, after EXIF orientation)."""

    left: int
    top: int
    right: int
    bottom: int


@dataclass(frozen=True)
class Credit:
    """Whose photo it is and on what terms, as the page must show it (plain text; None where unknown)."""

    author: str | None
    licence: str | None
    licence_url: str | None
    source_url: str | None


#: The parts of a face an explanation scores (``engine/explain.py``), in this order.
PARTS = ("eyes", "brows", "nose", "mouth", "shape")


@dataclass(frozen=True)
class Why:
    """Why two faces look alike, as the face model itself sees it (``engine/explain.py``, docs/engine.md).

    Both faces are aligned the same way (``AlignedFrame``); each part (``PARTS``: eyes, brows, nose,
    mouth, shape = jaw, chin and cheeks) is hidden in both, and ``parts[p]`` is how much the distance
    between their embeddings grows: > 0, the part makes them alike; < 0, it tells them apart.
    ``ranking``: the parts, most alike first.  ``heatmap``: rows x columns over the aligned face, each
    cell the parts' scores weighted by how much of the cell each part covers (the same scores, drawn).
    ``distance``: the two aligned faces' distance the scores are measured from."""

    parts: dict[str, float]
    ranking: list[str]
    heatmap: list[list[float]]
    distance: float


@dataclass(frozen=True)
class AlignedFrame:
    """How to cut a face of the photo aligned like the gallery's aligned faces: ``matrix`` (2x3) takes
    the photo's pixel coordinates to those of a ``size`` x ``size`` aligned face (eyes on one line)."""

    size: int
    matrix: list[list[float]]


@dataclass(frozen=True)
class Lookalike:
    """One gallery person a face looks like; ``photo`` and ``thumbnail`` are of their nearest gallery face."""

    name: str
    display_name: str
    distance: float
    similarity: float
    #: Percent (0..100) of LFW's pairs of different people farther apart than this pair: "more alike than
    #: 98% of pairs of strangers".  Not a probability of being the same person.  None: the model has no table.
    percentile: float | None
    face_id: int
    photo: str
    #: Where the page finds the thumbnail (set on results shown to clients, see :meth:`PhotoResult.public`).
    thumbnail: str | None = field(default=None, metadata=OMIT_EMPTY)
    description: str | None = None  # who the person is ("American actress"), where the gallery knows
    wikidata: str | None = None  # the person's Wikidata id
    wikipedia: str | None = None  # their English Wikipedia article
    credit: Credit | None = None  # the gallery photo's author and licence
    #: Where the page finds the gallery face aligned (``AlignedFrame``), when the gallery has it (the
    #: embedded API's address until :meth:`PhotoResult.public` puts the deployment's).
    aligned: str | None = field(default=None, metadata=OMIT_EMPTY)
    #: Which parts agree (asked for with ``explain``; the top matches of each explained face).
    why: Why | None = field(default=None, metadata=OMIT_EMPTY)


@dataclass(frozen=True)
class QualityMeasures:
    """What the photo of one face is like for matching (``engine/quality.py``; docs/engine.md): ``size``
    (px, the box's shorter side), ``sharpness`` (the Laplacian's spread over the grey levels' spread,
    on the aligned face; under 0.18 is "blurred"), ``brightness`` and ``contrast`` (mean and spread of
    the face's grey levels, 0..1; under 0.2 is "dark"), ``yaw`` and ``pitch`` (degrees, estimated from
    the 5 landmarks; yaw > 0: turned towards the image's right; beyond 35° either way is "turned";
    null with ``LOOKALIKE_EMBEDDING=dlib``, whose landmarks have no nose tip)."""

    size: int
    sharpness: float
    brightness: float
    contrast: float
    yaw: float | None
    pitch: float | None


@dataclass(frozen=True)
class FaceResult:
    """One face of the photo, its lookalikes, and whether it *is* someone of the gallery."""

    box: FaceBox
    landmarks: list[list[int]]
    score: float
    detector: str
    size: int
    quality: str
    identity: str | None
    matches: list[Lookalike]
    watch: dict[str, bool]
    identity_name: str | None = field(default=None, metadata=OMIT_EMPTY)  # how to show ``identity``
    #: The measures behind ``hints``.
    quality_measures: QualityMeasures | None = None
    #: What would make this face's lookalikes better (``engine/quality.py``'s ``HINTS``, in that order):
    #: "small", "blurred", "dark", "turned" (a sharper, frontal, well-lit photo); empty when none.
    hints: list[str] = field(default_factory=list)
    #: How to cut this face aligned (with ``explain``), to show it beside its lookalikes' aligned faces.
    aligned: AlignedFrame | None = field(default=None, metadata=OMIT_EMPTY)


@dataclass(frozen=True)
class ComparedWith:
    """Whom the faces were compared with, when the client chose (a filter): ``filter`` as text
    (``sex=female occupation=actor``), and how many of the gallery's people passed it."""

    filter: str
    people: int
    of_people: int


@dataclass(frozen=True)
class SamePersonInfo:
    """Several photos of one person combined into one query: which, how far apart their faces were
    (pairwise), the threshold, and the photos (indices) that looked like someone else."""

    photos: list[str]
    distances: list[list[float]]
    threshold: float
    odd: list[int]


@dataclass(frozen=True)
class PhotoResult:
    """The result of one photo; on failure ``error`` says why and the rest is empty."""

    photo: str
    error: ErrorInfo | None
    width: int | None
    height: int | None
    rotated: bool | None
    faces_found: int
    faces: list[FaceResult]
    watch: dict[str, bool]
    timings_ms: dict[str, float]
    compared_with: ComparedWith | None = field(default=None, metadata=OMIT_EMPTY)  # only with a filter
    same_person: SamePersonInfo | None = field(default=None, metadata=OMIT_EMPTY)  # only for several photos

    @classmethod
    def failed(cls, name: str, code: str, message: str, watch: list[str] | None = None) -> PhotoResult:
        return cls(
            photo=name,
            error=ErrorInfo(code, message),
            width=None,
            height=None,
            rotated=None,
            faces_found=0,
            faces=[],
            watch={"faces": False, **dict.fromkeys(watch or [], False)},
            timings_ms={},
        )

    def public(self, thumbnails: str = DEFAULT_THUMBNAIL_URL, aligned: str = DEFAULT_ALIGNED_URL) -> PhotoResult:
        """As shown to a client: thumbnail URLs added, aligned faces' URLs made from ``aligned`` (for the
        matches that have one), server paths reduced to file names."""
        faces = [
            dataclasses.replace(
                face,
                matches=[
                    dataclasses.replace(
                        m,
                        photo=PurePath(m.photo).name,
                        thumbnail=thumbnail_url(m.face_id, thumbnails),
                        aligned=aligned_url(m.face_id, aligned) if m.aligned is not None else None,
                    )
                    for m in face.matches
                ],
            )
            for face in self.faces
        ]
        return dataclasses.replace(self, faces=faces)


def thumbnail_url(face_id: int, template: str = DEFAULT_THUMBNAIL_URL) -> str:
    """Where a page finds a gallery face's thumbnail: the embedded API, or a CDN path on AWS."""
    return template.replace("{face_id}", str(int(face_id)))


def aligned_url(face_id: int, template: str = DEFAULT_ALIGNED_URL) -> str:
    """Where a page finds a gallery face's aligned face: the embedded API, or a CDN path on AWS."""
    return template.replace("{face_id}", str(int(face_id)))


@dataclass(frozen=True)
class FacesFound:
    """Sent once the faces are found, before they are matched: the page can draw the boxes."""

    faces_found: int
    boxes: list[FaceBox]
    width: int
    height: int
