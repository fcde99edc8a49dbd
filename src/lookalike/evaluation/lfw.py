"""The standard LFW verification protocol (``pairs.txt``: 10 folds x 600 pairs).

For each fold the threshold is chosen on the other nine folds (the usual
cross-validation), then accuracy is measured on the fold.  A pair where a face
was not found counts as an error; accuracy on the pairs where both faces were
found is reported apart, as is accuracy at the fixed 0.6 threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.errors import LookalikeError
from lookalike.evaluation.embed import embed_photos
from lookalike.settings import Settings

THRESHOLDS = np.round(np.arange(0.30, 0.90, 0.005), 3)


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


def evaluate(
    lfw_dir: Path,
    settings: Settings,
    folds: list[int] | None = None,
    limit: int | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    pipeline: str = "lookalike",
) -> dict[str, object]:
    """Run the protocol; ``limit`` keeps the first N matched and N mismatched pairs of each fold."""
    pairs = read_pairs(find_pairs_file(lfw_dir), lfw_dir)
    all_folds = sorted({p.fold for p in pairs})
    folds = folds or all_folds
    if limit:
        kept: list[Pair] = []
        for f in folds:
            for same in (True, False):
                kept += [p for p in pairs if p.fold == f and p.same == same][:limit]
        pairs = kept
    else:
        pairs = [p for p in pairs if p.fold in folds]
    images = [x for p in pairs for x in (p.left, p.right)]
    found, missed = embed_photos(images, settings, workers, progress, pipeline)
    dist = np.array(
        [
            float(np.linalg.norm(found[p.left] - found[p.right])) if p.left in found and p.right in found else np.nan
            for p in pairs
        ]
    )
    same = np.array([p.same for p in pairs])
    fold_of = np.array([p.fold for p in pairs])
    per_fold = []
    for f in folds:
        test = fold_of == f
        train = ~test
        cross = len(folds) > 1
        threshold = best_threshold(dist[train], same[train]) if cross else settings.threshold
        ok = test & ~np.isnan(dist)
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
        "per_fold": per_fold,
        "missed_images": sorted(missed.items()),
    }
