"""How far to trust "which parts agree" (``engine/explain.py``): faithful, stable, and what it costs.

* **Faithful**: on LFW same-person pairs (``pairs.txt``) and *lookalike* pairs (a face and its nearest
  face of another person among the pairs' photos), hide the part the explanation ranks first, and
  then the one it ranks last, in both faces, *another way* than the explanation hides them (a hard
  edge, no shift, flat grey: :func:`~lookalike.engine.explain.hide_once`).  Faithful when the first
  moves the distance more than the last.
* **Stable**: the left photo re-encoded (JPEG quality 60) or mirrored, found and aligned again, and
  explained against the same right face: is the first part the same, and how alike are the two
  rankings (Spearman's rho)?
* **Cost**: milliseconds to explain one face against 3 lookalikes (what a job does per shown face).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.engine.decode import load_image
from lookalike.engine.embedding import embedding_model
from lookalike.engine.engine import FaceEngine
from lookalike.engine.explain import (
    DEFAULT_SHIFTS,
    AlignedFace,
    embed_aligned,
    explain,
    hide_once,
    mean_rank_agreement,
)
from lookalike.errors import LookalikeError
from lookalike.evaluation.lfw import find_pairs_file, read_pairs
from lookalike.gallery.build import one_face
from lookalike.settings import Settings

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PairCheck:
    """One pair: its ranking, the faithfulness check, and the rankings after re-encoding / mirroring."""

    kind: str  # "same" or "lookalike"
    left: str
    right: str
    ranking: list[str]
    first_growth: float  # the distance's growth when the first-ranked part is hidden the other way
    last_growth: float
    reencoded: list[str] | None
    mirrored: list[str] | None

    @property
    def faithful(self) -> bool:
        return self.first_growth > self.last_growth


@dataclass(frozen=True)
class Stability:
    pairs: int
    same_first: float  # share of pairs whose first-ranked part is unchanged
    first_in_two: float  # share of pairs whose first-ranked part is still among the first two
    rho: float  # mean Spearman's rho between the rankings


@dataclass(frozen=True)
class ExplainReport:
    model: str
    shifts: int  # looks at each part
    mirror: bool  # the faces' mirror images explained too
    pairs: dict[str, int]  # per kind
    faithful: dict[str, float]  # per kind, and "all"
    reencoded: Stability
    mirrored: Stability
    ms_per_face: dict[str, float]  # median and p90, 3 lookalikes a face
    first_parts: dict[str, int]  # how often each part is ranked first


def _aligned(engine: FaceEngine, image: np.ndarray) -> AlignedFace | None:
    """The photo's centre face aligned (LFW's rule: the face nearest the centre is the labelled one)."""
    face, _ = one_face(image, engine, "centre")
    return None if face is None else engine.aligned(image, face)


def _variants(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = io.BytesIO()
    Image.fromarray(image).save(out, "JPEG", quality=60)
    return np.asarray(Image.open(out).convert("RGB")), np.ascontiguousarray(image[:, ::-1])


def lookalike_pairs(faces: dict[str, AlignedFace], vectors: dict[str, np.ndarray], count: int) -> list[tuple[str, str]]:
    """``count`` pairs (photo, its nearest photo of another person) among ``faces``, one per person."""
    by_person: dict[str, str] = {}
    for path in sorted(faces):
        by_person.setdefault(Path(path).parent.name, path)
    paths = sorted(by_person.values())
    matrix = np.stack([vectors[p] for p in paths])
    people = [Path(p).parent.name for p in paths]
    pairs = []
    for i, path in enumerate(paths[:count]):
        distances = np.linalg.norm(matrix - matrix[i], axis=1)
        distances[[j for j, person in enumerate(people) if person == people[i]]] = np.inf
        pairs.append((path, paths[int(np.argmin(distances))]))
    return pairs


def _check(
    engine: FaceEngine,
    radius: float,
    kind: str,
    left: str,
    right: str,
    faces: dict[str, AlignedFace],
    shifts: Sequence[tuple[int, int]],
    mirror: bool,
) -> PairCheck:
    embedder = engine.embedder
    a, b = faces[left], faces[right]
    first = explain(embedder, radius, a, [b], shifts, mirror)[0]
    top, bottom = first.ranking[0], first.ranking[-1]
    images = [a.image, b.image, hide_once(a, top), hide_once(b, top), hide_once(a, bottom), hide_once(b, bottom)]
    v = embed_aligned(embedder, images, [a.points, b.points] * 3) * radius
    d = [float(np.linalg.norm(v[i] - v[i + 1])) for i in (0, 2, 4)]
    rankings: list[list[str] | None] = []
    for image in _variants(load_image(Path(left).read_bytes(), engine.settings)):
        again = _aligned(engine, image)
        rankings.append(None if again is None else explain(embedder, radius, again, [b], shifts, mirror)[0].ranking)
    return PairCheck(kind, left, right, first.ranking, d[1] - d[0], d[2] - d[0], rankings[0], rankings[1])


def _stability(checks: list[PairCheck], which: str) -> Stability:
    seen = [(c.ranking, getattr(c, which)) for c in checks if getattr(c, which) is not None]
    if not seen:
        return Stability(0, float("nan"), float("nan"), float("nan"))
    same = float(np.mean([a[0] == b[0] for a, b in seen]))
    two = float(np.mean([a[0] in b[:2] for a, b in seen]))
    return Stability(len(seen), same, two, float(np.mean([mean_rank_agreement(a, b) for a, b in seen])))


def _cost(
    engine: FaceEngine,
    radius: float,
    faces: list[AlignedFace],
    shifts: Sequence[tuple[int, int]],
    mirror: bool,
    rounds: int,
) -> dict[str, float]:
    times = []
    for i in range(min(rounds, len(faces) - 3)):
        start = time.perf_counter()
        explain(engine.embedder, radius, faces[i], faces[i + 1 : i + 4], shifts, mirror)
        times.append((time.perf_counter() - start) * 1000)
    return {"median": round(float(np.median(times)), 1), "p90": round(float(np.percentile(times, 90)), 1)}


def evaluate(
    settings: Settings,
    pairs_per_kind: int = 150,
    shifts: Sequence[tuple[int, int]] = DEFAULT_SHIFTS,
    progress: Progress | None = None,
    cost_rounds: int = 12,
    mirror: bool = False,
) -> ExplainReport:
    """Faithfulness, stability and cost on ``pairs_per_kind`` same-person pairs of LFW's ``pairs.txt``
    (the first of each of its 10 folds) and as many lookalike pairs (among its different-person pairs' photos)."""
    lfw = settings.data_dir / "lfw"
    if not lfw.is_dir():
        raise LookalikeError(f"No LFW folder at {lfw} (LOOKALIKE_DATA_DIR).", code="no_data")
    model = embedding_model(settings)
    if model.landmarks != "yunet":
        raise LookalikeError(f"Explanations need a model aligned on YuNet's points, not {model.name!r}.")
    radius = model.calibration(settings.embed_flip).radius
    engine = FaceEngine(settings)
    everything = read_pairs(find_pairs_file(lfw), lfw)
    per_fold = -(-pairs_per_kind // 10)
    same = [p for f in range(1, 11) for p in [q for q in everything if q.fold == f and q.same][:per_fold]]
    same = same[:pairs_per_kind]
    strangers = sorted({x for p in everything if not p.same for x in (p.left, p.right)})[: pairs_per_kind * 8]
    photos = sorted({x for p in same for x in (p.left, p.right)} | set(strangers))
    total = len(photos) + 2 * pairs_per_kind
    faces = _align_all(engine, photos, settings, progress, total)
    vectors = {p: embed_aligned(engine.embedder, [f.image], [f.points])[0] for p, f in faces.items()}
    look = lookalike_pairs({p: faces[p] for p in strangers if p in faces}, vectors, pairs_per_kind)
    jobs = [("same", p.left, p.right) for p in same if p.left in faces and p.right in faces]
    jobs += [("lookalike", a, b) for a, b in look]
    checks = []
    for i, (kind, left, right) in enumerate(jobs):
        checks.append(_check(engine, radius, kind, left, right, faces, shifts, mirror))
        if progress:
            progress(len(photos) + i + 1, total)
    cost = _cost(engine, radius, [faces[p] for p in sorted(faces)], shifts, mirror, cost_rounds)
    return _report(model.name, shifts, mirror, checks, cost)


def _align_all(
    engine: FaceEngine, photos: list[str], settings: Settings, progress: Progress | None, total: int
) -> dict[str, AlignedFace]:
    faces: dict[str, AlignedFace] = {}
    for i, path in enumerate(photos):
        aligned = _aligned(engine, load_image(Path(path).read_bytes(), settings))
        if aligned is not None:
            faces[path] = aligned
        if progress:
            progress(i + 1, total)
    return faces


def _report(
    model: str, shifts: Sequence[tuple[int, int]], mirror: bool, checks: list[PairCheck], cost: dict[str, float]
) -> ExplainReport:
    kinds = ("same", "lookalike")
    faithful = {
        k: float(np.mean([c.faithful for c in checks if c.kind == k]))
        for k in kinds
        if any(c.kind == k for c in checks)
    }
    faithful["all"] = float(np.mean([c.faithful for c in checks]))
    first: dict[str, int] = {}
    for c in checks:
        first[c.ranking[0]] = first.get(c.ranking[0], 0) + 1
    return ExplainReport(
        model=model,
        shifts=len(shifts),
        mirror=mirror,
        pairs={k: sum(c.kind == k for c in checks) for k in kinds},
        faithful={k: round(v, 4) for k, v in faithful.items()},
        reencoded=_stability(checks, "reencoded"),
        mirrored=_stability(checks, "mirrored"),
        ms_per_face=cost,
        first_parts=dict(sorted(first.items(), key=lambda kv: -kv[1])),
    )
