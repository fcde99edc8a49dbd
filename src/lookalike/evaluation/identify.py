"""Identification: does a query photo's nearest gallery *person* carry the query's name?

Gallery and queries come from different folders (ideally different sources, as
a user's photo never comes from the gallery's source).  Queries where no face is
found count as misses.  Queries of people who are *not* in the gallery measure
the other error: ``strangers_named`` is the share of them given an identity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.engine.combine import combine, same_person
from lookalike.engine.embedding import identity_rule
from lookalike.evaluation.embed import embed_photos
from lookalike.gallery.build import scan_sources
from lookalike.gallery.search import Matcher
from lookalike.gallery.store import Gallery
from lookalike.settings import Settings


def evaluate(
    gallery: Gallery,
    queries_dir: Path,
    settings: Settings,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    ranks: tuple[int, ...] = (1, 5),
) -> dict[str, object]:
    matcher = Matcher(gallery, settings)
    photos, _ = scan_sources([queries_dir])
    known = set(matcher.people.tolist())
    in_gallery = [p for p in photos if p.person in known]
    person_of = {p.path: p.person for p in photos}
    found, missed = embed_photos(person_of, settings, workers, progress)
    strangers = sorted(p for p in found if person_of[p] not in known)
    named = (
        sum(r.identity is not None for r in matcher.match_many(np.array([found[p] for p in strangers]), k=1))
        if strangers
        else 0
    )
    found = {p: v for p, v in found.items() if person_of[p] in known}
    missed = {p: v for p, v in missed.items() if person_of[p] in known}
    hits = dict.fromkeys(ranks, 0)
    identified = 0
    wrong_identity = 0
    paths = sorted(found)
    results = matcher.match_many(np.array([found[p] for p in paths]), k=max(ranks)) if paths else []
    for path, result in zip(paths, results):
        names = [m.person for m in result.matches]
        for r in ranks:
            hits[r] += person_of[path] in names[:r]
        if result.identity == person_of[path]:
            identified += 1
        elif result.identity is not None:
            wrong_identity += 1
    total = len(in_gallery)
    out: dict[str, object] = {
        "gallery_people": len(known),
        "gallery_faces": matcher.size,
        "queries": len(photos),
        "queries_in_gallery": total,
        "queries_not_in_gallery": len(photos) - total,
        "no_face": len(missed),
    }
    for r in ranks:
        out[f"rank{r}"] = hits[r] / total if total else None
    out["identified"] = identified / total if total else None
    out["wrong_identity"] = wrong_identity / total if total else None
    out["strangers_named"] = named / len(strangers) if strangers else None
    out["identity_threshold"], out["identity_margin"] = identity_rule(settings)
    return out


@dataclass(frozen=True)
class SeveralPhotosReport:
    """Rank-1 of one photo against ``per_query`` photos of a person combined (``engine/combine.py``), on
    the same people and photos; and how the same-person check treats real and mixed groups."""

    per_query: int
    people: int  # query people in the gallery with at least per_query + 1 photos with a face
    photos: int  # their photos: the single-photo queries
    groups: int  # disjoint groups of per_query of their photos: the combined queries
    rank1_one_photo: float | None
    rank1_combined: float | None
    groups_refused: int  # real groups the check took for several people (the product would refuse them)
    mixed_groups: int  # each group with one photo swapped for another person's
    mixed_refused: float | None  # share of those the check refused


def evaluate_several(
    gallery: Gallery,
    queries_dir: Path,
    settings: Settings,
    per_query: int = 3,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SeveralPhotosReport:
    """For each query person of the gallery with more than ``per_query`` photos: rank-1 of each photo
    alone, and of disjoint groups of ``per_query`` photos combined."""
    matcher = Matcher(gallery, settings)
    photos, _ = scan_sources([queries_dir])
    known = set(matcher.people.tolist())
    person_of = {p.path: p.person for p in photos if p.person in known}
    found, _ = embed_photos(person_of, settings, workers, progress)
    by_person: dict[str, list[np.ndarray]] = {}
    for path in sorted(found):
        by_person.setdefault(person_of[path], []).append(found[path])
    by_person = {p: v for p, v in by_person.items() if len(v) > per_query}
    singles = [(p, v) for p, vs in by_person.items() for v in vs]
    groups = [
        (p, np.array(vs[i : i + per_query]))
        for p, vs in by_person.items()
        for i in range(0, len(vs) - per_query + 1, per_query)
    ]
    refused = sum(not same_person(g, settings.threshold).ok for _, g in groups)
    mixed = _mixed(groups)
    mixed_refused = sum(not same_person(g, settings.threshold).ok for g in mixed)

    def rank1(queries: list[tuple[str, np.ndarray]]) -> float | None:
        if not queries:
            return None
        results = matcher.match_many(np.array([v for _, v in queries]), k=1)
        return sum(r.best is not None and r.best.person == p for (p, _), r in zip(queries, results)) / len(queries)

    return SeveralPhotosReport(
        per_query,
        len(by_person),
        len(singles),
        len(groups),
        rank1(singles),
        rank1([(p, combine(g)) for p, g in groups]),
        refused,
        len(mixed),
        mixed_refused / len(mixed) if mixed else None,
    )


def _mixed(groups: list[tuple[str, np.ndarray]]) -> list[np.ndarray]:
    """Each group with its last photo replaced by the first photo of the next person's group."""
    out = []
    for i, (person, g) in enumerate(groups):
        other = next((h for p, h in groups[i + 1 :] + groups[:i] if p != person), None)
        if other is not None:
            out.append(np.concatenate([g[:-1], other[:1]]))
    return out
