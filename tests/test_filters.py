"""Filtered search: the filter's rules, its parsing, and that a filtered top-k is the true top-k of who passes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from lookalike.bench.search import face_like
from lookalike.errors import LookalikeError
from lookalike.gallery.search import Matcher
from lookalike.person_filter import OCCUPATION_GROUPS, PersonFilter, occupation_groups
from lookalike.settings import Settings
from tests.test_search import _gallery


@dataclass(frozen=True)
class Facts:
    sex: str | None = None
    birth_year: int | None = None
    death_year: int | None = None
    occupations: list[str] = field(default_factory=list)


def _synthetic_facts(people: list[str], rng: np.random.Generator) -> dict[str, Facts]:
    """Half women, a fifth actors, births 1900-2009, some dead, some people with nothing known."""
    out = {}
    for p in people:
        if rng.random() < 0.05:
            continue  # nothing known
        born = int(rng.integers(1900, 2010))
        out[p] = Facts(
            sex=str(rng.choice(["female", "male"])),
            birth_year=born,
            death_year=born + 70 if born < 1950 and rng.random() < 0.5 else None,
            occupations=["film actor"] if rng.random() < 0.2 else ["politician"],
        )
    return out


def test_rules_of_a_filter() -> None:
    woman_actor = Facts("female", 1975, None, ["film actor", "singer"])
    assert PersonFilter().allows(woman_actor) and PersonFilter().allows(None) and PersonFilter().allows(Facts())
    assert PersonFilter(sex="female").allows(woman_actor) and not PersonFilter(sex="male").allows(woman_actor)
    assert PersonFilter(occupations=("musician",)).allows(woman_actor)
    assert PersonFilter(occupations=("athlete", "actor")).allows(woman_actor)  # any of the groups
    assert not PersonFilter(occupations=("politician",)).allows(woman_actor)
    assert PersonFilter(born_after=1974).allows(woman_actor) and not PersonFilter(born_after=1975).allows(woman_actor)
    assert PersonFilter(born_before=1976).allows(woman_actor) and not PersonFilter(born_before=1975).allows(woman_actor)
    assert PersonFilter(living=True).allows(woman_actor, year=2025)
    assert not PersonFilter(living=False).allows(woman_actor, year=2025)
    assert PersonFilter(living=False).allows(Facts("male", 1900, 1980)) and not PersonFilter(living=True).allows(
        Facts("male", 1900, 1980)
    )
    assert not PersonFilter(living=True).allows(Facts("male", 1606, None), year=2025)  # no recorded death: unknown
    # Unknown facts fail any condition about them, and nothing at all fails every non-empty filter.
    for f in (
        PersonFilter(sex="female"),
        PersonFilter(born_after=1900),
        PersonFilter(living=True),
        PersonFilter(living=False),
        PersonFilter(occupations=("actor",)),
    ):
        assert not f.allows(Facts()) and not f.allows(None)
    assert not PersonFilter(sex="female", born_after=1970).allows(Facts("female", None, None, []))


def test_occupation_groups_match_whole_words() -> None:
    assert occupation_groups(["film actor"]) == {"actor"}
    assert occupation_groups(["association football player", "Singer-songwriter"]) == {"athlete", "musician"}
    assert occupation_groups(["contractor", "tennis coach"]) == set()
    assert occupation_groups(["President of the United States"]) == {"politician"}
    assert set(OCCUPATION_GROUPS) >= {"actor", "musician", "athlete", "politician", "writer", "scientist", "business"}


def test_parsing() -> None:
    f = PersonFilter.parse("sex=female occupation=actors,musician born_after=1970 living=true")
    assert f == PersonFilter(sex="female", occupations=("musician", "actor"), born_after=1970, living=True)
    assert f.describe() == "sex=female occupation=actor,musician born_after=1970 living=true"
    assert PersonFilter.parse(["sex=women", "born-before=2000"]) == PersonFilter(sex="female", born_before=2000)
    assert PersonFilter.from_fields({"sex": None, "occupation": "", "living": "any"}).empty
    assert PersonFilter.from_fields({"born_after": 1970, "living": False}) == PersonFilter(
        born_after=1970, living=False
    )
    assert PersonFilter.parse("").empty and hash(f) == hash(PersonFilter.parse(f.describe()))
    for text, words in [
        ("sex=robot", "sex must be one of"),
        ("occupation=wizard", "Unknown occupation group 'wizard'"),
        ("born_after=nineteen", "born_after is a year"),
        ("born_after=1970 born_before=1971", "Nobody is born"),
        ("living=maybe", "living is true or false"),
        ("height=2m", "Unknown filter 'height'"),
        ("female", "key=value"),
    ]:
        with pytest.raises(LookalikeError, match=words) as caught:
            PersonFilter.parse(text)
        assert caught.value.code == "bad_filter"
    with pytest.raises(LookalikeError, match="sex must be"):
        PersonFilter(sex="f")  # typed construction takes the canonical words only


def _brute_force_top(vectors: np.ndarray, persons: list[str], query: np.ndarray, allowed: set[str], k: int) -> list:
    best: dict[str, float] = {}
    for v, p in zip(vectors, persons):
        if p in allowed:
            best[p] = min(best.get(p, np.inf), float(np.linalg.norm(v - query)))
    return sorted(best.items(), key=lambda kv: kv[1])[:k]


def test_filtered_exact_is_brute_force_over_who_passes(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    vectors, _ = face_like(600, None, rng)
    persons = [f"P{i // 3:03d}" for i in range(len(vectors))]
    facts = _synthetic_facts(sorted(set(persons)), rng)
    with _gallery(tmp_path / "g", vectors, persons) as g:
        matcher = Matcher(g, Settings(top_k=5), facts=facts)
        queries = vectors[rng.integers(0, len(vectors), 20)] + rng.normal(0, 0.01, (20, 128)).astype(np.float32)
        for flt in [PersonFilter(sex="female"), PersonFilter(occupations=("actor",), born_after=1950)]:
            allowed = flt.allowed_people(facts, set(persons))
            assert matcher.people_passing(flt) == len(allowed)
            for q, result in zip(queries, matcher.match_many(queries, person_filter=flt)):
                expected = _brute_force_top(vectors, persons, q, allowed, 5)
                assert [m.person for m in result.matches] == [p for p, _ in expected]
                assert [m.distance for m in result.matches] == pytest.approx([d for _, d in expected], abs=1e-4)
                assert all(flt.allows(facts.get(m.person)) for m in result.matches)
        # The empty filter is today's search, to the bit.
        plain, empty = matcher.match_many(queries), matcher.match_many(queries, person_filter=PersonFilter())
        assert plain == empty
        nobody = PersonFilter(born_after=2500)
        assert matcher.people_passing(nobody) == 0
        assert matcher.match(queries[0], person_filter=nobody).matches == []


def test_identity_and_watch_look_at_the_whole_gallery(tmp_path: Path) -> None:
    v = np.zeros((3, 128), np.float32)
    v[1, 0], v[2, 1] = 1.0, 1.2
    facts = {"Him": Facts("male", 1942), "Her": Facts("female", 1980), "Other": Facts("female", 1990)}
    with _gallery(tmp_path / "g", v, ["Him", "Her", "Other"]) as g:
        matcher = Matcher(g, Settings(threshold=0.6, identity_threshold=0.45, identity_margin=0.05), facts=facts)
        result = matcher.match(
            np.zeros(128, np.float32) + 0.001, watch=["Him"], person_filter=PersonFilter.parse("sex=female")
        )
        assert [m.person for m in result.matches] == ["Her", "Other"]
        assert result.identity == "Him" and result.watch == {"Him": True}


def _filter_keeping_a_tenth(people: list[str]) -> tuple[dict[str, Facts], PersonFilter]:
    facts = {
        p: Facts("female" if i % 10 == 3 else "male", 1960 + i % 50, None, ["actor"]) for i, p in enumerate(people)
    }
    return facts, PersonFilter(sex="female")


def test_filtered_hnsw_agrees_with_exact_filtered(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    vectors, centres = face_like(5000, None, rng)
    persons = [f"P{i // 4:04d}" for i in range(len(vectors))]
    facts, flt = _filter_keeping_a_tenth(sorted(set(persons)))
    with _gallery(tmp_path / "g", vectors, persons) as g:
        exact = Matcher(g, Settings(), facts=facts)
        approx = Matcher(g, Settings(ann_min_faces=1000), facts=facts)
        approx.filter_exact_below = 0  # the graph search with a selector, not the exact fallback
        assert approx.index.kind == "hnsw" and 0.09 < approx.people_passing(flt) / len(approx.people) < 0.11
        queries = (centres[rng.integers(0, len(centres), 200)] + rng.normal(0, 0.022, (200, 128))).astype(np.float32)
        want = exact.match_many(queries, person_filter=flt)
        got = approx.match_many(queries, person_filter=flt)
        same = sum([m.person for m in a.matches] == [m.person for m in e.matches] for a, e in zip(got, want))
        assert same >= 0.99 * len(queries)
        assert all(flt.allows(facts[m.person]) for r in got for m in r.matches)
        assert all(len(r.matches) == 5 for r in got)
        # Few rows pass: the fallback searches them exactly, and is exact.
        approx.filter_exact_below = 10_000
        fallback = approx.match_many(queries, person_filter=flt)
        assert [[(m.person, m.face_id) for m in r.matches] for r in fallback] == [
            [(m.person, m.face_id) for m in r.matches] for r in want
        ]
        assert [r.identity for r in fallback] == [r.identity for r in approx.match_many(queries)]
