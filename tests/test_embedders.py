"""Embedding models: one scale for all, per-model rules, and the fused vector computed as specified."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.engine import weights
from lookalike.engine.align import ARCFACE_TEMPLATE, DLIB_TEMPLATE, align_all
from lookalike.engine.embedding import (
    EMBEDDERS,
    Landmarks,
    calibration,
    create_embedder,
    embedding_id,
    embedding_model,
    identity_rule,
    normalise,
)
from lookalike.engine.embedding.fused import FUSION_WEIGHT
from lookalike.engine.embedding.sface import SFace
from lookalike.engine.engine import FaceEngine
from lookalike.engine.resnet import DlibResNet
from lookalike.errors import LookalikeError
from lookalike.gallery.search import similarity
from lookalike.settings import Settings

from .conftest import read_rgb

#: The embedding spaces galleries record: a gallery opens only under the same name, so these never change.
SPACES = {
    ("fused", False): "fused-v1+r0.8008",
    ("fused", True): "fused-v1+flip+r0.8092",
    ("sface", False): "sface-v1+r0.5191",
    ("sface", True): "sface-v1+flip+r0.5195",
    ("dlib", False): "dlib_face_recognition_resnet_model_v1+r1.43",
    ("dlib", True): "dlib_face_recognition_resnet_model_v1+flip+r1.43",
}


def test_every_space_has_its_own_name_and_an_unknown_model_is_refused() -> None:
    ids = {embedding_id(Settings(embedding=m, embed_flip=f)) for m in EMBEDDERS for f in (False, True)}
    assert len(ids) == 2 * len(EMBEDDERS)
    assert {(m, f): embedding_id(Settings(embedding=m, embed_flip=f)) for m, f in SPACES} == SPACES
    # Galleries built before engine v2 keep their name: the dlib model with mirror-averaging.
    assert (
        embedding_id(Settings(embedding="dlib", embed_flip=True)) == "dlib_face_recognition_resnet_model_v1+flip+r1.43"
    )
    with pytest.raises(LookalikeError, match="unknown embedding model 'arcface'"):
        embedding_model(Settings(embedding="arcface"))


def test_identity_rule_is_the_models_unless_set() -> None:
    fused, dlib = Settings(), Settings(embedding="dlib")
    assert identity_rule(fused) == (calibration(fused).identity_threshold, calibration(fused).identity_margin)
    assert identity_rule(dlib) == (0.45, 0.05)
    assert identity_rule(fused) != identity_rule(dlib)
    assert identity_rule(Settings(identity_threshold=0.6, identity_margin=0.0)) == (0.6, 0.0)
    env = Settings.from_env({"LOOKALIKE_IDENTITY_THRESHOLD": "0.5", "LOOKALIKE_EMBEDDING": "sface"})
    assert env.identity_threshold == 0.5 and identity_rule(env)[1] == calibration(env).identity_margin


@pytest.mark.parametrize("slope", [10.0, 19.9])
def test_similarity_is_half_at_the_threshold_and_falls_with_distance(slope: float) -> None:
    assert similarity(0.6, 0.6, slope) == pytest.approx(0.5)
    values = [similarity(d, 0.6, slope) for d in np.linspace(0.0, 3.0, 61)]
    assert all(a > b for a, b in zip(values, values[1:]))
    assert similarity(1e6, 0.6, slope) == 0.0  # no overflow for absurd distances


def test_fused_vector_is_both_networks_weighted_and_scaled(data: Path) -> None:
    """The two networks run at once on two threads; the result must equal doing it step by step."""
    settings = Settings()
    engine = FaceEngine(settings)
    image = read_rgb(data / "group" / "face_recognition__obama_and_biden.jpg")
    faces = engine.analyze(image)
    assert len(faces) >= 2
    radius = calibration(settings).radius
    assert np.allclose(np.linalg.norm([f.embedding for f in faces], axis=1), radius, atol=1e-4)
    points = [np.asarray(f.landmarks, dtype=np.float64) for f in faces]  # rounded points: recompute from them
    vectors = create_embedder(settings).embed(image, [Landmarks(p) for p in points])
    chips = [align_all(image, p, [(ARCFACE_TEMPLATE, 112), (DLIB_TEMPLATE, 150)]) for p in points]
    dlib = normalise(DlibResNet(weights.dlib_file(weights.DLIB_RESNET)).embed(np.stack([c[1] for c in chips])))
    sface = SFace(settings).embed_chips(np.stack([c[0] for c in chips]))
    assert vectors.shape == (len(faces), 256)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    for i in range(len(faces)):
        for j in range(len(faces)):
            expected = FUSION_WEIGHT * dlib[i] @ dlib[j] + (1 - FUSION_WEIGHT) * sface[i] @ sface[j]
            assert vectors[i] @ vectors[j] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("name", sorted(EMBEDDERS))
def test_every_registered_model_gives_unit_vectors_the_engine_scales_to_its_radius(data: Path, name: str) -> None:
    settings = Settings(embedding=name)
    model = EMBEDDERS[name]
    engine = FaceEngine(settings)
    assert engine.embedder.dim == model.dim
    faces = engine.analyze(read_rgb(data / "group" / "face_recognition__two_people.jpg"))
    assert len(faces) == 2
    for face in faces:
        assert face.embedding.shape == (model.dim,) and face.embedding.dtype == np.float32
        assert np.linalg.norm(face.embedding) == pytest.approx(model.calibration(False).radius, abs=1e-4)
    assert engine.embedder.embed(np.zeros((10, 10, 3), np.uint8), []).shape == (0, model.dim)
