"""Identification: does a query photo's nearest gallery *person* carry the query's name?

Gallery and queries come from different folders (ideally different sources, as
a user's photo never comes from the gallery's source).  Queries where no face is
found count as misses.  Queries of people who are *not* in the gallery measure
the other error: ``strangers_named`` is the share of them given an identity.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

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
