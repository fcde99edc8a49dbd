"""Which parts agree (engine/explain.py): the regions, the scores on real faces, faithfulness and stability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.engine.align import CANONICAL_SIZE, CANONICAL_TEMPLATE
from lookalike.engine.explain import (
    HEATMAP_CELLS,
    PARTS,
    AlignedFace,
    explain,
    heatmap,
    mean_rank_agreement,
    part_masks,
)
from lookalike.settings import Settings
from tests.conftest import needs_data, read_rgb


def _at(mask: np.ndarray, point: np.ndarray) -> float:
    x, y = (round(v) for v in point)
    return float(mask[y, x])


def test_each_part_holds_its_landmarks_and_the_parts_do_not_overlap() -> None:
    masks = part_masks()
    assert masks.shape == (len(PARTS), CANONICAL_SIZE, CANONICAL_SIZE)
    eyes, brows, nose, mouth, shape = masks
    left_eye, right_eye, tip, mouth_l, mouth_r = CANONICAL_TEMPLATE
    assert _at(eyes, left_eye) > 0.99 and _at(eyes, right_eye) > 0.99
    assert _at(nose, tip) > 0.99
    assert _at(mouth, (mouth_l + mouth_r) / 2) > 0.99
    assert _at(brows, left_eye - (0, 19)) > 0.9 and _at(brows, left_eye) < 0.01  # above the eye, not on it
    cheek = (left_eye + mouth_l) / 2 - (8, 0)
    assert _at(shape, cheek) > 0.9 and _at(shape, tip) < 0.01
    chin = (mouth_l + mouth_r) / 2 + (0, 30)
    assert _at(shape, chin) > 0.9
    forehead = (left_eye + right_eye) / 2 - (0, 40)
    assert all(_at(m, forehead) < 0.05 for m in masks)  # no part reaches above the brows
    hard = masks > 0.5
    assert hard.sum(0).max() == 1  # where one part is, no other is


def test_shifted_masks_move_with_the_shift() -> None:
    base, moved = part_masks(), part_masks(3, 2)
    assert np.allclose(np.roll(base, (2, 3), axis=(1, 2))[:, 20:-20, 20:-20], moved[:, 20:-20, 20:-20], atol=0.02)


def test_heatmap_draws_each_parts_score_on_its_region() -> None:
    scores = np.array([0.0, 0.0, 0.0, 1.0, 0.0], np.float32)  # only the mouth
    cells = heatmap(scores)
    assert cells.shape == (HEATMAP_CELLS, HEATMAP_CELLS)
    mouth = (CANONICAL_TEMPLATE[3] + CANONICAL_TEMPLATE[4]) / 2
    step = CANONICAL_SIZE / HEATMAP_CELLS
    row, col = int(mouth[1] // step), int(mouth[0] // step)
    assert cells[row, col] > 0.6
    assert cells[0].max() == 0 and cells[:, 0].max() == 0  # the edges of the frame are no part


def test_rank_agreement() -> None:
    assert mean_rank_agreement(list(PARTS), list(PARTS)) == 1.0
    assert mean_rank_agreement(list(PARTS), list(reversed(PARTS))) == -1.0


@pytest.fixture(scope="module")
def faces(data: Path, engine) -> dict[str, AlignedFace]:  # type: ignore[no-untyped-def]
    found = {}
    for name, photo in (
        ("bush1", "George_W_Bush/George_W_Bush_0001.jpg"),
        ("bush2", "George_W_Bush/George_W_Bush_0002.jpg"),
        ("other", "Serena_Williams/Serena_Williams_0001.jpg"),
    ):
        image = read_rgb(data / "lfw" / photo)
        face = engine.describe(image, engine.detect(image)[:1])[0]
        found[name] = engine.aligned(image, face)
    return found


def _pasted(onto: AlignedFace, source: AlignedFace, part: str) -> AlignedFace:
    """``onto`` with ``source``'s pixels in ``part``'s region (the faces are aligned alike)."""
    mask = part_masks()[PARTS.index(part)][..., None]
    image = (onto.image * (1 - mask) + source.image * mask).round().astype(np.uint8)
    return AlignedFace(image, onto.points)


@needs_data
@pytest.mark.parametrize("part", ["mouth", "eyes"])
def test_a_part_taken_from_another_person_is_the_part_that_tells_them_apart(faces, engine, part: str) -> None:  # type: ignore[no-untyped-def]
    """The same photo with one part pasted from someone else: hiding that part in both makes them one face
    again, so it must be ranked last, with a negative score, and every other part scores about nothing."""
    changed = _pasted(faces["bush1"], faces["other"], part)
    [why] = explain(engine.embedder, engine.radius, faces["bush1"], [changed])
    assert why.ranking[-1] == part
    assert why.parts[part] < -0.5 * why.distance
    assert all(abs(why.parts[p]) < abs(why.parts[part]) / 2 for p in PARTS if p != part)


@needs_data
def test_scores_of_two_photos_of_one_person(faces, engine) -> None:  # type: ignore[no-untyped-def]
    [why] = explain(engine.embedder, engine.radius, faces["bush1"], [faces["bush2"]])
    assert sorted(why.ranking) == sorted(PARTS)
    assert 0.1 < why.distance < 0.6  # one person: under the verification distance
    assert why.parts[why.ranking[0]] > 0  # something makes them alike
    assert why.heatmap.shape == (HEATMAP_CELLS, HEATMAP_CELLS)


@needs_data
def test_the_users_hidden_faces_are_shared_by_all_lookalikes(faces, engine) -> None:  # type: ignore[no-untyped-def]
    """Explaining against two lookalikes at once gives each what it gets alone (one batch, same numbers)."""
    both = explain(engine.embedder, engine.radius, faces["bush1"], [faces["bush2"], faces["other"]])
    alone = [explain(engine.embedder, engine.radius, faces["bush1"], [f])[0] for f in (faces["bush2"], faces["other"])]
    for a, b in zip(both, alone, strict=True):
        assert a.ranking == b.ranking
        assert all(abs(a.parts[p] - b.parts[p]) < 1e-4 for p in PARTS)


@needs_data
def test_faithful_and_stable_on_a_small_lfw_subset(settings: Settings) -> None:
    """The benchmark (``lookalike eval explain``) on 8 same-person and 8 lookalike pairs of LFW: hiding the
    first-ranked part another way moves the distance more than hiding the last in at least 7 of 8 of each,
    and the re-encoded photo keeps the first part in most pairs."""
    from lookalike.evaluation.explain import evaluate

    report = evaluate(settings, pairs_per_kind=8, cost_rounds=2)
    assert report.pairs == {"same": 8, "lookalike": 8}
    assert report.faithful["same"] >= 7 / 8 and report.faithful["lookalike"] >= 7 / 8
    assert report.reencoded.pairs == 16 and report.reencoded.same_first >= 0.6
    assert report.reencoded.rho >= 0.6 and report.mirrored.rho >= 0.4
    assert report.ms_per_face["median"] > 0


@needs_data
def test_with_mirror_images_a_mirrored_photo_is_explained_the_same_way(faces, engine) -> None:  # type: ignore[no-untyped-def]
    from lookalike.engine.explain import mirrored

    a, b = faces["bush1"], faces["bush2"]
    assert np.allclose(mirrored(mirrored(a)).points, a.points) and (mirrored(mirrored(a)).image == a.image).all()
    [straight] = explain(engine.embedder, engine.radius, a, [b], mirror=True)
    [flipped] = explain(engine.embedder, engine.radius, mirrored(a), [b], mirror=True)
    assert straight.ranking == flipped.ranking
    assert all(abs(straight.parts[p] - flipped.parts[p]) < 0.01 for p in PARTS)
