"""Search: exact per-person minima, the HNSW path, similarity mapping, identity and watch list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.bench.search import face_like
from lookalike.errors import GalleryError
from lookalike.gallery.index import ExactIndex, HnswIndex, recall_at
from lookalike.gallery.search import Matcher, similarity
from lookalike.gallery.store import FaceRecord, Gallery, PhotoRecord
from lookalike.settings import Settings


def _gallery(path: Path, vectors: np.ndarray, persons: list[str]) -> Gallery:
    g = Gallery.create(path)
    with g.writing() as w:
        for i, (v, p) in enumerate(zip(vectors, persons)):
            w.put_photo(
                PhotoRecord(f"/photos/{p}/{i}.jpg", p, 1, 1, "ok", faces_found=1),
                [FaceRecord(p, (0, 0, 10, 10), 1.0, "hog", v, None)],
            )
    return g


def test_similarity_mapping() -> None:
    assert similarity(0.6) == pytest.approx(0.5)
    assert similarity(0.4) == pytest.approx(0.881, abs=0.001)
    values = [similarity(d) for d in np.linspace(0, 1.5, 50)]
    assert values == sorted(values, reverse=True) and values[0] < 1 and values[-1] > 0


def test_exact_index_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    g, q = rng.normal(size=(500, 128)).astype(np.float32), rng.normal(size=(3, 128)).astype(np.float32)
    dist, rows = ExactIndex(g).search(q, 7)
    brute = np.linalg.norm(g[None, :, :] - q[:, None, :], axis=2)
    assert np.array_equal(rows, np.argsort(brute, axis=1)[:, :7])
    assert np.allclose(dist, np.sort(brute, axis=1)[:, :7], atol=1e-4)


def test_top_k_people_are_distinct_with_their_best_photo(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    vectors, centres = face_like(400, None, rng)
    persons = [f"P{int(np.argmin(np.linalg.norm(centres - v, axis=1))):03d}" for v in vectors]
    with _gallery(tmp_path / "g", vectors, persons) as g:
        matcher = Matcher(g, Settings(top_k=5))
        query = vectors[17] + 0.001
        result = matcher.match(query)
        names = [m.person for m in result.matches]
        assert len(names) == len(set(names)) == 5
        assert result.best.person == persons[17] and result.identity == persons[17]
        # Each listed person's distance is the true minimum over that person's faces.
        for m in result.matches:
            rows = [i for i, p in enumerate(persons) if p == m.person]
            assert m.distance == pytest.approx(np.linalg.norm(vectors[rows] - query, axis=1).min(), abs=1e-4)
        distances = [m.distance for m in result.matches]
        assert distances == sorted(distances)


def test_no_identity_beyond_threshold(tmp_path: Path) -> None:
    v = np.zeros((2, 128), np.float32)
    v[1, 0] = 1.0
    with _gallery(tmp_path / "g", v, ["Near", "Far"]) as g:
        m = Matcher(g, Settings(threshold=0.6))
        far_query = np.zeros(128, np.float32)
        far_query[1] = 0.7
        result = m.match(far_query, watch=["Near", "Far"])
        assert result.identity is None and result.best.person == "Near"
        assert result.watch == {"Near": False, "Far": False}
        near = m.match(np.zeros(128, np.float32) + 0.01, watch=["Near", "Far"])
        assert near.identity == "Near" and near.watch == {"Near": True, "Far": False}
        with pytest.raises(GalleryError, match="did you mean 'Near'"):
            m.check_watch(["Naer"])


def test_identity_needs_a_close_and_unambiguous_match(tmp_path: Path) -> None:
    v = np.zeros((3, 128), np.float32)
    v[1, 0], v[2, 1] = 0.32, 1.0  # "Twin" is nearly as close to the origin as "Self"; "Other" is far
    with _gallery(tmp_path / "g", v, ["Self", "Twin", "Other"]) as g:
        m = Matcher(g, Settings(threshold=0.6, identity_threshold=0.45, identity_margin=0.05))
        q = np.zeros(128, np.float32)
        q[0] = 0.15  # 0.15 from Self, 0.17 from Twin: close, but ambiguous
        ambiguous = m.match(q, k=1, watch=["Self"])
        assert ambiguous.identity is None and ambiguous.watch == {"Self": True}
        assert [x.person for x in ambiguous.matches] == ["Self"]  # k=1 still shows one lookalike
        q[:] = 0
        q[0], q[3] = -0.05, 0.5  # ~0.5 from Self: the same person for verification, not enough to name
        assert m.match(q, watch=["Self"]).identity is None and m.match(q, watch=["Self"]).watch["Self"]
        q[3] = 0.1  # 0.11 from Self, 0.39 from Twin: clear
        assert m.match(q).identity == "Self"


def test_hnsw_path_agrees_with_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    vectors, centres = face_like(3000, None, rng)
    persons = [f"P{i // 4}" for i in range(len(vectors))]
    with _gallery(tmp_path / "g", vectors, persons) as g:
        exact = Matcher(g, Settings())
        approx = Matcher(g, Settings(ann_min_faces=1000))
        assert approx.index.kind == "hnsw" and exact.index.kind == "exact"
        queries = vectors[rng.integers(0, len(vectors), 50)] + rng.normal(0, 0.01, (50, 128)).astype(np.float32)
        agree = sum(
            a.best.person == e.best.person for a, e in zip(approx.match_many(queries), exact.match_many(queries))
        )
        assert agree >= 48
        assert list((tmp_path / "g" / "cache").glob("hnsw-*.faiss"))  # saved for the next start


def test_recall_of_hnsw_on_face_like_vectors() -> None:
    rng = np.random.default_rng(3)
    vectors, centres = face_like(20_000, None, rng)
    q = centres[rng.integers(0, len(centres), 100)] + rng.normal(0, 0.02, (100, 128)).astype(np.float32)
    _, exact_rows = ExactIndex(vectors).search(q, 10)
    _, approx_rows = HnswIndex.build(vectors).search(q, 10)
    assert recall_at(exact_rows, approx_rows) > 0.9
    assert recall_at(exact_rows, exact_rows) == 1.0
