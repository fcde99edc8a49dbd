"""Several photos of one person as one query: the same-person check, the combination, and the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lookalike.engine.combine import combine, same_person
from tests.test_cli import run


def _around(centre: np.ndarray, rng: np.random.Generator, spread: float) -> np.ndarray:
    v = centre + spread * rng.normal(size=centre.shape)
    return v / np.linalg.norm(v) * 0.8


def test_the_odd_one_out_is_someone_else() -> None:
    rng = np.random.default_rng(1)
    a, b = (x / np.linalg.norm(x) * 0.8 for x in rng.normal(size=(2, 128)))
    same = np.array([_around(a, rng, 0.02) for _ in range(3)])
    assert same_person(same, 0.6).ok and same_person(same, 0.6).odd == []
    mixed = np.concatenate([same[:2], [b]])
    check = same_person(mixed, 0.6)
    assert not check.ok and check.odd == [2]  # only the stranger: the two others are close to each other
    assert check.distances[0][2] > 0.6 and check.distances[0][1] < 0.6
    assert same_person(np.array([a, b]), 0.6).odd == [0, 1]  # two photos apart: neither can be told the odd one


def test_combining_keeps_the_length_and_averages_the_directions() -> None:
    rng = np.random.default_rng(2)
    centre = rng.normal(size=256)
    centre /= np.linalg.norm(centre)
    faces = np.array([_around(centre * 0.8, rng, 0.03) for _ in range(4)])
    combined = combine(faces)
    assert combined.dtype == np.float32 and abs(np.linalg.norm(combined) - 0.8) < 1e-5
    # Closer to the person's centre than the faces are, on average: a steadier query.
    assert np.linalg.norm(combined / 0.8 - centre) < np.mean([np.linalg.norm(f / 0.8 - centre) for f in faces])


def test_match_same_person_combines_and_refuses_a_mix(data: Path, small_gallery: Path) -> None:
    five = data / "small" / "five_celeb"
    ben = sorted((five / "Ben_Affleck").glob("*.jpg"))[:3]
    madonna = sorted((five / "Madonna").glob("*.jpg"))[0]
    out = run("match", "--same-person", *map(str, ben), "--gallery", str(small_gallery), "--json")
    assert out.returncode == 0, out.stderr
    (result,) = json.loads(out.stdout)["photos"]
    assert result["same_person"]["photos"] == [str(p) for p in ben] and result["same_person"]["odd"] == []
    assert len(result["faces"]) == 1 and result["faces"][0]["matches"][0]["name"] == "Ben_Affleck"

    mixed = run("match", "--same-person", *map(str, ben[:2]), str(madonna), "--gallery", str(small_gallery), "--json")
    assert mixed.returncode == 1
    (refused,) = json.loads(mixed.stdout)["photos"]
    assert refused["error"]["code"] == "not_same_person" and str(madonna) in refused["error"]["message"]
    assert refused["same_person"]["odd"] == [2] and refused["faces"] == []

    alone = run("match", "--same-person", str(ben[0]), "--gallery", str(small_gallery), "--json")
    assert alone.returncode == 1 and json.loads(alone.stdout)["photos"][0]["error"]["code"] == "bad_photos"
