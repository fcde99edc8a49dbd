"""Why a face looks like its lookalikes, in the result document (service/why.py): who is explained, and how."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lookalike.service.matching import MatchService
from lookalike.service.results import PARTS
from lookalike.service.why import aligned_frame
from lookalike.settings import Settings
from tests.conftest import needs_data, read_rgb

TWO_PEOPLE = Path("group") / "face_recognition__two_people.jpg"


@needs_data
def test_explained_matches_carry_why_and_nothing_else_changes(
    small_gallery: Path, settings: Settings, data: Path
) -> None:
    service = MatchService(settings.replace(gallery=small_gallery))
    photo = (data / TWO_PEOPLE).read_bytes()
    plain = service.match_bytes(photo)
    told = service.match_bytes(photo, explain=True)
    assert len(told.faces) == len(plain.faces) == 2
    assert "explain" not in plain.timings_ms and told.timings_ms["explain"] > 0
    for before, after in zip(plain.faces, told.faces, strict=True):
        assert [(m.face_id, m.distance) for m in before.matches] == [(m.face_id, m.distance) for m in after.matches]
        assert all(m.why is None for m in before.matches)
        assert after.aligned is not None and after.aligned.size == 184
        top, rest = after.matches[:3], after.matches[3:]
        assert all(m.why is not None for m in top) and all(m.why is None for m in rest)
        for m in top:
            assert m.why is not None
            assert sorted(m.why.ranking) == sorted(PARTS) and set(m.why.parts) == set(PARTS)
            assert [m.why.parts[p] for p in m.why.ranking] == sorted(m.why.parts.values(), reverse=True)
            assert abs(m.why.distance - m.distance) < 0.05  # the aligned faces are the matched faces
            assert len(m.why.heatmap) == 12 and all(len(row) == 12 for row in m.why.heatmap)


@needs_data
def test_only_the_largest_faces_are_explained(small_gallery: Path, settings: Settings, data: Path) -> None:
    service = MatchService(settings.replace(gallery=small_gallery, explain_faces=1, explain_top=2))
    told = service.match_bytes((data / TWO_PEOPLE).read_bytes(), explain=True)
    largest = max(range(2), key=lambda i: told.faces[i].size)
    for i, face in enumerate(told.faces):
        explained = [m for m in face.matches if m.why is not None]
        assert len(explained) == (2 if i == largest else 0)


@needs_data
def test_the_aligned_frame_cuts_the_face_as_the_gallery_aligns_it(engine, data: Path) -> None:  # type: ignore[no-untyped-def]
    """What the page does with ``faces[i].aligned`` (one affine warp of the photo) gives the engine's aligned face."""
    image = read_rgb(data / "lfw" / "George_W_Bush" / "George_W_Bush_0001.jpg")
    face = engine.describe(image, engine.detect(image)[:1])[0]
    frame = aligned_frame(face)
    cut = cv2.warpAffine(image, np.array(frame.matrix), (frame.size, frame.size), flags=cv2.INTER_LINEAR)
    aligned = engine.aligned(image, face).image
    assert np.abs(cut.astype(int) - aligned.astype(int)).mean() < 2.0
