"""Cross-source identification per model, with the identity rule's numbers chosen by cross-validation.

The gallery is every LFW photo's cached vector (``evaluation.zoo``), grouped by person; a person's
distance is the minimum over their photos (as ``gallery.search.Matcher`` does).  Queries come from
other sources.  The identity rule is the one the app uses: the nearest person is named when within
``threshold`` and at least ``margin`` closer than the next person.  ``threshold`` and ``margin`` are
chosen on half of the query *people* (most queries named with at most ``max_strangers`` of the
strangers named) and measured on the other half, then the halves swap: the numbers reported are
held-out.  The values to configure are then chosen on all queries.

For a model the engine offers (``EvaluatedModel.offered``), distances are the engine's own: Euclidean
between vectors scaled to the model's radius, so the numbers reported are the settings' numbers.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lookalike.evaluation.variants import EVALUATED_MODELS
from lookalike.gallery.build import scan_sources
from lookalike.settings import Settings

#: Candidate values are quantiles of the training queries' own distances: every model's scale fits.
_STEPS = np.linspace(0.0, 1.0, 201)


def engine_radius(model: str, weight: float, settings: Settings) -> float | None:
    """The engine's vector length for an evaluated model, or None when the engine does not offer it
    (a fusion: only at the engine's fusion weight)."""
    from lookalike.engine.embedding import EMBEDDERS, calibration
    from lookalike.engine.embedding.fused import FUSION_WEIGHT

    if model == "engine":
        return calibration(settings).radius
    evaluated = EVALUATED_MODELS.get(model)
    if evaluated is None or evaluated.offered is None:
        return None
    if evaluated.kind == "fusion" and abs(weight - FUSION_WEIGHT) > 1e-9:
        return None
    name, flip = evaluated.offered
    return EMBEDDERS[name].calibration(flip).radius


def _people_distances(
    queries: np.ndarray, gallery: np.ndarray, labels: np.ndarray, people: int, radius: float | None = None
) -> np.ndarray:
    """(Q, people) minimum distance of each query to each gallery person: cosine distance, or with
    ``radius`` the Euclidean distance of the vectors scaled to that length (the engine's)."""
    dist = 1.0 - queries @ gallery.T
    if radius is not None:
        dist = radius * np.sqrt(2.0 * np.maximum(dist, 0.0))
    out = np.full((len(queries), people), np.inf, dtype=np.float32)
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(people))
    out[:] = np.minimum.reduceat(dist[:, order], starts, axis=1)
    return out


def _named(top2: np.ndarray, threshold: float, margin: float) -> np.ndarray:
    return (top2[:, 0] <= threshold) & (top2[:, 1] - top2[:, 0] >= margin)


def _choose(
    top2_known: np.ndarray, right: np.ndarray, top2_strangers: np.ndarray, max_strangers: float
) -> tuple[float, float]:
    """The (threshold, margin) naming most known queries rightly with strangers named <= max_strangers."""
    both = np.concatenate([top2_known, top2_strangers])
    thresholds = np.unique(np.quantile(both[:, 0], _STEPS))
    margins = np.unique(np.concatenate([[0.0], np.quantile(both[:, 1] - both[:, 0], _STEPS[::5])]))
    best = (-1.0, 0.0, float(thresholds[0]), float(margins[-1]))
    for t in thresholds:
        for m in margins:
            strangers = _named(top2_strangers, t, m).mean() if len(top2_strangers) else 0.0
            if strangers > max_strangers:
                continue
            score = (_named(top2_known, t, m) & right).mean() if len(right) else 0.0
            if score > best[0] or (score == best[0] and strangers < best[1]):
                best = (score, strangers, float(t), float(m))
    return best[2], best[3]


def _held_out(
    top2: np.ndarray, right: np.ndarray, is_known: np.ndarray, half: np.ndarray, max_strangers: float
) -> tuple[dict[str, int], list[tuple[float, float]]]:
    """Counts of the rule chosen on one half of the query people and applied to the other, both ways,
    and the (threshold, margin) chosen on each half."""
    held = {"identified": 0, "wrong_identity": 0, "strangers_named": 0, "strangers": 0, "known": 0}
    chosen = []
    for test_half in (0, 1):
        train, test = half != test_half, half == test_half
        t, m = _choose(top2[train & is_known], right[train & is_known], top2[train & ~is_known], max_strangers)
        chosen.append((t, m))
        named = _named(top2, t, m)
        held["identified"] += int((named & right & is_known & test).sum())
        held["wrong_identity"] += int((named & ~right & is_known & test).sum())
        held["strangers_named"] += int((named & ~is_known & test).sum())
        held["strangers"] += int((~is_known & test).sum())
        held["known"] += int((is_known & test).sum())
    return held, chosen


def evaluate(
    model: str,
    lfw_dir: Path,
    query_dirs: list[Path],
    settings: Settings,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_strangers: float = 0.01,
    weight: float = 0.5,
) -> dict[str, object]:
    """The report for one model (a fusion takes ``weight``: the share of its first model's cosine)."""
    from lookalike.evaluation.zoo import vectors as embed_cached

    gallery_photos, _ = scan_sources([lfw_dir])
    gallery_vectors, _ = embed_cached([p.path for p in gallery_photos], model, settings, workers, progress, weight)
    person_of = {p.path: p.person for p in gallery_photos}
    paths = sorted(gallery_vectors)
    people, labels = np.unique([person_of[p] for p in paths], return_inverse=True)
    gallery = np.array([gallery_vectors[p] for p in paths], dtype=np.float32)
    known = set(people.tolist())

    photos, _ = scan_sources(query_dirs)
    query_person = {p.path: p.person for p in photos}
    vectors, missed = embed_cached(list(query_person), model, settings, workers, progress, weight)
    qpaths = sorted(vectors)
    radius = engine_radius(model, weight, settings)
    query_vectors = np.array([vectors[p] for p in qpaths], dtype=np.float32)
    dist = _people_distances(query_vectors, gallery, labels, len(people), radius)
    order = np.argsort(dist, axis=1)[:, :5]
    top2 = np.take_along_axis(dist, order[:, :2], axis=1)
    names = people[order]
    is_known = np.array([query_person[p] in known for p in qpaths], dtype=bool)
    truth = np.array([query_person[p] for p in qpaths])
    right = names[:, 0] == truth
    half = np.array([zlib.crc32(t.encode()) % 2 for t in truth])
    in_gallery_total = sum(query_person[p] in known for p in query_person)  # misses count against rank-k

    held, chosen = _held_out(top2, right, is_known, half, max_strangers)
    t_all, m_all = _choose(top2[is_known], right[is_known], top2[~is_known], max_strangers)
    missed_known = sum(query_person[p] in known for p in missed)
    by_source = {}
    for folder in query_dirs:
        root = folder.resolve()
        inside = np.array([Path(p).resolve().is_relative_to(root) for p in qpaths], dtype=bool)
        total = sum(query_person[p] in known and Path(p).resolve().is_relative_to(root) for p in query_person)
        if total:
            by_source[str(folder)] = {
                "queries_in_gallery": total,
                "rank1": float((right & is_known & inside).sum() / total),
                "rank5": float(((names == truth[:, None]).any(axis=1) & is_known & inside).sum() / total),
            }
    return {
        "model": model,
        "weight": weight if EVALUATED_MODELS[model].kind == "fusion" else None,
        "gallery_people": len(people),
        "gallery_faces": len(paths),
        "queries": len(query_person),
        "queries_in_gallery": in_gallery_total,
        "queries_not_in_gallery": len(query_person) - in_gallery_total,
        "no_face": len(missed),
        "no_face_in_gallery": missed_known,
        "rank1": float((right & is_known).sum() / in_gallery_total) if in_gallery_total else None,
        "rank5": float(((names == truth[:, None]).any(axis=1) & is_known).sum() / in_gallery_total)
        if in_gallery_total
        else None,
        "by_source": by_source,
        "held_out_identified": held["identified"] / in_gallery_total if in_gallery_total else None,
        "held_out_wrong_identity": held["wrong_identity"] / in_gallery_total if in_gallery_total else None,
        "held_out_strangers_named": held["strangers_named"] / held["strangers"] if held["strangers"] else None,
        "thresholds_per_half": chosen,
        "identity_threshold": t_all,
        "identity_margin": m_all,
        "distance": "1 - cosine" if radius is None else f"Euclidean, vectors of length {radius} (the engine's)",
    }
