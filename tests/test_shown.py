"""What a search may show: a public deployment leaves out photos without a reuse licence, and every
search leaves out the people on the removal list, whoever built the gallery and whenever."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookalike.errors import GalleryError
from lookalike.gallery.search import Matcher
from lookalike.gallery.store import Gallery, PersonFacts, PhotoProvenance
from lookalike.settings import Settings
from tests.test_search import _gallery

PEOPLE = ["Ada_Q1", "Bo_Q2", "Cy", "Di"]


def _mixed(path: Path) -> tuple[Gallery, np.ndarray]:
    """Four people, two photos each: Ada and Bo freely licensed (with Q-ids), Cy and Di not."""
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 128)).astype(np.float32)
    vectors = np.repeat(centres, 2, axis=0) + 0.01 * rng.normal(size=(8, 128)).astype(np.float32)
    persons = [p for p in PEOPLE for _ in range(2)]
    g = _gallery(path, vectors, persons)
    with g.writing() as w:
        for i, person in enumerate(persons):
            free = person.endswith(("_Q1", "_Q2"))
            licence = "CC BY-SA 4.0" if free else "LFW: research use"
            w.set_provenance(f"/photos/{person}/{i}.jpg", PhotoProvenance("test", licence, reusable=free))
        for person in PEOPLE[:2]:
            w.set_facts(PersonFacts(person, person.split("_")[0], wikidata=person.split("_")[1]))
    return g, centres


def _people(matcher: Matcher, query: np.ndarray) -> list[str]:
    return [m.person for m in matcher.match(query, k=4).matches]


def test_a_public_deployment_searches_only_reusable_photos(tmp_path: Path) -> None:
    g, centres = _mixed(tmp_path / "g")
    everyone = Matcher(g, Settings(home=tmp_path))
    assert everyone.shown.hidden == 0 and sorted(_people(everyone, centres[2])) == sorted(PEOPLE)
    public = Matcher(g, Settings(home=tmp_path, require_reusable=True))
    assert public.shown.not_reusable == 4 and public.size == 4
    assert sorted(_people(public, centres[2])) == ["Ada_Q1", "Bo_Q2"]  # Cy's own face is not shown
    assert public.match(centres[2]).identity is None


def test_the_removal_list_leaves_people_out_of_every_search(tmp_path: Path) -> None:
    g, centres = _mixed(tmp_path / "g")
    (tmp_path / "removals.txt").write_text("# asked by e-mail\nq2  # Bo\nDi\n", encoding="utf-8")
    matcher = Matcher(g, Settings(home=tmp_path))
    assert matcher.shown.removed == 4 and matcher.shown.describe() == "4 of people on the removal list"
    assert sorted(_people(matcher, centres[1])) == ["Ada_Q1", "Cy"]  # Bo by Q-id, Di by folder name
    assert matcher.match(centres[1]).identity != "Bo_Q2"
    both = Matcher(g, Settings(home=tmp_path, require_reusable=True))
    assert (both.shown.not_reusable, both.shown.removed) == (4, 2) and _people(both, centres[0]) == ["Ada_Q1"]


def test_nothing_left_to_show_is_a_clear_error(tmp_path: Path) -> None:
    g, _ = _mixed(tmp_path / "g")
    (tmp_path / "removals.txt").write_text("Q1\nQ2\n", encoding="utf-8")
    with pytest.raises(GalleryError, match="None of the 8 faces") as raised:
        Matcher(g, Settings(home=tmp_path, require_reusable=True))
    assert raised.value.code == "empty_gallery"


def test_a_subset_has_its_own_hnsw_index(tmp_path: Path) -> None:
    g, centres = _mixed(tmp_path / "g")
    whole = Matcher(g, Settings(home=tmp_path, ann_min_faces=1))
    public = Matcher(g, Settings(home=tmp_path, ann_min_faces=1, require_reusable=True))
    assert whole.index is not public.index and public.size == 4
    assert sorted(_people(public, centres[3])) == ["Ada_Q1", "Bo_Q2"]
    assert len(list((tmp_path / "g" / "cache").glob("hnsw-*.faiss"))) == 2


def test_indexes_of_older_generations_are_deleted(tmp_path: Path) -> None:
    g, _ = _mixed(tmp_path / "g")
    Matcher(g, Settings(home=tmp_path, ann_min_faces=1))
    (tmp_path / "removals.txt").write_text("Di\n", encoding="utf-8")
    Matcher(g, Settings(home=tmp_path, ann_min_faces=1))  # a subset of the same generation: both kept
    assert len(list((tmp_path / "g" / "cache").glob("hnsw-*.faiss"))) == 2
    g.remove_person("Cy")  # a new generation
    Matcher(g, Settings(home=tmp_path, ann_min_faces=1))
    left = sorted(p.name for p in (tmp_path / "g" / "cache").glob("hnsw-*.faiss"))
    assert len(left) == 1 and left[0].startswith(f"hnsw-{g.generation}-")
