"""Our NumPy run of dlib's ResNet must give dlib's own embeddings, on real faces."""

from __future__ import annotations

from pathlib import Path

import dlib
import numpy as np
import pytest

from lookalike.engine import weights
from lookalike.engine.resnet import CHIP_PADDING, CHIP_SIZE, DlibResNet, ModelFormatError

from .conftest import read_rgb


@pytest.fixture(scope="module")
def net() -> DlibResNet:
    return DlibResNet(weights.dlib_file(weights.DLIB_RESNET))


def test_same_numbers_as_dlib(net: DlibResNet, data: Path) -> None:
    detector = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(weights.dlib_file(weights.DLIB_LANDMARKS_5))
    reference = dlib.face_recognition_model_v1(weights.dlib_file(weights.DLIB_RESNET))
    chips = []
    for photo in (
        "group/face_recognition__two_people.jpg",
        "lfw/Aaron_Eckhart/Aaron_Eckhart_0001.jpg",
        "small/five_celeb/Madonna",
    ):
        path = data / photo
        if path.is_dir():
            path = sorted(path.iterdir())[0]
        image = read_rgb(path)
        for rect in detector(image, 1):
            chips.append(dlib.get_face_chip(image, shapes(image, rect), CHIP_SIZE, CHIP_PADDING))
    assert len(chips) >= 4
    batch = np.stack(chips)
    theirs = np.array([reference.compute_face_descriptor(c) for c in chips], dtype=np.float32)
    ours = net.embed(batch)
    assert ours.shape == (len(chips), 128) and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() < 1e-4
    # One face alone gives the same vector as in a batch.
    assert np.abs(net.embed(batch[:1]) - ours[:1]).max() < 1e-5


def test_refuses_another_model_file(tmp_path: Path) -> None:
    other = tmp_path / "shape.dat"
    other.write_bytes(Path(weights.dlib_file(weights.DLIB_LANDMARKS_5)).read_bytes()[:100_000])
    with pytest.raises(ModelFormatError):
        DlibResNet(other)
