"""A lookalike's percentile: the share of LFW's pairs of strangers farther apart, from the model's table."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

import numpy as np
import pytest

from lookalike.engine.embedding import EMBEDDERS, embedding_id
from lookalike.engine.embedding.strangers import StrangerTable, percentile, stranger_table
from lookalike.evaluation.strangers import stranger_table_of, write_stranger_table
from lookalike.gallery.search import Matcher
from lookalike.gallery.store import FaceRecord, Gallery, PhotoRecord
from lookalike.settings import Settings

DEFAULT_ID = embedding_id(Settings())


def default_table() -> StrangerTable:
    table = stranger_table(DEFAULT_ID)
    assert table is not None, f"no stranger table for the default embedding id {DEFAULT_ID}"
    return table


def test_the_default_model_has_a_sorted_table_of_the_3000_stranger_pairs() -> None:
    table = default_table()
    assert table.embedding_id == DEFAULT_ID
    assert np.all(np.diff(table.distances) >= 0)
    assert 2_900 <= table.pairs <= 3_000 and table.pairs + table.pairs_missed == 3_000
    assert "lookalike eval lfw" in table.command and "--strangers-out" in table.command
    datetime.date.fromisoformat(table.measured)
    # Strangers on the engine's scale: almost all beyond the verification threshold, the median near 0.7.
    assert 0.6 < float(np.median(table.distances)) < 0.85
    assert float(np.mean(table.distances > 0.6)) > 0.95


def test_percentile_falls_with_distance_and_is_a_count_on_the_table() -> None:
    table = default_table()
    grid = np.linspace(0.0, 2.0, 801)
    values = [table.percentile(float(d)) for d in grid]
    assert values == sorted(values, reverse=True)
    assert values[0] == 100.0 and values[-1] == 0.0
    probes = np.concatenate([grid, table.distances[::97], table.distances[:3], table.distances[-3:]])
    for d in probes.tolist():
        farther = int(np.sum(table.distances > d))  # strictly farther: a tie does not count
        expected = math.floor(1000 * farther / table.pairs) / 10
        assert table.percentile(d) == expected, d
        assert 0.0 <= table.percentile(d) <= 100.0
    assert percentile(DEFAULT_ID, 0.5) == table.percentile(0.5)


def test_a_space_without_a_table_has_no_percentile() -> None:
    assert stranger_table("no-such-space-v1+r1.0") is None
    assert percentile("no-such-space-v1+r1.0", 0.5) is None


def _gallery(path: Path, vectors: np.ndarray, settings: Settings) -> Gallery:
    g = Gallery.create(path)
    model = EMBEDDERS[settings.embedding]
    g.check_embedding(embedding_id(settings), claim=True, dim=model.dim, model=model.name)
    with g.writing() as w:
        for i, v in enumerate(vectors):
            person = f"P{i}"
            w.put_photo(
                PhotoRecord(f"/photos/{person}/{i}.jpg", person, 1, 1, "ok", faces_found=1),
                [FaceRecord(person, (0, 0, 10, 10), 1.0, "yunet", v, None)],
            )
    return g


def test_matches_carry_the_table_percentile_or_none_for_a_model_without_one(tmp_path: Path) -> None:
    untabled = [
        Settings(embedding=name, embed_flip=flip)
        for name in EMBEDDERS
        for flip in (False, True)
        if stranger_table(embedding_id(Settings(embedding=name, embed_flip=flip))) is None
    ]
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 256)).astype(np.float32)
    vectors *= 0.4 / np.linalg.norm(vectors, axis=1, keepdims=True)  # ~0.57 apart: the range of lookalikes
    with _gallery(tmp_path / "g", vectors, Settings()) as g:
        matches = Matcher(g, Settings()).match(vectors[0] + 0.01).matches
        table = default_table()
        assert [m.percentile for m in matches] == [table.percentile(m.distance) for m in matches]
        assert matches[0].percentile == 100.0 and all(m.percentile is not None for m in matches)
    if not untabled:
        pytest.skip("every model the engine offers has a stranger table")
    other = untabled[0]
    dim = EMBEDDERS[other.embedding].dim
    with _gallery(tmp_path / "h", vectors[:, :dim], other) as g:
        assert all(m.percentile is None for m in Matcher(g, other).match(vectors[0, :dim]).matches)


def test_a_measured_table_is_written_and_read_back(tmp_path: Path) -> None:
    dist = np.array([0.41, 0.93, np.nan, 0.70001, 0.35, 0.62, np.nan])
    same = np.array([True, False, False, False, True, False, True])
    settings = Settings(embedding="sface")
    table = stranger_table_of(dist, same, settings, today=datetime.date(2026, 1, 2))
    assert table.pairs == 3 and table.pairs_missed == 1 and table.distances.tolist() == [0.62, 0.7, 0.93]
    assert table.embedding_id == embedding_id(settings) and table.measured == "2026-01-02"
    assert table.command.startswith("LOOKALIKE_EMBEDDING=sface ")
    assert not any(part.startswith("/") for part in table.command.split())  # no path of this machine
    path = write_stranger_table(table, tmp_path)
    assert path == tmp_path / f"{table.embedding_id}.json"
    back = StrangerTable.from_document(json.loads(path.read_text()))
    assert back.distances.tolist() == table.distances.tolist() and back.pairs_missed == 1
    assert back.percentile(0.5) == 100.0 and back.percentile(0.7) == 33.3 and back.percentile(1.0) == 0.0
