"""Per-stage latency of our pipeline, side by side with face_recognition's on the same photos.

Each photo can be re-encoded at given sizes (megapixels) so that 1 MP and 12 MP
behaviour is measured on the same picture; runs of the two pipelines are
interleaved so that both see the same machine load.
"""

from __future__ import annotations

import io
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.engine.decode import decode
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

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


@dataclass
class CaseResult:
    case: Case
    ours: list[dict[str, float]] = field(default_factory=list)  # per run: stage -> seconds, plus "total"
    theirs: list[float] = field(default_factory=list)
    faces_ours: int = 0
    faces_theirs: int | None = None
    same_faces: bool | None = None  # both found the same faces (same count, boxes overlapping by IoU >= 0.5)

    def as_dict(self) -> dict[str, object]:
        med = {s: _ms(statistics.median(r.get(s, 0.0) for r in self.ours)) for s in (*STAGES, "total")}
        out: dict[str, object] = {
            "photo": self.case.name,
            "width": self.case.width,
            "height": self.case.height,
            "megapixels": round(self.case.megapixels, 2),
            "faces": self.faces_ours,
            "ours_ms": med,
        }
        if self.theirs:
            theirs = _ms(statistics.median(self.theirs))
            out.update(
                face_recognition_ms=theirs,
                face_recognition_faces=self.faces_theirs,
                speedup=round(theirs / med["total"], 2) if med["total"] else None,
                same_faces=self.same_faces,
            )
        return out


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


def synthetic_gallery(n: int = 13_233, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.09, (n, 128))).astype(np.float32)


def run(
    cases: list[Case],
    settings: Settings,
    repeat: int = 5,
    gallery_vectors: np.ndarray | None = None,
    versus: bool = False,
) -> list[CaseResult]:
    engine = FaceEngine(settings)
    index = ExactIndex(gallery_vectors if gallery_vectors is not None else synthetic_gallery())
    fr = import_face_recognition() if versus else None
    results = []
    for case in cases:
        result = CaseResult(case)
        for i in range(repeat + 1):  # the first run warms caches and is not counted
            timings = Timings()
            start = time.perf_counter()
            with timings.stage("decode"):
                image, _ = decode(case.data, settings)
            faces = engine.analyze(image, timings=timings)
            with timings.stage("search"):
                if faces:
                    index.search(np.stack([f.embedding for f in faces]), 10)
            timings.stages["total"] = time.perf_counter() - start
            if i:
                result.ours.append(timings.stages)
            result.faces_ours = len(faces)
            if fr is not None:
                start = time.perf_counter()
                picture = fr.load_image_file(io.BytesIO(case.data))
                locations = fr.face_locations(picture)  # what face_encodings(picture) does inside, kept for boxes
                encodings = fr.face_encodings(picture, locations)
                for enc in encodings:
                    fr.face_distance(index.vectors, enc)
                if i:
                    result.theirs.append(time.perf_counter() - start)
                result.faces_theirs = len(encodings)
                theirs = [(left, top, right, bottom) for top, right, bottom, left in locations]
                result.same_faces = _same_boxes([f.box for f in faces], theirs)
        results.append(result)
    return results


def _same_boxes(ours: list, theirs: list[tuple[int, int, int, int]]) -> bool:  # type: ignore[type-arg]
    if len(ours) != len(theirs):
        return False
    for b in ours:
        best = 0.0
        for left, top, right, bottom in theirs:
            w = min(b.right, right) - max(b.left, left)
            h = min(b.bottom, bottom) - max(b.top, top)
            inter = max(0, w) * max(0, h)
            union = b.width * b.height + (right - left) * (bottom - top) - inter
            best = max(best, inter / union if union else 0.0)
        if best < 0.5:
            return False
    return True


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
    """Median speed-up per photo size bucket (rounded megapixels)."""
    buckets: dict[float, list[CaseResult]] = {}
    for r in results:
        mp = r.case.megapixels
        key = round(mp) if mp >= 1 else round(mp, 1)
        buckets.setdefault(key, []).append(r)
    out = []
    for mp, rs in sorted(buckets.items()):
        ours = statistics.median(statistics.median(x["total"] for x in r.ours) for r in rs)
        row: dict[str, object] = {"megapixels": mp, "photos": len(rs), "ours_ms": _ms(ours)}
        if all(r.theirs for r in rs):
            theirs = statistics.median(statistics.median(r.theirs) for r in rs)
            row.update(face_recognition_ms=_ms(theirs), speedup=round(theirs / ours, 2))
        out.append(row)
    return out
