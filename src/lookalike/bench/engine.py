"""Per-stage latency of our pipeline, side by side with face_recognition's on the same photos.

Each photo can be re-encoded at given sizes (megapixels) so that 1 MP and 12 MP
behaviour is measured on the same picture; runs of the two pipelines are
interleaved so that both see the same machine load.  With the standard set
(``bench/photos.py``) ground-truth boxes are known too.

A speed-up is never quoted alone: every summary line carries the faces both
pipelines found and the number of photos where ours found fewer (of
face_recognition's faces, or of the ground truth).
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

from lookalike.engine.decode import decode
from lookalike.engine.embedding import embedding_model
from lookalike.engine.engine import FaceEngine, Timings
from lookalike.gallery.index import ExactIndex
from lookalike.settings import Settings

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


Boxes = list[tuple[int, int, int, int]]  # (left, top, right, bottom)
#: Two boxes are the same face above this IoU (detectors draw boxes differently: dlib's vs YuNet's
#: boxes of one face overlap by ~0.6).
MATCH_IOU = 0.3


@dataclass
class CaseResult:
    case: Case
    ours: list[dict[str, float]] = field(default_factory=list)  # per run: stage -> seconds, plus "total"
    theirs: list[float] = field(default_factory=list)
    boxes_ours: Boxes = field(default_factory=list)
    boxes_theirs: Boxes | None = None

    @property
    def faces_ours(self) -> int:
        return len(self.boxes_ours)

    @property
    def faces_theirs(self) -> int | None:
        return None if self.boxes_theirs is None else len(self.boxes_theirs)

    @property
    def matched(self) -> int | None:
        """face_recognition's faces that ours found too."""
        return None if self.boxes_theirs is None else matches(self.boxes_theirs, self.boxes_ours)

    @property
    def truth_ours(self) -> int | None:
        return None if self.case.truth is None else matches(self.case.truth, self.boxes_ours)

    @property
    def truth_theirs(self) -> int | None:
        if self.case.truth is None or self.boxes_theirs is None:
            return None
        return matches(self.case.truth, self.boxes_theirs)

    @property
    def missed_outside_truth(self) -> int | None:
        """face_recognition's faces ours missed that are not ground-truth faces (its false positives, or
        faces the truth does not list, e.g. a neighbour's cut face in a pasted photo)."""
        if self.boxes_theirs is None or self.case.truth is None:
            return None
        missed = [b for b in self.boxes_theirs if matches([b], self.boxes_ours) == 0]
        return sum(1 for b in missed if matches([b], self.case.truth) == 0)

    @property
    def worse(self) -> bool:
        """Ours found fewer true faces, or missed a face face_recognition found (where the ground truth is
        known: one that is a true face)."""
        if self.boxes_theirs is None:
            return False
        missed = len(self.boxes_theirs) - (self.matched or 0)
        if self.case.truth is None:
            return missed > 0
        return (self.truth_ours or 0) < (self.truth_theirs or 0) or missed > (self.missed_outside_truth or 0)

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
            "truth_faces": None if self.case.truth is None else len(self.case.truth),
            "truth_found": self.truth_ours,
        }
        if self.theirs:
            theirs = _ms(statistics.median(self.theirs))
            out.update(
                face_recognition_ms=theirs,
                face_recognition_faces=self.faces_theirs,
                face_recognition_truth_found=self.truth_theirs,
                matched=self.matched,
                missed_outside_truth=self.missed_outside_truth,
                worse=self.worse,
                speedup=round(theirs / med["total"], 2) if med["total"] else None,
            )
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
    versus: bool = False,
) -> list[CaseResult]:
    engine = FaceEngine(settings)
    index = ExactIndex(
        gallery_vectors if gallery_vectors is not None else synthetic_gallery(embedding_model(settings).dim)
    )
    fr = import_face_recognition() if versus else None
    theirs_gallery = synthetic_gallery(128)  # face_recognition's vectors are dlib's 128-d ones
    results = []
    for n, case in enumerate(cases):
        result = CaseResult(case)
        for i in range(repeat + (1 if n == 0 else 0)):  # a first run warms models and caches, not counted
            counted = n > 0 or i > 0
            timings = Timings()
            start = time.perf_counter()
            with timings.stage("decode"):
                image, _ = decode(case.data, settings)
            detections = engine.detect(image, timings)
            faces = engine.describe(image, detections[: settings.max_faces], timings)
            with timings.stage("search"):
                if faces:
                    index.search(np.stack([f.embedding for f in faces]), 10)
            timings.stages["total"] = time.perf_counter() - start
            if counted:
                result.ours.append(timings.stages)
            result.boxes_ours = [(d.box.left, d.box.top, d.box.right, d.box.bottom) for d in detections]
            if fr is not None:
                start = time.perf_counter()
                picture = fr.load_image_file(io.BytesIO(case.data))
                locations = fr.face_locations(picture)  # what face_encodings(picture) does inside, kept for boxes
                encodings = fr.face_encodings(picture, locations)
                for enc in encodings:
                    fr.face_distance(theirs_gallery, enc)
                if counted:
                    result.theirs.append(time.perf_counter() - start)
                result.boxes_theirs = [(left, top, right, bottom) for top, right, bottom, left in locations]
        results.append(result)
    return results


def import_face_recognition():  # type: ignore[no-untyped-def]
    try:
        import face_recognition
    except ImportError as exc:
        from lookalike.errors import LookalikeError

        raise LookalikeError(
            "face_recognition is not installed here. It is only for benchmarks: 'make bench-env' installs it "
            "(pip install --no-deps face_recognition, on the dlib this project already has).",
            code="missing_peer",
        ) from exc
    return face_recognition


def summary(results: list[CaseResult]) -> list[dict[str, object]]:
    """Per size class (or rounded megapixels): sums of whole-photo latency and faces found by each side.

    The speed-up is the ratio of the sums, reported with ``worse``: photos where ours found fewer faces."""
    buckets: dict[str, list[CaseResult]] = {}
    for r in results:
        mp = r.case.megapixels
        key = r.case.size_class or (f"{round(mp)} MP" if mp >= 1 else f"{round(mp, 1)} MP")
        buckets.setdefault(key, []).append(r)
    out = []
    for key, rs in buckets.items():
        ours = sum(statistics.median(x["total"] for x in r.ours) for r in rs)
        row: dict[str, object] = {
            "size_class": key,
            "photos": len(rs),
            "ours_ms": _ms(ours),
            "faces": sum(r.faces_ours for r in rs),
        }
        truths = [r for r in rs if r.case.truth is not None]
        if truths:
            row.update(truth_faces=sum(len(r.case.truth or []) for r in truths))
            row.update(truth_found=sum(r.truth_ours or 0 for r in truths))
        if all(r.theirs for r in rs):
            theirs = sum(statistics.median(r.theirs) for r in rs)
            row.update(
                face_recognition_ms=_ms(theirs),
                face_recognition_faces=sum(r.faces_theirs or 0 for r in rs),
                matched=sum(r.matched or 0 for r in rs),
                missed_outside_truth=sum(r.missed_outside_truth or 0 for r in rs),
                worse=sum(r.worse for r in rs),
                speedup=round(theirs / ours, 2) if ours else None,
            )
            if truths:
                row.update(face_recognition_truth_found=sum(r.truth_theirs or 0 for r in truths))
        out.append(row)
    return out
