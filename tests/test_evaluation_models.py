"""Model comparison maths: cross-validated thresholds and fusion weights, the fused vector, identity rule."""

from __future__ import annotations

import numpy as np

from lookalike.engine.embedding import fuse
from lookalike.evaluation.crossid import _choose, _named, _people_distances, engine_radius
from lookalike.evaluation.lfw import FUSION_WEIGHTS, cross_validate


def _pairs(rng: np.random.Generator, n: int = 600, folds: int = 10) -> tuple[np.ndarray, np.ndarray]:
    same = np.tile([True, False], n * folds // 2)
    fold_of = np.repeat(np.arange(1, folds + 1), n)
    return same, fold_of


def test_separable_distances_score_100_percent_with_a_threshold_between() -> None:
    rng = np.random.default_rng(0)
    same, fold_of = _pairs(rng)
    dist = np.where(same, rng.uniform(0.1, 0.3, len(same)), rng.uniform(0.5, 0.9, len(same)))
    report = cross_validate([dist], same, fold_of)
    assert report["accuracy"] == 1.0
    assert 0.3 <= report["threshold_mean"] < 0.5


def test_a_missed_pair_is_an_error() -> None:
    rng = np.random.default_rng(1)
    same, fold_of = _pairs(rng)
    dist = np.where(same, 0.2, 0.8)
    dist[:6] = np.nan  # six pairs of fold 1 without a face
    report = cross_validate([dist], same, fold_of)
    assert report["missed_pairs"] == 6
    assert report["per_fold"][0]["accuracy"] == 1 - 6 / 600
    assert report["per_fold"][0]["accuracy_found"] == 1.0


def test_fusion_picks_the_informative_model_on_training_folds() -> None:
    rng = np.random.default_rng(2)
    same, fold_of = _pairs(rng)
    good = np.where(same, rng.normal(0.3, 0.05, len(same)), rng.normal(0.7, 0.05, len(same)))
    noise = rng.uniform(0, 1, len(same))
    report = cross_validate([noise, good], same, fold_of, FUSION_WEIGHTS)
    assert report["weight_mean"] <= 0.1  # weight is the share of the first (useless) model
    assert report["accuracy"] > 0.99
    alone = cross_validate([noise], same, fold_of)
    assert alone["accuracy"] < 0.6


def test_fused_vector_cosine_is_the_weighted_cosine() -> None:
    rng = np.random.default_rng(3)

    def unit(n: int, d: int) -> np.ndarray:
        v = rng.normal(size=(n, d))
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    a, b = unit(2, 128), unit(2, 128)
    fused = fuse(a, b, 0.3)
    assert fused.shape == (2, 256)
    assert np.allclose(np.linalg.norm(fused, axis=1), 1.0, atol=1e-6)
    assert fused[0] @ fused[1] == np_approx(0.3 * a[0] @ a[1] + 0.7 * b[0] @ b[1])


def np_approx(value: float) -> object:
    import pytest

    return pytest.approx(value, abs=1e-5)


def test_people_distances_take_each_persons_nearest_photo() -> None:
    gallery = np.eye(4, dtype=np.float32)
    labels = np.array([0, 1, 1, 2])
    query = np.array([[0.0, 0.0, 1.0, 0.0]], dtype=np.float32)
    dist = _people_distances(query, gallery, labels, 3)
    assert dist.tolist() == [[1.0, 0.0, 1.0]]


def test_identity_rule_respects_the_strangers_budget() -> None:
    known = np.array([[0.2, 0.5], [0.3, 0.6], [0.45, 0.5]])
    right = np.array([True, True, True])
    strangers = np.array([[0.35, 0.50], [0.5, 0.52]])
    t, m = _choose(known, right, strangers, max_strangers=0.0)
    assert not _named(strangers, t, m).any()
    assert _named(known, t, m)[:2].all()  # both clear cases named, without naming a stranger


def test_every_evaluated_model_is_made_of_the_engines_models() -> None:
    from lookalike.cli.evaluate import MODEL_NAMES
    from lookalike.engine.embedding import EMBEDDERS
    from lookalike.engine.embedding.fused import FUSION_WEIGHT
    from lookalike.evaluation.variants import EVALUATED_MODELS, FUSIONS
    from lookalike.settings import Settings

    assert tuple(EVALUATED_MODELS) == MODEL_NAMES
    for name, parts in FUSIONS.items():
        assert EVALUATED_MODELS[name].kind == "fusion"
        assert all(EVALUATED_MODELS[p].kind != "fusion" for p in parts)
    for model in EVALUATED_MODELS.values():
        assert model.offered is None or model.offered[0] in EMBEDDERS
    settings = Settings()
    assert engine_radius("engine", 0.5, settings) == EMBEDDERS["fused"].plain.radius
    assert engine_radius("fused", FUSION_WEIGHT, settings) == EMBEDDERS["fused"].plain.radius
    assert engine_radius("fused-flip", FUSION_WEIGHT, settings) == EMBEDDERS["fused"].flipped.radius
    assert engine_radius("fused", 0.5, settings) is None  # not the engine's weight: cosine distances
    assert engine_radius("sface-flip", 0.5, settings) == EMBEDDERS["sface"].flipped.radius
    assert engine_radius("dlib", 0.5, settings) == EMBEDDERS["dlib"].flipped.radius
    assert engine_radius("dlib-yunet", 0.5, settings) is None and engine_radius("fused-dlib", 0.7, settings) is None


def test_the_evaluated_fusion_at_the_engines_weight_is_the_engines_fused_embedder(data, settings) -> None:  # type: ignore[no-untyped-def]
    """The evaluation's ``fused`` runs the engine's two part embedders and joins them as the engine does."""
    import cv2

    from lookalike.engine.embedding import Landmarks, create_embedder
    from lookalike.engine.embedding.fused import FUSION_WEIGHT
    from lookalike.evaluation.zoo import centre_face_points, vectors

    paths = [str(data / "lfw" / name / f"{name}_0001.jpg") for name in ("Tony_Blair", "Serena_Williams")]
    for flip, model in ((False, "fused"), (True, "fused-flip")):
        found, missed = vectors(paths, model, settings, workers=1, weight=FUSION_WEIGHT)
        assert not missed
        engine_fused = create_embedder(settings.replace(embed_flip=flip))
        for path in paths:
            bgr = cv2.imread(path, cv2.IMREAD_COLOR)
            points = centre_face_points(bgr, settings)
            rgb = np.ascontiguousarray(bgr[:, :, ::-1])
            expected = engine_fused.embed(rgb, [Landmarks(points)])[0]
            assert np.abs(found[path] - expected).max() < 1e-4  # another process's BLAS: float noise (test_resnet)
