"""Gallery format 3: every face keeps its aligned face and its 5 points; older galleries are given theirs
by a build, without embedding anything again."""

from __future__ import annotations

import io
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.engine.align import CANONICAL_SIZE, CANONICAL_TEMPLATE, canonical_matrix
from lookalike.gallery.build import align_stored_face, build_gallery, iou, scan_sources
from lookalike.gallery.store import FORMAT_VERSION, READABLE_VERSIONS, Gallery, landmarks_blob, landmarks_of
from lookalike.settings import Settings

#: LFW people with a few photos each (250x250, the labelled face in the centre).
PEOPLE = ("Abdullah_Gul", "Adrien_Brody", "Alejandro_Toledo")
PHOTOS_EACH = 3


@pytest.fixture(scope="module")
def lfw_source(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Copies (in a temp dir, for these tests only) of a few LFW photos, as ``<Person>/<photos>``."""
    src = tmp_path_factory.mktemp("lfw") / "src"
    for person in PEOPLE:
        (src / person).mkdir(parents=True)
        for photo in sorted((data / "lfw" / person).iterdir())[:PHOTOS_EACH]:
            shutil.copy2(photo, src / person / photo.name)
    return src


@pytest.fixture(scope="module")
def built(lfw_source: Path, tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Path:
    path = tmp_path_factory.mktemp("built") / "g"
    with Gallery.create(path) as g:
        report = build_gallery(g, scan_sources([lfw_source])[0], settings, workers=1)
    assert report.added == len(PEOPLE) * PHOTOS_EACH and report.aligned == 0  # new faces: aligned as embedded
    return path


def _as_version_2(built: Path, out: Path) -> None:
    """``built`` as version 2 wrote it: no ``landmarks``, no ``aligned``, format_version 2."""
    shutil.copytree(built, out)
    shutil.rmtree(out / "cache", ignore_errors=True)
    with sqlite3.connect(out / "gallery.sqlite") as db:
        db.execute("ALTER TABLE faces DROP COLUMN landmarks")
        db.execute("ALTER TABLE faces DROP COLUMN aligned")
        db.execute("UPDATE meta SET value = '2' WHERE key = 'format_version'")


def _faces(path: Path) -> dict[int, tuple[bytes, bytes | None, bytes | None]]:
    """Each face's (embedding, landmarks, aligned) as stored."""
    with sqlite3.connect(path / "gallery.sqlite") as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(faces)")}
        extra = "landmarks, aligned" if "aligned" in columns else "NULL, NULL"
        return {r[0]: tuple(r[1:]) for r in db.execute(f"SELECT id, embedding, {extra} FROM faces")}


def _decode(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))


def test_the_format_is_3_and_reads_1_to_3() -> None:
    assert FORMAT_VERSION == 3 and READABLE_VERSIONS == (1, 2, 3)
    points = np.array([[10.25, 20.5], [30, 20], [20, 30], [12, 40], [28, 40]])
    blob = landmarks_blob(points)
    assert blob is not None and len(blob) == 40  # 10 little-endian float32
    assert np.array_equal(landmarks_of(blob), points) and landmarks_of(None) is None
    with pytest.raises(ValueError, match="5 points"):
        landmarks_blob(points[:4])


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (10, 10, 20, 20)) == 0.0


@pytest.mark.data
def test_a_build_stores_each_face_aligned_with_its_eyes_on_the_template(built: Path, engine) -> None:  # type: ignore[no-untyped-def]
    with Gallery.open(built) as g:
        assert g.version == 3 and g.meta()["format_version"] == "3"
        ids = [int(i) for i in g.vectors()[1]]
        faces = g.aligned_faces(ids)
        assert sorted(faces) == sorted(ids)  # every face of these photos has its aligned face
        details = g.face_details(ids)
        assert all(d.aligned for d in details.values())
        for face_id in ids:
            face, jpeg, landmarks = faces[face_id], g.aligned(face_id), g.landmarks(face_id)
            assert jpeg is not None and jpeg[:2] == b"\xff\xd8" and landmarks is not None
            assert face.image.shape == (CANONICAL_SIZE, CANONICAL_SIZE, 3) and face.image.dtype == np.uint8
            info = g.face_info(face_id)
            left, top, right, bottom = info.box
            assert all(left <= x <= right and top <= y <= bottom for x, y in landmarks)  # the photo's pixels
            matrix = canonical_matrix(landmarks)
            assert np.allclose(face.points, landmarks @ matrix[:, :2].T + matrix[:, 2])
            # The stored points land on the template's eyes, and the eyes are level.
            assert np.abs(face.points[:2] - CANONICAL_TEMPLATE[:2]).max() < 4.0, face.points[:2]
            assert abs(face.points[1, 1] - face.points[0, 1]) < 2.0
            # Found again on the aligned face itself, the eyes are where the template puts them.
            found = engine.detect(face.image)
            assert found, f"no face found on face {face_id}'s aligned face"
            points = engine.yunet_points(face.image, found[:1])[0]
            assert np.abs(points[:2] - CANONICAL_TEMPLATE[:2]).max() < 6.0, points[:2]
        assert g.aligned(10**9) is None and g.aligned_faces([10**9]) == {}


@pytest.mark.data
def test_a_version_2_gallery_is_read_without_aligned_faces_and_a_build_aligns_it_without_embedding(
    built: Path, lfw_source: Path, tmp_path: Path, settings: Settings
) -> None:
    _as_version_2(built, tmp_path / "v2")
    before = _faces(tmp_path / "v2")
    with Gallery.open(tmp_path / "v2") as old:  # a read-only reader: nothing written
        assert old.version == 2 and not old.has_aligned
        ids = [int(i) for i in old.vectors()[1]]
        assert old.aligned(ids[0]) is None and old.landmarks(ids[0]) is None and old.aligned_faces(ids) == {}
        assert not any(d.aligned for d in old.face_details(ids).values())
        assert len(old.unaligned_faces()) == len(ids)
    with sqlite3.connect(tmp_path / "v2" / "gallery.sqlite") as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone() == ("2",)

    steps: list[tuple[int, int]] = []
    with Gallery.create(tmp_path / "v2") as g:
        report = build_gallery(
            g, scan_sources([lfw_source])[0], settings, workers=1, progress=lambda *s: steps.append(s)
        )
        assert g.version == 3 and g.meta()["format_version"] == "3"
        assert report.as_dict()["aligned"] == len(ids) and report.not_aligned == {}
        assert (report.added, report.unchanged) == (0, len(ids))
        assert steps[0] == (0, len(ids)) and steps[-1] == (len(ids), len(ids))
        assert g.unaligned_faces() == []
    after, fresh = _faces(tmp_path / "v2"), _faces(built)
    assert sorted(after) == sorted(before)
    for face_id, (embedding, landmarks, aligned) in after.items():
        assert embedding == before[face_id][0]  # bit for bit: nothing was embedded again
        assert landmarks is not None and aligned is not None
        # The same points as a fresh build measured, hence the same aligned face.
        assert np.allclose(landmarks_of(landmarks), landmarks_of(fresh[face_id][1]), atol=0.01)
        assert np.abs(_decode(aligned).astype(int) - _decode(fresh[face_id][2]).astype(int)).mean() < 1.0

    with Gallery.open(tmp_path / "v2") as g:
        again = build_gallery(g, scan_sources([lfw_source])[0], settings, workers=1)
    assert (again.aligned, again.added) == (0, 0)  # nothing left to align


@pytest.mark.data
def test_a_photo_gone_or_changed_leaves_its_face_without_an_aligned_face(
    lfw_source: Path,
    tmp_path: Path,
    settings: Settings,
    engine,  # type: ignore[no-untyped-def]
) -> None:
    source = tmp_path / "src"
    shutil.copytree(lfw_source, source)
    fresh = tmp_path / "g"
    with Gallery.create(fresh) as g:
        build_gallery(g, scan_sources([source])[0], settings, workers=1)
    _as_version_2(fresh, tmp_path / "v2")
    first, second, third = sorted((source / PEOPLE[0]).iterdir())
    first.unlink()  # gone
    second.write_bytes(third.read_bytes())  # changed (same person, other bytes)
    with Gallery.open(tmp_path / "v2") as old:
        by_path = {f.path: f for f in old.unaligned_faces()}
    gone, changed = by_path[str(first.resolve())], by_path[str(second.resolve())]
    assert align_stored_face(gone, engine).reason == "gone"
    found = align_stored_face(changed, engine)
    assert (found.reason, found.aligned, found.landmarks) == ("changed", None, None)

    # A build that neither prunes nor embeds them again (``gallery add``-like: other photos only).
    others = [p for p in scan_sources([source])[0] if Path(p.path).parent.name != PEOPLE[0]]
    with Gallery.create(tmp_path / "v2") as g:
        report = build_gallery(g, others, settings, workers=1, prune=False)
        assert report.not_aligned == {"gone": 1, "changed": 1}
        assert report.aligned == len(by_path) - 2 and report.added == 0
        assert g.aligned(gone.id) is None and g.aligned(changed.id) is None
        assert not g.face_details([changed.id])[changed.id].aligned
        assert g.aligned(by_path[str(third.resolve())].id) is not None


@pytest.mark.data
def test_a_match_on_a_format_3_gallery_links_and_explains_its_lookalikes_aligned_faces(
    built: Path,
    lfw_source: Path,
    settings: Settings,
    engine,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from lookalike.service.matching import MatchService

    photo = sorted((lfw_source / PEOPLE[1]).iterdir())[0]  # one of the gallery's own photos
    service = MatchService(settings.replace(gallery=built, top_k=3), engine)
    result = service.match_bytes(photo.read_bytes(), "p.jpg", explain=True)
    top = result.faces[0].matches[0]
    assert top.name == PEOPLE[1] and top.aligned == f"/api/faces/{top.face_id}/aligned"
    assert top.why is not None and sorted(top.why.ranking) == sorted(top.why.parts)
    shown = result.public(aligned="/cdn/{face_id}.jpg").faces[0].matches
    assert [m.aligned for m in shown] == [f"/cdn/{m.face_id}.jpg" for m in result.faces[0].matches]

    _as_version_2(built, tmp_path / "v2")  # read as it is: nothing to link, nothing explained
    old = MatchService(settings.replace(gallery=tmp_path / "v2", top_k=3), engine)
    matches = old.match_bytes(photo.read_bytes(), "p.jpg", explain=True).faces[0].matches
    assert matches[0].name == PEOPLE[1] and all(m.aligned is None and m.why is None for m in matches)
