"""Per-stage latency of our pipeline, side by side with its peers' (``bench/peers.py``) on the same photos.

Each photo can be re-encoded at given sizes (megapixels) so that 1 MP and 12 MP
behaviour is measured on the same picture; runs of the two pipelines are
interleaved so that all see the same machine load.  With the standard set
(``bench/photos.py``) ground-truth boxes are known too.

A speed-up is never quoted alone: every summary line carries the faces each
pipeline found and the number of photos where ours found fewer (of the peer's
faces, or of the ground truth).
"""

from __future__ import annotations

import io
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.bench import peers
from lookalike.bench.peers import Boxes
from lookalike.engine.decode import decode_photo
from lookalike.engine.embedding import embedding_model
from lookalike.engine.engine import FaceEngine, Timings
from lookalike.gallery.index import ExactIndex
from lookalike.settings import Settings

#: Idle seconds before each run: the threads a pipeline leaves spinning (onnxruntime's, OpenBLAS's)
#: must not spend the next pipeline's time.
PAUSE = 0.2
STAGES = ("decode", "resize", "detect", "detect_cnn", "landmarks", "embed", "search")


@dataclass
class Case:
    name: str
    data: bytes
    width: int
    height: int
    truth: list[tuple[int, int, int, int]] | None = None  # ground-truth face boxes (left, top, right, bottom)
    size_class: str | None = None

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


#: Two boxes are the same face above this IoU (detectors draw boxes differently: dlib's vs YuNet's
#: boxes of one face overlap by ~0.6).
MATCH_IOU = 0.3


@dataclass
class PeerRuns:
    """One peer's runs of one photo: seconds per run, and the boxes it found."""

    seconds: list[float] = field(default_factory=list)
    boxes: Boxes = field(default_factory=list)


@dataclass
class CaseResult:
    case: Case
    ours: list[dict[str, float]] = field(default_factory=list)  # per run: stage -> seconds, plus "total"
    boxes_ours: Boxes = field(default_factory=list)
    peers: dict[str, PeerRuns] = field(default_factory=dict)

    @property
    def faces_ours(self) -> int:
        return len(self.boxes_ours)

    @property
    def truth_ours(self) -> int | None:
        return None if self.case.truth is None else matches(self.case.truth, self.boxes_ours)

    def matched(self, peer: str) -> int:
        """The peer's faces that ours found too."""
        return matches(self.peers[peer].boxes, self.boxes_ours)

    def truth_theirs(self, peer: str) -> int | None:
        return None if self.case.truth is None else matches(self.case.truth, self.peers[peer].boxes)

    def missed_outside_truth(self, peer: str) -> int | None:
        """The peer's faces ours missed that are not ground-truth faces (its false positives, or faces
        the truth does not list, e.g. a neighbour's cut face in a pasted photo)."""
        if self.case.truth is None:
            return None
        missed = [b for b in self.peers[peer].boxes if matches([b], self.boxes_ours) == 0]
        return sum(1 for b in missed if matches([b], self.case.truth) == 0)

    def worse(self, peer: str) -> bool:
        """Ours found fewer true faces, or missed a face the peer found (where the ground truth is
        known: one that is a true face)."""
        missed = len(self.peers[peer].boxes) - self.matched(peer)
        if self.case.truth is None:
            return missed > 0
        fewer = (self.truth_ours or 0) < (self.truth_theirs(peer) or 0)
        return fewer or missed > (self.missed_outside_truth(peer) or 0)

    def as_dict(self) -> dict[str, object]:
        med = {s: _ms(statistics.median(r.get(s, 0.0) for r in self.ours)) for s in (*STAGES, "total")}
        out: dict[str, object] = {
            "photo": self.case.name,
            "size_class": self.case.size_class,
            "width": self.case.width,
            "height": self.case.height,
            "megapixels": round(self.case.megapixels, 2),
            "faces": self.faces_ours,
            "ours_ms": med,
            "ours_best_ms": _ms(min(r["total"] for r in self.ours)),
            "truth_faces": None if self.case.truth is None else len(self.case.truth),
            "truth_found": self.truth_ours,
            "peers": {},
        }
        for name, runs in self.peers.items():
            theirs = _ms(statistics.median(runs.seconds)) if runs.seconds else None
            out["peers"][name] = {  # type: ignore[index]
                "ms": theirs,
                "best_ms": _ms(min(runs.seconds)) if runs.seconds else None,
                "faces": len(runs.boxes),
                "truth_found": self.truth_theirs(name),
                "matched": self.matched(name),
                "missed_outside_truth": self.missed_outside_truth(name),
                "worse": self.worse(name),
                "speedup": round(theirs / med["total"], 2) if theirs and med["total"] else None,
            }
        return out


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0, w) * max(0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def matches(wanted: Boxes, found: Boxes, threshold: float = MATCH_IOU) -> int:
    """How many ``wanted`` boxes have their own ``found`` box (greedy one-to-one, best IoU first)."""
    pairs = sorted(
        ((iou(w, f), i, j) for i, w in enumerate(wanted) for j, f in enumerate(found)),
        reverse=True,
    )
    used_w: set[int] = set()
    used_f: set[int] = set()
    for value, i, j in pairs:
        if value < threshold:
            break
        if i not in used_w and j not in used_f:
            used_w.add(i)
            used_f.add(j)
    return len(used_w)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def make_cases(paths: list[Path], sizes: list[float]) -> list[Case]:
    """Each photo as it is (size 0) or re-encoded as JPEG at each size in megapixels."""
    cases = []
    for path in paths:
        data = path.read_bytes()
        original = Image.open(io.BytesIO(data))
        original.load()
        for mp in sizes or [0]:
            if mp <= 0:
                cases.append(Case(path.name, data, *original.size))
                continue
            scale = (mp * 1e6 / (original.width * original.height)) ** 0.5
            size = (round(original.width * scale), round(original.height * scale))
            out = io.BytesIO()
            original.convert("RGB").resize(size, Image.Resampling.LANCZOS).save(out, "JPEG", quality=92)
            cases.append(Case(f"{path.name}@{mp:g}MP", out.getvalue(), *size))
    return cases


def cases_from_set(folder: Path) -> list[Case]:
    """The photos of a standard set (``lookalike bench photos``) with their ground truth."""
    manifest = json.loads((folder / "manifest.json").read_text())
    cases = []
    for p in manifest["photos"]:
        truth = None if p["faces"] is None else [(f["left"], f["top"], f["right"], f["bottom"]) for f in p["faces"]]
        data = (folder / p["file"]).read_bytes()
        cases.append(Case(p["file"], data, p["width"], p["height"], truth, p["size_class"]))
    return cases


def synthetic_gallery(dim: int, n: int = 13_233, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.09, (n, dim))).astype(np.float32)


def run(
    cases: list[Case],
    settings: Settings,
    repeat: int = 5,
    gallery_vectors: np.ndarray | None = None,
    versus: tuple[str, ...] = (),
) -> list[CaseResult]:
    """Ours and each peer of ``versus`` (``bench/peers.py``) on every case, runs interleaved so that all
    see the same machine; the best and median of ``repeat`` runs after one warm-up run."""
    engine = FaceEngine(settings)
    index = ExactIndex(
        gallery_vectors if gallery_vectors is not None else synthetic_gallery(embedding_model(settings).dim)
    )
    theirs_gallery = synthetic_gallery(128) if versus else None  # dlib-sized vectors, for face_recognition
    started = [peers.start(name, theirs_gallery) for name in versus]
    try:
        results = []
        for n, case in enumerate(cases):
            result = CaseResult(case, peers={p.name: PeerRuns() for p in started})
            for i in range(repeat + (1 if n == 0 else 0)):  # a first run warms models and caches, not counted
                counted = n > 0 or i > 0
                time.sleep(PAUSE)
                stages, result.boxes_ours = _ours(engine, index, case, settings)
                if counted:
                    result.ours.append(stages)
                for peer in started:
                    time.sleep(PAUSE)
                    seconds, boxes = peer.run(case.data)
                    if counted:
                        result.peers[peer.name].seconds.append(seconds)
                    result.peers[peer.name].boxes = boxes
            results.append(result)
        return results
    finally:
        for peer in started:
            peer.close()


def _ours(engine: FaceEngine, index: ExactIndex, case: Case, settings: Settings) -> tuple[dict[str, float], Boxes]:
    """One whole-photo run of ours: decode, detect, describe, search; seconds per stage and the boxes."""
    timings = Timings()
    start = time.perf_counter()
    with timings.stage("decode"):
        photo = decode_photo(case.data, settings, engine.decode_scale)
    detections = engine.detect(photo, timings)
    faces = engine.describe(photo, detections[: settings.max_faces], timings)
    with timings.stage("search"):
        if faces:
            index.search(np.stack([f.embedding for f in faces]), 10)
    timings.stages["total"] = time.perf_counter() - start
    return timings.stages, [(d.box.left, d.box.top, d.box.right, d.box.bottom) for d in detections]


def summary(results: list[CaseResult]) -> list[dict[str, object]]:
    """Per size class (or rounded megapixels): sums of whole-photo latency (medians, and best runs) and
    faces found by each side.

    A speed-up is the ratio of the sums of medians, reported with ``worse``: photos where ours found fewer faces."""
    buckets: dict[str, list[CaseResult]] = {}
    for r in results:
        mp = r.case.megapixels
        key = r.case.size_class or (f"{round(mp)} MP" if mp >= 0.95 else f"{round(mp, 1)} MP")
        buckets.setdefault(key, []).append(r)
    out = []
    for key, rs in buckets.items():
        ours = sum(statistics.median(x["total"] for x in r.ours) for r in rs)
        row: dict[str, object] = {
            "size_class": key,
            "photos": len(rs),
            "ours_ms": _ms(ours),
            "ours_best_ms": _ms(sum(min(x["total"] for x in r.ours) for r in rs)),
            "ours_slowest_ms": _ms(max(statistics.median(x["total"] for x in r.ours) for r in rs)),
            "faces": sum(r.faces_ours for r in rs),
            "peers": {},
        }
        truths = [r for r in rs if r.case.truth is not None]
        if truths:
            row.update(truth_faces=sum(len(r.case.truth or []) for r in truths))
            row.update(truth_found=sum(r.truth_ours or 0 for r in truths))
        for name in rs[0].peers:
            if not all(r.peers[name].seconds for r in rs):
                continue
            theirs = sum(statistics.median(r.peers[name].seconds) for r in rs)
            peer: dict[str, object] = {
                "ms": _ms(theirs),
                "best_ms": _ms(sum(min(r.peers[name].seconds) for r in rs)),
                "faces": sum(len(r.peers[name].boxes) for r in rs),
                "matched": sum(r.matched(name) for r in rs),
                "missed_outside_truth": sum(r.missed_outside_truth(name) or 0 for r in rs),
                "worse": sum(r.worse(name) for r in rs),
                "speedup": round(theirs / ours, 2) if ours else None,
            }
            if truths:
                peer["truth_found"] = sum(r.truth_theirs(name) or 0 for r in truths)
            row["peers"][name] = peer  # type: ignore[index]
        out.append(row)
    return out
