"""Gallery building (resumable, junk-tolerant), the store's format, and add/remove."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from lookalike.engine.embedding import embedding_id
from lookalike.errors import GalleryError
from lookalike.gallery.build import build_gallery, scan_sources
from lookalike.gallery.store import FORMAT_VERSION, Gallery
from lookalike.settings import Settings


@pytest.fixture
def source(data: Path, tmp_path: Path) -> Path:
    """A small <Person>/<photos> tree (copies made for this test only, in a temp dir) plus junk."""
    src = tmp_path / "src"
    for person in ("Barack_Obama", "Joseph_Biden", "Kit_Harington"):
        shutil.copytree(data / "small" / "face_recognition" / person, src / person)
    good = (src / "Barack_Obama" / "Barack_Obama_0001.jpg").read_bytes()
    (src / "Barack_Obama" / "notes.txt").write_text("not a photo")
    (src / "Barack_Obama" / "empty.jpg").write_bytes(b"")
    (src / "Barack_Obama" / "cut.jpg").write_bytes(good[: len(good) // 3])
    (src / "Barack_Obama" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (src / "Nobody").mkdir()
    (src / "Nobody" / "sky.png").write_bytes(_sky_png())
    (src / "loose.jpg").write_bytes(good)
    return src


def _sky_png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (300, 200), (120, 170, 230)).save(out, "PNG")
    return out.getvalue()


def test_build_skips_junk_with_reasons_and_resumes(source: Path, tmp_path: Path, settings: Settings) -> None:
    photos, problems = scan_sources([source])
    assert problems == [(str(source / "loose.jpg"), "not inside a person folder")]
    assert not any(p.path.endswith(".DS_Store") for p in photos)
    with Gallery.create(tmp_path / "g") as g:
        first = build_gallery(g, photos, settings, workers=2)
        assert first.added == 9  # 4 Obama + 2 Biden + 3 Kit
        assert first.skipped == {"not_an_image": 1, "empty": 1, "truncated": 1, "no face found": 1}
        reasons = {Path(p).name: why for p, why in first.log}
        assert reasons["cut.jpg"].startswith("truncated") and reasons["sky.png"] == "no face found"
        assert g.people() == ["Barack_Obama", "Joseph_Biden", "Kit_Harington"]

        again = build_gallery(g, photos, settings, workers=2)
        assert (again.added, again.unchanged, sum(again.skipped.values())) == (0, 13, 0)

        # A copied data folder (new modification times, the same bytes): no photo is embedded again.
        later = 2_000_000_000 * 10**9
        for photo in photos:
            os.utime(photo.path, ns=(later, later))
        copied = build_gallery(g, scan_sources([source])[0], settings, workers=2)
        assert copied.added == 0 and copied.unchanged >= 9 and g.counts()["faces"] == 9
        assert {r.mtime_ns for r in g.photos().values() if r.status == "ok"} == {later}  # recorded: fast next time

        # A changed photo is embedded again; a removed one is dropped.
        changed = source / "Kit_Harington" / "Kit_Harington_0001.jpg"
        changed.write_bytes((source / "Kit_Harington" / "Kit_Harington_0002.jpg").read_bytes())
        os.utime(changed, ns=(1, 1))
        (source / "Joseph_Biden" / "Joseph_Biden_0002.jpg").unlink()
        photos, _ = scan_sources([source])
        third = build_gallery(g, photos, settings, workers=1)
        assert (third.added, third.removed, third.unchanged) == (1, 1, 11)
        assert g.counts()["faces"] == 8


def test_store_format_and_cache(small_gallery: Path) -> None:
    with Gallery.open(small_gallery) as g:
        meta = g.meta()
        assert meta["format_version"] == str(FORMAT_VERSION) and meta["dim"] == "256"  # the fused model's
        assert meta["embedding"] == embedding_id(Settings())
        vectors, ids, persons = g.vectors()
        assert vectors.shape == (len(ids), 256) and len(persons) == len(ids)
        assert (small_gallery / "cache" / "stamp").read_text() == str(g.generation)
        info = g.face_info(int(ids[0]))
        assert Path(info.photo).is_file() and info.person == persons[0]
        thumb = g.thumbnail(int(ids[0]))
        assert thumb is not None and thumb[:2] == b"\xff\xd8" and len(thumb) < 20_000
    # A stale cache is noticed: fake one with wrong numbers and the same stamp moved on.
    np.save(small_gallery / "cache" / "vectors.npy", np.zeros((1, 256), np.float32))
    with Gallery.open(small_gallery) as g:
        assert len(g.vectors()[0]) == len(ids)


def test_open_missing_or_foreign_gallery(tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match="No gallery"):
        Gallery.open(tmp_path / "nothing")
    with Gallery.create(tmp_path / "g") as g, g.writing():
        g._db.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    with pytest.raises(GalleryError, match="format version 99"):
        Gallery.open(tmp_path / "g")


def test_add_and_remove_a_person(data: Path, tmp_path: Path, settings: Settings) -> None:
    photo = data / "small" / "five_celeb" / "Madonna"
    files = sorted(photo.iterdir())[:2]
    found, _ = scan_sources(files, person="Madonna")
    with Gallery.create(tmp_path / "g") as g:
        report = build_gallery(g, found, settings, workers=1, prune=False)
        assert report.added == 2 and g.people() == ["Madonna"]
        assert g.remove_person("Madonna") == 2
        assert g.people() == [] and g.counts()["faces"] == 0


def test_a_gallery_of_another_model_is_refused_with_what_to_do(data: Path, tmp_path: Path) -> None:
    """Switching models means rebuilding: vectors of two embedding spaces are never compared or mixed."""
    from lookalike.gallery.search import Matcher

    photos, _ = scan_sources([data / "small" / "five_celeb"])
    photos = photos[:3]
    dlib = Settings(embedding="dlib", embed_flip=True)
    with Gallery.create(tmp_path / "g") as g:
        build_gallery(g, photos, dlib, workers=1)
        assert g.dim == 128 and g.meta()["embedding"] == embedding_id(dlib)
        assert Matcher(g, dlib).size == 3  # searched with the model it was built with
        with pytest.raises(GalleryError, match="LOOKALIKE_EMBEDDING") as refused:
            Matcher(g, Settings())
        assert "Rebuild" in refused.value.message
        with pytest.raises(GalleryError, match="holds embeddings of kind"):
            build_gallery(g, photos, Settings(), workers=1)  # nor is a fused vector added to it
        assert g.counts()["faces"] == 3
