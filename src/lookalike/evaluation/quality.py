"""Do the photo quality hints say the truth?  ``lookalike eval quality``.

Two sets of real photos, one to choose the thresholds on and one to check them on (the thresholds are
constants of ``engine/quality.py``; this measures them, it does not fit them):

* **tune**: LFW (news photos, 250x250), two photos each of people chosen with a fixed seed;
* **check**: celeb_mini (actors and musicians, face crops of other sources), chosen the same way, and
  every face of the full-size photos of ``small/`` and ``group/`` as they are.

Each first photo is also degraded at run time (nothing is written): Gaussian blur (sigma a share of
the face's size), darkened (gamma; and exposure scaled down), and shrunk so the face is a given size.
Per set and variant: the faces found, how far the degradation moved the face's embedding (median
distance to the face as it was; 0.6 is "another person"), and the share of faces given each hint.
A hint on a face as it was is a false hint; a degraded face without its hint is a miss.  Turned
faces cannot be made honestly from frontal ones, so ``turned`` is measured on the photos' own poses:
the distance between a person's two photos, binned by the more turned one's estimated yaw.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lookalike.engine.decode import load_image
from lookalike.engine.parallel import map_with_engine, worker_engine
from lookalike.engine.quality import HINTS, FaceQuality
from lookalike.errors import LookalikeError
from lookalike.gallery.build import one_face
from lookalike.settings import Settings

#: A degradation: its name, the hint it should earn (None: none), and how to make it from the photo
#: and the face's size (px).
Degrade = Callable[[np.ndarray, int], np.ndarray]


def _blur(share: float) -> Degrade:
    return lambda image, size: cv2.GaussianBlur(image, (0, 0), share * size)


def _gamma(gamma: float, gain: float = 1.0) -> Degrade:
    table = np.clip(255.0 * gain * (np.arange(256) / 255.0) ** gamma, 0, 255).astype(np.uint8)
    return lambda image, size: table[image]


def _shrink(face: int) -> Degrade:
    def shrink(image: np.ndarray, size: int) -> np.ndarray:
        scale = face / max(size, 1)
        height, width = image.shape[:2]
        new = (max(1, round(width * scale)), max(1, round(height * scale)))
        return cv2.resize(image, new, interpolation=cv2.INTER_AREA)

    return shrink


VARIANTS: dict[str, tuple[str | None, Degrade | None]] = {
    "as is": (None, None),
    "blur 1.5%": ("blurred", _blur(0.015)),
    "blur 3%": ("blurred", _blur(0.03)),
    "blur 5%": ("blurred", _blur(0.05)),
    "gamma 2": ("dark", _gamma(2.0)),
    "gamma 3": ("dark", _gamma(3.0)),
    "exposure x0.3": ("dark", _gamma(1.0, 0.3)),
    "face 80 px": (None, _shrink(80)),
    "face 48 px": ("small", _shrink(48)),
    "face 32 px": ("small", _shrink(32)),
}


@dataclass(frozen=True)
class Measured:
    """One face of one variant: its quality and embedding."""

    quality: FaceQuality
    embedding: np.ndarray


def _measure_photo(job: tuple[str, bool]) -> tuple[str, dict[str, Measured | None]]:
    """The centre face of the photo as it is and (``degrade``) in every variant."""
    path, degrade = job
    engine = worker_engine()
    try:
        image = load_image(Path(path).read_bytes(), engine.settings)
    except (LookalikeError, OSError):
        return path, {}
    face, _ = one_face(image, engine, "centre")
    if face is None or face.measures is None:
        return path, {}
    out: dict[str, Measured | None] = {"as is": Measured(face.measures, face.embedding)}
    for name, (_, make) in VARIANTS.items():
        if make is None or not degrade:
            continue
        changed, _ = one_face(make(image, face.size), engine, "centre")
        out[name] = Measured(changed.measures, changed.embedding) if changed and changed.measures else None
    return path, out


def pairs_of(folder: Path, people: int, seed: int) -> list[tuple[str, str]]:
    """Two photos each (the first two by name) of ``people`` people with 2+ photos, chosen with ``seed``."""
    every = []
    for person in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("_")):
        photos = sorted(str(f) for f in person.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if len(photos) >= 2:
            every.append((photos[0], photos[1]))
    return random.Random(seed).sample(every, min(people, len(every)))


@dataclass(frozen=True)
class VariantRow:
    """A set's faces in one variant: how many, how far they moved, which hints they got."""

    set: str
    variant: str
    expected: str | None
    photos: int
    faces: int
    median_shift: float | None
    hinted: dict[str, float]  # hint -> share of the faces given it

    @property
    def expected_share(self) -> float | None:
        return self.hinted.get(self.expected) if self.expected else None


@dataclass(frozen=True)
class PoseRow:
    """A set's pairs of one person's photos whose more turned photo's |yaw| lies in [low, high)."""

    set: str
    low: float
    high: float
    pairs: int
    median_distance: float | None
    turned: float  # share of these pairs' more turned photo given "turned"


@dataclass(frozen=True)
class Percentiles:
    """A measure's distribution over a set's faces as they are (the thresholds' neighbourhood)."""

    set: str
    measure: str
    p1: float
    p5: float
    p50: float
    p95: float
    p99: float


@dataclass(frozen=True)
class QualityReport:
    variants: list[VariantRow]
    poses: list[PoseRow]
    percentiles: list[Percentiles]
    thresholds: dict[str, float]


def _variant_rows(name: str, results: dict[str, dict[str, Measured | None]], photos: int) -> list[VariantRow]:
    rows = []
    for variant, (expected, _) in VARIANTS.items():
        faces, shifts = [], []
        for measured in results.values():
            got = measured.get(variant)
            if got is None:
                continue
            faces.append(got.quality)
            clean = measured.get("as is")
            if clean is not None and variant != "as is":
                shifts.append(float(np.linalg.norm(got.embedding - clean.embedding)))
        if not faces:
            continue
        hinted = {h: round(sum(h in q.hints for q in faces) / len(faces), 4) for h in HINTS}
        shift = round(float(np.median(shifts)), 3) if shifts else None
        rows.append(VariantRow(name, variant, expected, photos, len(faces), shift, hinted))
    return rows


YAW_BINS = (0.0, 10.0, 20.0, 30.0, 45.0, 90.0)


def _pose_rows(
    name: str, pairs: list[tuple[str, str]], results: dict[str, dict[str, Measured | None]]
) -> list[PoseRow]:
    found = []
    for a, b in pairs:
        first, second = results.get(a, {}).get("as is"), results.get(b, {}).get("as is")
        if first is None or second is None:
            continue
        turned = max(first, second, key=lambda m: abs(m.quality.yaw or 0.0))
        distance = float(np.linalg.norm(first.embedding - second.embedding))
        found.append((abs(turned.quality.yaw or 0.0), distance, "turned" in turned.quality.hints))
    rows = []
    for low, high in zip(YAW_BINS, YAW_BINS[1:]):
        inside = [f for f in found if low <= f[0] < high]
        median = round(float(np.median([f[1] for f in inside])), 3) if inside else None
        share = round(sum(f[2] for f in inside) / len(inside), 4) if inside else 0.0
        rows.append(PoseRow(name, low, high, len(inside), median, share))
    return rows


def _percentiles(name: str, results: dict[str, dict[str, Measured | None]]) -> list[Percentiles]:
    clean = [m["as is"].quality for m in results.values() if m.get("as is") is not None]  # type: ignore[union-attr]
    if not clean:
        return []
    values = {
        "size": [q.size for q in clean],
        "sharpness": [q.sharpness for q in clean],
        "brightness": [q.brightness for q in clean],
        "yaw": [q.yaw or 0.0 for q in clean],
        "|yaw|": [abs(q.yaw or 0.0) for q in clean],
        "pitch": [q.pitch or 0.0 for q in clean],
        "|pitch|": [abs(q.pitch or 0.0) for q in clean],
    }
    return [
        Percentiles(name, measure, *(round(float(np.percentile(v, p)), 3) for p in (1, 5, 50, 95, 99)))
        for measure, v in values.items()
    ]


def _measure_faces(path: str) -> tuple[str, list[FaceQuality]]:
    """Every face of a full-size photo as it is."""
    engine = worker_engine()
    try:
        image = load_image(Path(path).read_bytes(), engine.settings)
    except (LookalikeError, OSError):
        return path, []
    return path, [f.measures for f in engine.analyze(image) if f.measures is not None]


def full_size_photos(data: Path) -> list[str]:
    """The photos of ``small/`` and ``group/`` (full-size photos of one or more people)."""
    suffixes = (".jpg", ".jpeg", ".png")
    return sorted(str(p) for d in ("small", "group") for p in (data / d).rglob("*") if p.suffix.lower() in suffixes)


def evaluate(
    settings: Settings,
    people: int = 150,
    seed: int = 0,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> QualityReport:
    """Measure the hints (module doc) on ``people`` people of LFW (tune) and of celeb_mini (check),
    and on the full-size photos."""
    data = settings.data_dir
    sets = {
        "LFW (tune)": pairs_of(data / "lfw", people, seed),
        "celeb_mini (check)": pairs_of(data / "celeb_mini", people, seed),
    }
    jobs = [(path, i == 0) for pairs in sets.values() for pair in pairs for i, path in enumerate(pair)]
    full = full_size_photos(data)
    total = len(jobs) + len(full)
    results: dict[str, dict[str, Measured | None]] = {}
    done = 0
    for path, measured in map_with_engine(_measure_photo, jobs, settings, workers):
        results[path] = measured
        done += 1
        if progress:
            progress(done, total)
    whole: list[FaceQuality] = []
    for _, faces in map_with_engine(_measure_faces, full, settings, workers):
        whole += faces
        done += 1
        if progress:
            progress(done, total)
    report = QualityReport([], [], [], thresholds())
    for name, pairs in sets.items():
        mine = {p: results[p] for pair in pairs for p in pair if p in results}
        firsts = {a: mine[a] for a, _ in pairs if a in mine}
        report.variants.extend(_variant_rows(name, firsts, len(pairs)))
        report.poses.extend(_pose_rows(name, pairs, mine))
        report.percentiles.extend(_percentiles(name, mine))
    as_is = {str(i): {"as is": Measured(q, np.zeros(1, np.float32))} for i, q in enumerate(whole)}
    report.variants.extend(_variant_rows("small/ + group/ (check)", as_is, len(full))[:1])
    report.percentiles.extend(_percentiles("small/ + group/ (check)", as_is))
    return report


def thresholds() -> dict[str, float]:
    """The thresholds measured (``engine/quality.py``'s constants)."""
    from lookalike.engine import quality

    return {
        "small": quality.SMALL_FACE,
        "blurred": quality.BLURRED,
        "dark": quality.DARK,
        "turned_yaw": quality.TURNED_YAW,
    }
