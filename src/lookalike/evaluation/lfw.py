"""The standard LFW verification protocol (``pairs.txt``: 10 folds x 600 pairs).

For each fold the threshold is chosen on the other nine folds (the usual
cross-validation), then accuracy is measured on the fold.  A pair where a face
was not found counts as an error; accuracy on the pairs where both faces were
found is reported apart, as is accuracy at the fixed 0.6 threshold.

The same run measures the similarity curve's slope (``gallery.search.similarity``: a logistic
function of the distance, 50% at the setting's threshold) for the model: the slope that gives the
median different-person pair the similarity dlib's curve gives it (``REFERENCE_SIMILARITY``), so a
lookalike at the same place among strangers shows the same percentage under every model.  It is
measured on the other nine folds for each fold (its spread is reported) and on all pairs.  The slope
that best predicts "same person" (least log-loss) is reported too: on LFW it is so steep that every
lookalike would show ~0%, which is why the page does not use it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.errors import LookalikeError
from lookalike.evaluation.embed import embed_photos
from lookalike.settings import Settings

THRESHOLDS = np.round(np.arange(0.30, 0.90, 0.005), 3)
SLOPES = np.round(np.arange(1.0, 200.001, 0.25), 2)
#: The similarity of LFW's median different-person pair under dlib's curve, slope 10 at 0.6: that
#: median is 0.8132 with ``LOOKALIKE_EMBEDDING=dlib LOOKALIKE_EMBED_FLIP=1`` (docs/results.md).
REFERENCE_SIMILARITY = 1 / (1 + math.exp(10 * (0.8132 - 0.6)))


def _log_loss(dist: np.ndarray, same: np.ndarray, threshold: float, slope: float) -> float:
    """Mean -log P(the pair's truth) under similarity = 1 / (1 + exp(slope (d - threshold)))."""
    x = slope * (dist - threshold)
    return float(np.mean(np.where(same, np.logaddexp(0.0, x), np.logaddexp(0.0, -x))))


def fit_similarity_slope(dist: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """The slope of the similarity curve (centred on ``threshold``) best predicting same/different."""
    ok = ~np.isnan(dist)
    losses = [_log_loss(dist[ok], same[ok], threshold, k) for k in SLOPES]
    return float(SLOPES[int(np.argmin(losses))])


def display_slope(dist: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """The slope giving the median different-person pair ``REFERENCE_SIMILARITY`` (see module doc)."""
    median = float(np.nanmedian(dist[~same]))
    return round(math.log((1 - REFERENCE_SIMILARITY) / REFERENCE_SIMILARITY) / (median - threshold), 2)


@dataclass(frozen=True)
class Pair:
    fold: int
    left: str
    right: str
    same: bool


def find_pairs_file(lfw_dir: Path) -> Path:
    for candidate in (lfw_dir / "_meta" / "pairs.txt", lfw_dir / "pairs.txt", lfw_dir.parent / "pairs.txt"):
        if candidate.is_file():
            return candidate
    raise LookalikeError(f"No pairs.txt in {lfw_dir} (looked in _meta/ and beside it).", code="no_pairs")


def read_pairs(pairs_file: Path, lfw_dir: Path) -> list[Pair]:
    lines = pairs_file.read_text().split("\n")
    folds, per_half = (int(x) for x in lines[0].split()[:2])
    rows = [line.split() for line in lines[1:] if line.strip()]
    if len(rows) != folds * per_half * 2:
        raise LookalikeError(f"{pairs_file} holds {len(rows)} pairs, expected {folds * per_half * 2}.")

    def image(name: str, number: str) -> str:
        return str(lfw_dir / name / f"{name}_{int(number):04d}.jpg")

    pairs = []
    for i, row in enumerate(rows):
        fold = i // (2 * per_half) + 1
        if len(row) == 3:
            pairs.append(Pair(fold, image(row[0], row[1]), image(row[0], row[2]), True))
        else:
            pairs.append(Pair(fold, image(row[0], row[1]), image(row[2], row[3]), False))
    return pairs


def _accuracy(dist: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Share right; NaN distances (a face missed) are always wrong."""
    if len(dist) == 0:
        return float("nan")
    with np.errstate(invalid="ignore"):
        predicted = dist <= threshold
    right = (predicted == same) & ~np.isnan(dist)
    return float(right.mean())


def best_threshold(dist: np.ndarray, same: np.ndarray) -> float:
    ok = ~np.isnan(dist)
    scores = [_accuracy(dist[ok], same[ok], t) for t in THRESHOLDS]
    return float(THRESHOLDS[int(np.argmax(scores))])


def chosen_pairs(pairs: list[Pair], folds: list[int], limit: int | None) -> list[Pair]:
    """The pairs of ``folds``; ``limit`` keeps the first N matched and N mismatched pairs of each fold."""
    if not limit:
        return [p for p in pairs if p.fold in folds]
    kept: list[Pair] = []
    for f in folds:
        for same in (True, False):
            kept += [p for p in pairs if p.fold == f and p.same == same][:limit]
    return kept


def evaluate(
    lfw_dir: Path,
    settings: Settings,
    folds: list[int] | None = None,
    limit: int | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    pipeline: str = "lookalike",
    on_distances: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> dict[str, object]:
    """Run the protocol; ``limit`` keeps the first N matched and N mismatched pairs of each fold.

    ``on_distances(dist, same)`` is given every pair's distance (NaN where a face was missed) and
    whether it is of one person: ``eval lfw --strangers-out`` keeps the different people's."""
    pairs = read_pairs(find_pairs_file(lfw_dir), lfw_dir)
    folds = folds or sorted({p.fold for p in pairs})
    pairs = chosen_pairs(pairs, folds, limit)
    images = [x for p in pairs for x in (p.left, p.right)]
    found, missed = embed_photos(images, settings, workers, progress, pipeline)
    dist = np.array(
        [
            float(np.linalg.norm(found[p.left] - found[p.right])) if p.left in found and p.right in found else np.nan
            for p in pairs
        ]
    )
    same = np.array([p.same for p in pairs])
    if on_distances is not None:
        on_distances(dist, same)
    fold_of = np.array([p.fold for p in pairs])
    per_fold = []
    for f in folds:
        test = fold_of == f
        train = ~test
        cross = len(folds) > 1
        threshold = best_threshold(dist[train], same[train]) if cross else settings.threshold
        ok = test & ~np.isnan(dist)
        slope = display_slope(dist[train], same[train], settings.threshold) if cross else float("nan")
        per_fold.append(
            {
                "fold": f,
                "pairs": int(test.sum()),
                "threshold": threshold,
                "threshold_from": "other folds" if cross else "setting",
                "accuracy": _accuracy(dist[test], same[test], threshold),
                "accuracy_found": _accuracy(dist[ok], same[ok], threshold),
                "accuracy_at_setting": _accuracy(dist[test], same[test], settings.threshold),
                "missed_pairs": int((test & np.isnan(dist)).sum()),
                "similarity_slope": slope,
            }
        )
    acc = np.array([f["accuracy"] for f in per_fold])
    both = ~np.isnan(dist)
    return {
        "protocol": "LFW pairs.txt, threshold chosen on the other folds",
        "pipeline": pipeline,
        "folds": folds,
        "pairs": len(pairs),
        "images": len(found) + len(missed),
        "images_missed": len(missed),
        "missed_pairs": int((~both).sum()),
        "accuracy": float(acc.mean()),
        "accuracy_std": float(acc.std()),
        "accuracy_found_pairs": float(np.mean([f["accuracy_found"] for f in per_fold])),
        "setting_threshold": settings.threshold,
        "accuracy_at_setting": _accuracy(dist, same, settings.threshold),
        "accuracy_at_setting_found_pairs": _accuracy(dist[both], same[both], settings.threshold),
        "median_distance_same": float(np.nanmedian(dist[same])),
        "median_distance_different": float(np.nanmedian(dist[~same])),
        "similarity_slope": display_slope(dist, same, settings.threshold),
        "similarity_slope_folds": [
            min(f["similarity_slope"] for f in per_fold),
            max(f["similarity_slope"] for f in per_fold),
        ],
        "similarity_slope_least_log_loss": fit_similarity_slope(dist, same, settings.threshold),
        "per_fold": per_fold,
        "missed_images": sorted(missed.items()),
    }


#: Fusion weights tried (share of the first model's cosine).
FUSION_WEIGHTS = np.round(np.arange(0.0, 1.0001, 0.05), 2)


def _best(dist: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy over the pairs with a distance.

    Exact: every cut between two sorted distances is tried (midpoints), so the search fits every model's
    scale; of several equally good cuts, the middle one (the least tuned to these pairs).
    """
    ok = ~np.isnan(dist)
    d, s = dist[ok], same[ok]
    order = np.argsort(d, kind="stable")
    d, s = d[order], s[order]
    # Accuracy when the first k pairs (k = 0..n) are called "same".
    same_below = np.concatenate([[0], np.cumsum(s)])
    diff_above = (~s).sum() - np.concatenate([[0], np.cumsum(~s)])
    right = (same_below + diff_above) / max(len(d), 1)
    valid = np.ones(len(d) + 1, dtype=bool)
    valid[1:-1] = d[1:] > d[:-1]  # a cut between equal distances is not a threshold
    right = np.where(valid, right, -1.0)
    best = np.flatnonzero(right == right.max())
    k = int(best[len(best) // 2])
    if k == 0:
        threshold = float(d[0]) - 1e-6 if len(d) else 0.0
    elif k == len(d):
        threshold = float(d[-1])
    else:
        threshold = float((d[k - 1] + d[k]) / 2)
    return threshold, float(right[k])


def cross_validate(
    dists: list[np.ndarray], same: np.ndarray, fold_of: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, object]:
    """10-fold protocol for cosine distances of one model (``dists`` of length 1) or the fusion of two:
    on the nine other folds choose the weight and the threshold, then count the fold's errors (a pair
    without a distance is an error)."""
    folds = sorted(set(fold_of.tolist()))
    weights = weights if len(dists) == 2 and weights is not None else np.array([1.0])
    per_fold = []
    for f in folds:
        test, train = fold_of == f, fold_of != f
        best = (-1.0, 0.0, 1.0)
        for w in weights:
            d = w * dists[0] + (1 - w) * dists[1] if len(dists) == 2 else dists[0]
            t, acc = _best(d[train], same[train])
            if acc > best[0]:
                best = (acc, t, float(w))
        _, t, w = best
        d = w * dists[0] + (1 - w) * dists[1] if len(dists) == 2 else dists[0]
        ok = test & ~np.isnan(d)
        per_fold.append(
            {
                "fold": f,
                "threshold": t,
                "weight": w,
                "accuracy": _accuracy(d[test], same[test], t),
                "accuracy_found": _accuracy(d[ok], same[ok], t),
                "missed_pairs": int((test & np.isnan(d)).sum()),
            }
        )
    acc = np.array([f["accuracy"] for f in per_fold])
    return {
        "accuracy": float(acc.mean()),
        "accuracy_std": float(acc.std()),
        "accuracy_found_pairs": float(np.mean([f["accuracy_found"] for f in per_fold])),
        "missed_pairs": int(sum(f["missed_pairs"] for f in per_fold)),
        "threshold_mean": float(np.mean([f["threshold"] for f in per_fold])),
        "weight_mean": float(np.mean([f["weight"] for f in per_fold])),
        "per_fold": per_fold,
    }


def evaluate_models(
    lfw_dir: Path,
    settings: Settings,
    model_names: list[str],
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    weight: float | None = None,
) -> dict[str, object]:
    """The protocol for each named model of ``evaluation.zoo`` (cached embeddings, cosine distance).

    Fusions (``fused``: dlib-yunet + sface, ``fused-flip``, ``fused-dlib``: today's dlib + sface) take
    the weight chosen on the other nine folds too.
    """
    from lookalike.evaluation.crossid import engine_radius
    from lookalike.evaluation.variants import FUSIONS
    from lookalike.evaluation.zoo import embed_cached

    pairs = read_pairs(find_pairs_file(lfw_dir), lfw_dir)
    images = sorted({x for p in pairs for x in (p.left, p.right)})
    same = np.array([p.same for p in pairs])
    fold_of = np.array([p.fold for p in pairs])
    fusions = FUSIONS
    needed = sorted({m for name in model_names for m in fusions.get(name, (name,))})
    dists: dict[str, np.ndarray] = {}
    missed_images: dict[str, int] = {}
    for name in needed:
        vectors, missed = embed_cached(images, name, settings, workers, progress)
        missed_images[name] = len(missed)
        dists[name] = np.array(
            [
                1.0 - float(vectors[p.left] @ vectors[p.right]) if p.left in vectors and p.right in vectors else np.nan
                for p in pairs
            ]
        )
    results: dict[str, object] = {}
    for name in model_names:
        parts = fusions.get(name, (name,))
        weights = FUSION_WEIGHTS if weight is None else np.array([weight])
        report = cross_validate([dists[m] for m in parts], same, fold_of, weights)
        radius = engine_radius(name, float(report["weight_mean"]), settings)
        if radius is not None:  # the engine offers this model: its similarity slope on the engine's scale
            w = float(report["weight_mean"])  # 1.0 for a single model: parts[0] is parts[-1]
            cosine = w * dists[parts[0]] + (1 - w) * dists[parts[-1]]
            engine_distance = radius * np.sqrt(2.0 * np.maximum(cosine, 0.0))
            report["engine_radius"] = radius
            report["similarity_slope"] = display_slope(engine_distance, same, settings.threshold)
        report["images_missed"] = max(missed_images[m] for m in parts)
        report["parts"] = list(parts)
        results[name] = report
    return {
        "protocol": "LFW pairs.txt, cosine distance, threshold (and fusion weight) chosen on the other folds",
        "pairs": len(pairs),
        "images": len(images),
        "models": results,
    }
