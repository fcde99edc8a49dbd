"""The one use case everything else reaches: photo bytes -> faces -> lookalikes, as a typed result."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from lookalike.engine.decode import Photo, decode_photo
from lookalike.engine.engine import Box, Face, FaceEngine, Timings
from lookalike.errors import ImageError, LookalikeError
from lookalike.gallery.search import Match, Matcher, MatchResult
from lookalike.gallery.store import FaceDetails, Gallery
from lookalike.person_filter import PersonFilter
from lookalike.service.results import (
    ComparedWith,
    Credit,
    FaceBox,
    FaceResult,
    FacesFound,
    Lookalike,
    PhotoResult,
    QualityMeasures,
    aligned_url,
)
from lookalike.service.why import explained, with_frames
from lookalike.settings import Settings


def face_box(box: Box) -> FaceBox:
    return FaceBox(box.left, box.top, box.right, box.bottom)


def lookalike(match: Match, details: FaceDetails | None) -> Lookalike:
    """One lookalike as a card shows it: the match, who the person is, and the photo's credit."""
    facts = details.facts if details else None
    prov = details.provenance if details else None
    return Lookalike(
        name=match.person,
        display_name=facts.name if facts and facts.name else match.name,  # a folder name is "Name_Q42"
        distance=round(match.distance, 4),
        similarity=round(match.similarity, 4),
        percentile=match.percentile,
        face_id=match.face_id,
        photo=match.photo,
        description=facts.description if facts else None,
        wikidata=facts.wikidata if facts else None,
        wikipedia=facts.wikipedia if facts else None,
        credit=Credit(prov.author, prov.licence, prov.licence_url, prov.source_url) if prov else None,
        aligned=aligned_url(match.face_id) if details and details.aligned else None,
    )


def face_result(face: Face, result: MatchResult, details: dict[int, FaceDetails], names: dict[str, str]) -> FaceResult:
    """One described face and its search result, as the result document shows them (``details``: the
    matched gallery faces' facts and credits; ``names``: how to show the people who faces *are*)."""
    return FaceResult(
        box=face_box(face.box),
        landmarks=[list(p) for p in face.landmarks],
        score=round(face.score, 4),
        detector=face.detector,
        size=face.size,
        quality=face.quality,
        identity=result.identity,
        matches=[lookalike(m, details.get(m.face_id)) for m in result.matches],
        watch=result.watch,
        identity_name=names.get(result.identity) if result.identity else None,
        quality_measures=quality_measures(face),
        hints=list(face.measures.hints) if face.measures else [],
    )


def quality_measures(face: Face) -> QualityMeasures | None:
    """The measures behind a face's hints, as the result document shows them."""
    m = face.measures
    if m is None:
        return None
    return QualityMeasures(m.size, m.sharpness, m.brightness, m.contrast, m.yaw, m.pitch)


class MatchService:
    r"""Holds the engine and the gallery's matcher; turns photos into :class:`PhotoResult`\ s."""

    def __init__(self, settings: Settings, engine: FaceEngine | None = None, matcher: Matcher | None = None) -> None:
        self.settings = settings
        self.engine = engine or FaceEngine(settings)
        self.matcher = matcher or Matcher(Gallery.open(settings.gallery_path()), settings)
        self._stamp = self._changes()

    def _changes(self) -> tuple[int, tuple[int, int] | None]:
        """What a search depends on besides the engine: the gallery's generation and the removal list's file."""
        try:
            listed = self.settings.removals_path().stat()
            removals: tuple[int, int] | None = (listed.st_mtime_ns, listed.st_size)
        except OSError:
            removals = None
        return self.matcher.gallery.generation, removals

    def current_matcher(self) -> Matcher:
        """The matcher, made again when the gallery changed (``gallery remove``/``add`` while serving) or the
        removal list did: a running server never shows a face that is gone or a person just listed."""
        changes = self._changes()
        if changes != self._stamp:
            self.matcher = Matcher(self.matcher.gallery, self.settings)
            self._stamp = changes
        return self.matcher

    def match_bytes(
        self,
        data: bytes,
        name: str = "photo",
        watch: list[str] | None = None,
        on_faces: Callable[[FacesFound], None] | None = None,
        person_filter: PersonFilter | None = None,
        explain: bool = False,
    ) -> PhotoResult:
        """Match every face in ``data``.  ``on_faces(found)`` is called once faces are found;
        ``person_filter`` chooses whom the faces are compared with (:mod:`lookalike.person_filter`);
        ``explain`` adds which parts agree to the top matches of the largest faces (:mod:`.why`).

        Bad input never raises: the result carries ``error`` with a ``code`` and a message instead.
        """
        timings = Timings()
        start = time.perf_counter()
        try:
            with timings.stage("decode"):
                if len(data) > self.settings.max_upload_bytes:
                    raise ImageError(
                        f"The file is {len(data) / 2**20:.1f} MB; the limit is "
                        f"{self.settings.max_upload_bytes / 2**20:.0f} MB.",
                        code="too_large",
                    )
                image = decode_photo(data, self.settings, self.engine.decode_scale)
                info = image.info
            detections = self.engine.detect(image, timings)
            chosen = detections[: self.settings.max_faces]
            if on_faces is not None:
                on_faces(FacesFound(len(detections), [face_box(d.box) for d in chosen], info.width, info.height))
            faces = self.engine.describe(image, chosen, timings)
            with timings.stage("search"):
                face_docs, results = self.lookalikes(faces, [f.embedding for f in faces], watch, person_filter)
            face_docs = with_frames(faces, face_docs)
            if explain:
                with timings.stage("explain"):
                    face_docs = self.explained(image, faces, face_docs)
        except LookalikeError as exc:
            return self.error_result(name, exc.code, exc.message, watch)
        watch_doc: dict[str, bool] = {"faces": bool(face_docs)}
        for person in watch or []:
            watch_doc[person] = any(r.watch.get(person, False) for r in results)
        timings.stages["total"] = time.perf_counter() - start
        return PhotoResult(
            photo=name,
            error=None,
            width=info.width,
            height=info.height,
            rotated=info.rotated,
            faces_found=len(detections),
            faces=face_docs,
            watch=watch_doc,
            timings_ms={k: round(v * 1000, 1) for k, v in timings.stages.items()},
            compared_with=self.compared_with(person_filter),
        )

    def lookalikes(
        self,
        faces: list[Face],
        vectors: list[np.ndarray],
        watch: list[str] | None = None,
        person_filter: PersonFilter | None = None,
    ) -> tuple[list[FaceResult], list[MatchResult]]:
        """Search the gallery for each vector and describe the result on its face (box, landmarks, quality)
        with the cards' facts and credits; ``vectors[i]`` is ``faces[i]``'s embedding, or a combined one."""
        if not faces:
            return [], []
        matcher = self.current_matcher()
        results = matcher.match_many(np.asarray(vectors), watch=watch, person_filter=person_filter)
        matched = [m.face_id for r in results for m in r.matches]
        details = matcher.gallery.face_details(matched) if matched else {}  # the cards' credits
        names = matcher.gallery.display_names(r.identity for r in results if r.identity)
        return [face_result(face, r, details, names) for face, r in zip(faces, results, strict=True)], results

    def explained(self, image: Photo, faces: list[Face], docs: list[FaceResult]) -> list[FaceResult]:
        """``docs`` with which parts agree, for the settings' top matches of its largest faces."""
        s = self.settings
        return explained(
            self.engine, self.matcher.gallery.aligned_faces, image, faces, docs, s.explain_top, s.explain_faces
        )

    def compared_with(self, person_filter: PersonFilter | None) -> ComparedWith | None:
        if person_filter is None or person_filter.empty:
            return None
        matcher = self.matcher
        return ComparedWith(person_filter.describe(), matcher.people_passing(person_filter), len(matcher.people))

    @staticmethod
    def error_result(name: str, code: str, message: str, watch: list[str] | None = None) -> PhotoResult:
        return PhotoResult.failed(name, code, message, watch)
