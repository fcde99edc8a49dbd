"""Build a gallery from ``<Person_Name>/<photos>`` folders, on every core, resumably.

One gallery face per source photo: when a photo holds several faces we keep the
one nearest the image centre (LFW's labelling rule) or, with ``pick="largest"``,
the largest.  Photos already embedded (same path, size and mtime) are skipped;
changed photos are embedded again; photos that disappeared are dropped.  Every
photo that gives no face is recorded with the reason.

Every photo's provenance (licence, author, source) and its person's facts come from its set's
``provenance.jsonl`` or the set's defaults (:mod:`lookalike.gallery.provenance`); they are recorded
as photos are added and brought up to date, without embedding again, for unchanged ones.  With
``require_reusable`` a photo without a reuse licence is not added (``refused``, reason
``no_reuse_licence``), and one added before is taken out.

Every new face keeps its *aligned face* (``engine.align.canonical_face``, a JPEG) and the 5 YuNet points
it was cut on.  A gallery made before format 3 gets them without embedding anything again: each face
without one has its photo (when it is still there with the same bytes) detected once more, and the
detection that overlaps the stored box best gives the points (the report's ``aligned`` counts them).

People on the removal list (:mod:`lookalike.gallery.removals`: by folder name, or by the Wikidata id of
their facts) are left out: none of their photos is embedded or recorded, and one already in the
gallery is taken out (the report's ``removed_by_list`` counts them).
"""

from __future__ import annotations

import io
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from lookalike.checksums import sha256_bytes, sha256_file
from lookalike.engine.align import canonical_face
from lookalike.engine.decode import load_image
from lookalike.engine.embedding import embedding_id, embedding_model
from lookalike.engine.engine import Box, Detection, Face, FaceEngine
from lookalike.engine.parallel import map_with_engine, worker_engine
from lookalike.errors import GalleryError, LookalikeError
from lookalike.gallery.provenance import SET_FILES, Provenance
from lookalike.gallery.removals import RemovalList
from lookalike.gallery.store import (
    FaceRecord,
    Gallery,
    PhotoProvenance,
    PhotoRecord,
    ProvenanceSummary,
    UnalignedFace,
    embedding_of,
    replace_gallery,
)
from lookalike.media import PHOTO_SUFFIXES
from lookalike.settings import Settings

THUMBNAIL_SIZE = 112
ALIGNED_QUALITY = 90  # JPEG quality of the stored aligned faces
#: A detection gives a stored face its aligned face when their boxes overlap at least this much (IoU).
ALIGN_MIN_IOU = 0.5
PICKS = ("centre", "largest")
#: Failures worth another try on the next run (the file may be readable now, or the bug fixed).
RETRY_REASONS = ("internal", "unreadable")
#: Why a photo is not added with ``require_reusable``.
NO_REUSE = "no_reuse_licence"


@dataclass(frozen=True)
class SourcePhoto:
    path: str
    person: str
    size: int
    mtime_ns: int


@dataclass
class BuildReport:
    added: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason code -> photos
    multi_face: int = 0  # photos with several faces (one was picked)
    log: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) of skipped photos
    provenance_updated: int = 0  # photos and people whose provenance changed, recorded without embedding
    removed_by_list: int = 0  # people left out (and taken out of the gallery) because of the removal list
    aligned: int = 0  # faces made before format 3 given their aligned face, without embedding
    not_aligned: Counter[str] = field(default_factory=Counter)  # why others were not ("gone", "changed", ...)

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": dict(self.skipped),
            "multi_face_photos": self.multi_face,
            "provenance_updated": self.provenance_updated,
            "removed_by_list": self.removed_by_list,
            "aligned": self.aligned,
            "not_aligned": dict(self.not_aligned),
        }


LAYOUT = "ROOT/<Person_Name>/<photos> (or a folder of such sets: ROOT/<set>/<Person_Name>/<photos>)"


def _visible(folder: Path) -> list[Path]:
    return [e for e in sorted(folder.iterdir()) if not e.name.startswith((".", "_"))]


def _holds_photos(folder: Path) -> bool:
    return any(e.is_file() and e.suffix.lower() in PHOTO_SUFFIXES for e in _visible(folder))


def expand_sets(roots: Iterable[Path], depth: int = 3) -> list[Path]:
    """Each root is a set (``<Person>/<photos>``) or a folder of sets (a data folder holding ``lfw/`` and
    ``celeb_mini/``): the latter stands for its sets.  A folder mixing both is refused, with the fix."""
    out: list[Path] = []
    for root in map(Path, roots):
        if not root.is_dir():
            out.append(root)  # scan_sources says what is wrong with it
            continue
        folders = [e for e in _visible(root) if e.is_dir()]
        people = [f for f in folders if _holds_photos(f)]
        sets = [f for f in folders if not _holds_photos(f) and any(e.is_dir() for e in _visible(f))]
        if sets and not people and depth > 0:
            out.extend(expand_sets(sets, depth - 1))
        elif sets and people:
            raise LookalikeError(
                f"{root} holds both person folders (e.g. {people[0].name}) and folders of person folders "
                f"({', '.join(s.name for s in sets)}); the layout is {LAYOUT}. Name the sets to build from, "
                f"e.g. `lookalike gallery build {sets[0]}`.",
                code="bad_layout",
            )
        else:
            out.append(root)
    return out


def scan_sources(roots: Iterable[Path], person: str | None = None) -> tuple[list[SourcePhoto], list[tuple[str, str]]]:
    """List photos under person folders of each root (or, with ``person``, the given files).

    Returns (photos, problems); hidden files are ignored, loose files beside the person folders
    are reported.
    """
    photos: list[SourcePhoto] = []
    problems: list[tuple[str, str]] = []
    for root in roots:
        root = Path(root)
        if person is not None:
            candidates = [(root, person)]
        elif not root.is_dir():
            problems.append((str(root), "not a folder"))
            continue
        else:
            candidates = []
            for entry in sorted(root.iterdir()):
                if entry.name.startswith((".", "_")) or entry.name in SET_FILES:
                    continue  # hidden folders, LFW's _meta, a downloaded set's provenance and skip log
                if entry.is_dir():
                    candidates.extend((f, entry.name) for f in sorted(entry.iterdir()) if not f.name.startswith("."))
                else:
                    problems.append((str(entry), "not inside a person folder"))
        for path, name in candidates:
            if not path.is_file():
                problems.append((str(path), "not a file"))
                continue
            stat = path.stat()
            photos.append(SourcePhoto(str(path.resolve()), name, stat.st_size, stat.st_mtime_ns))
    return photos, problems


# -- work done in the worker processes ---------------------------------------------------------


def embed_photo(
    photo: SourcePhoto, pick: str = "centre", engine: FaceEngine | None = None
) -> tuple[PhotoRecord, list[FaceRecord]]:
    """Read one photo and return its record and (at most one) gallery face."""
    engine = engine or worker_engine()
    record: dict[str, object] = dict(path=photo.path, person=photo.person, size=photo.size, mtime_ns=photo.mtime_ns)
    try:
        data = Path(photo.path).read_bytes()
        record["sha256"] = sha256_bytes(data)
        image = load_image(data, engine.settings)
        face, found = one_face(image, engine, pick)
        if face is None:
            return PhotoRecord(**record, status="no_face", reason="no face found"), []
        thumb = thumbnail(image, face.box)
        points = face.points if engine.model.landmarks == "yunet" else None  # dlib's own points: no frame
        aligned = aligned_jpeg(image, points) if points is not None else None
    except LookalikeError as exc:
        return PhotoRecord(**record, status="error", reason=f"{exc.code}: {exc.message}"), []
    except OSError as exc:
        return PhotoRecord(**record, status="error", reason=f"unreadable: {exc.strerror or exc}"), []
    except Exception as exc:  # one odd photo must not stop a build of thousands; it is logged
        return PhotoRecord(**record, status="error", reason=f"internal: {type(exc).__name__}: {exc}"), []
    b = face.box
    box = (b.left, b.top, b.right, b.bottom)
    return (
        PhotoRecord(**record, status="ok", faces_found=found),
        [FaceRecord(photo.person, box, face.score, face.detector, face.embedding, thumb, points, aligned)],
    )


def one_face(image: np.ndarray, engine: FaceEngine, pick: str = "centre") -> tuple[Face | None, int]:
    """The photo's face chosen by ``pick`` (described), and how many faces the photo holds."""
    detections = engine.detect(image)
    if not detections:
        return None, 0
    chosen = choose_face(detections, image.shape[1], image.shape[0], pick)
    return engine.describe(image, [chosen])[0], len(detections)


def choose_face(detections: list[Detection], width: int, height: int, pick: str) -> Detection:
    if pick == "largest":
        return max(detections, key=lambda d: d.box.width * d.box.height)
    cx, cy = width / 2, height / 2
    return min(detections, key=lambda d: (d.box.center[0] - cx) ** 2 + (d.box.center[1] - cy) ** 2)


def thumbnail(image: np.ndarray, box: Box, size: int = THUMBNAIL_SIZE) -> bytes:
    """A small square JPEG of the face with some margin, for result cards."""
    height, width = image.shape[:2]
    side = max(box.width, box.height) * 1.5
    cx, cy = box.center
    left, top = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    right, bottom = min(width, round(cx + side / 2)), min(height, round(cy + side / 2))
    crop = Image.fromarray(image[top:bottom, left:right])
    crop.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    crop.save(out, "JPEG", quality=85)
    return out.getvalue()


def aligned_jpeg(image: np.ndarray, landmarks: np.ndarray) -> bytes:
    """The face's aligned face (``canonical_face``: 184x184, eyes on the template's line) as a JPEG."""
    out = io.BytesIO()
    Image.fromarray(canonical_face(image, landmarks)[0]).save(out, "JPEG", quality=ALIGNED_QUALITY)
    return out.getvalue()


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@dataclass(frozen=True)
class Alignment:
    """What :func:`align_stored_face` found: the points and aligned face, or why there are none."""

    face_id: int
    landmarks: np.ndarray | None
    aligned: bytes | None
    reason: str | None = None  # "gone", "changed", "no_match" (no YuNet detection overlaps), "error: ..."


def align_stored_face(face: UnalignedFace, engine: FaceEngine | None = None) -> Alignment:
    """A stored face's aligned face from its photo, without embedding: the photo must be there as recorded
    (size and modification time, else its bytes' SHA-256: as a build tells an unchanged photo); the
    detection overlapping the stored box best (IoU at least ``ALIGN_MIN_IOU``) gives the 5 points."""
    engine = engine or worker_engine()
    try:
        data = Path(face.path).read_bytes()
    except OSError:
        return Alignment(face.id, None, None, "gone")
    stat = os.stat(face.path)
    same = (stat.st_size, stat.st_mtime_ns) == (face.size, face.mtime_ns)  # as the build's own check
    if not same and (face.sha256 is None or sha256_bytes(data) != face.sha256):
        return Alignment(face.id, None, None, "changed")
    try:
        image = load_image(data, engine.settings)
        detections = [d for d in engine.detect(image) if d.points]
        scored = [(iou(face.box, (d.box.left, d.box.top, d.box.right, d.box.bottom)), d) for d in detections]
        best = max(scored, key=lambda s: s[0], default=None)
        if best is None or best[0] < ALIGN_MIN_IOU:
            return Alignment(face.id, None, None, "no_match")
        points = engine.yunet_points(image, [best[1]])[0]
        if points is None:
            return Alignment(face.id, None, None, "no_match")
        return Alignment(face.id, points, aligned_jpeg(image, points))
    except Exception as exc:  # one odd photo must not stop the upgrade; its face simply stays unaligned
        return Alignment(face.id, None, None, f"error: {type(exc).__name__}: {exc}")


def _work(args: tuple[SourcePhoto, str]) -> tuple[PhotoRecord, list[FaceRecord]]:
    return embed_photo(args[0], args[1])


def _align_work(face: UnalignedFace) -> Alignment:
    return align_stored_face(face)


# -- the driver ------------------------------------------------------------------------------


def build_gallery(
    gallery: Gallery,
    photos: list[SourcePhoto],
    settings: Settings,
    *,
    pick: str = "centre",
    workers: int | None = None,
    prune: bool = True,
    progress: Callable[[int, int], None] | None = None,
    commit_every: int = 200,
    provenance: Provenance | None = None,
    align_existing: bool = True,
) -> BuildReport:
    """Embed new and changed ``photos`` into ``gallery`` with their provenance (``provenance``: read from
    the photos' sets); drop vanished ones when ``prune``; with ``settings.require_reusable`` refuse photos
    without a reuse licence; with ``align_existing`` give the faces stored without an aligned face theirs
    (a gallery made before format 3).  ``progress(done, total)`` counts both."""
    if pick not in PICKS:
        raise ValueError(f"pick must be one of {PICKS}")
    model = embedding_model(settings)
    gallery.check_embedding(embedding_id(settings), claim=True, dim=model.dim, model=model.name)
    provenance = provenance or Provenance()
    report = BuildReport()
    photos = _leave_out_listed(gallery, photos, provenance, RemovalList.of(settings), report)
    work = _sort(gallery, photos, provenance, settings.require_reusable, report)
    if prune:
        gone = [path for path in gallery.photos() if not os.path.exists(path)]
        if gone:
            with gallery.writing() as w:
                for path in gone:
                    w.remove_photo(path)
            report.removed = len(gone)
    _record_without_embedding(gallery, work, photos, provenance, report)
    embedding = {p.path for p in work.todo}  # their faces are made again, aligned
    align_existing = align_existing and model.landmarks == "yunet"  # dlib's model keeps no aligned faces
    unaligned = [f for f in gallery.unaligned_faces() if f.path not in embedding] if align_existing else []
    total = len(work.todo) + len(unaligned)
    if progress:
        progress(0, total)

    def step(done: int) -> None:
        if progress:
            progress(done, total)

    _embed_all(gallery, work.todo, settings, pick, workers, provenance, report, commit_every, step)
    _align_all(gallery, unaligned, settings, workers, report, commit_every, lambda n: step(len(work.todo) + n))
    return report


def _embed_all(
    gallery: Gallery,
    todo: list[SourcePhoto],
    settings: Settings,
    pick: str,
    workers: int | None,
    provenance: Provenance,
    report: BuildReport,
    commit_every: int,
    step: Callable[[int], None],
) -> None:
    """Embed ``todo`` on the worker processes, writing every ``commit_every`` photos; ``step(done)``."""
    pending: list[tuple[PhotoRecord, list[FaceRecord]]] = []

    def flush() -> None:
        if pending:
            with gallery.writing() as w:
                for rec, faces in pending:
                    want = provenance.photo(rec.path)
                    w.put_photo(rec, faces, replace(want, sha256=rec.sha256 or want.sha256))
            pending.clear()

    done = 0
    for rec, faces in _run(todo, settings, pick, workers):
        pending.append((rec, faces))
        done += 1
        if rec.status == "ok":
            report.added += 1
            report.multi_face += rec.faces_found > 1
        else:
            code = (rec.reason or rec.status).split(":")[0]
            report.skipped[code] += 1
            report.log.append((rec.path, rec.reason or rec.status))
        if len(pending) >= commit_every:
            flush()
        step(done)
    flush()


def _align_all(
    gallery: Gallery,
    unaligned: list[UnalignedFace],
    settings: Settings,
    workers: int | None,
    report: BuildReport,
    commit_every: int,
    step: Callable[[int], None],
) -> None:
    """Give faces stored without one their aligned face, on the worker processes (nothing is embedded)."""
    pending: list[Alignment] = []

    def flush() -> None:
        if pending:
            with gallery.writing() as w:
                for found in pending:
                    if found.landmarks is not None and found.aligned is not None:
                        w.set_aligned(found.face_id, found.landmarks, found.aligned)
            pending.clear()

    for done, found in enumerate(map_with_engine(_align_work, unaligned, settings, workers), 1):
        if found.aligned is not None:
            pending.append(found)
            report.aligned += 1
        else:
            report.not_aligned[(found.reason or "no_match").split(":")[0]] += 1
        if len(pending) >= commit_every:
            flush()
        step(done)
    flush()


def _leave_out_listed(
    gallery: Gallery, photos: list[SourcePhoto], provenance: Provenance, removals: RemovalList, report: BuildReport
) -> list[SourcePhoto]:
    """The photos of people not on the removal list; listed people already in the gallery are taken out."""
    if not removals:
        return photos
    facts = provenance.facts([p.path for p in photos], {p.person for p in photos})
    known = gallery.person_facts()
    in_gallery = set(gallery.people()) | {p.person for p in gallery.photos().values()} | set(known)

    def listed(person: str) -> bool:
        found = facts.get(person) or known.get(person)
        return removals.removes(person, found.wikidata if found else None)

    out_of_photos = {p.person for p in photos if listed(p.person)}
    out_of_gallery = sorted(p for p in in_gallery if listed(p))
    if out_of_gallery:
        with gallery.writing() as w:
            for person in out_of_gallery:
                w.remove_person(person)
    report.removed_by_list = len(out_of_photos | set(out_of_gallery))
    return [p for p in photos if p.person not in out_of_photos]


@dataclass
class _Work:
    """What a build does with the photos it was given (besides counting the unchanged ones)."""

    todo: list[SourcePhoto] = field(default_factory=list)  # to embed
    refuse: list[SourcePhoto] = field(default_factory=list)  # to record as refused (no reuse licence)
    update: list[tuple[str, PhotoProvenance]] = field(default_factory=list)  # unchanged, provenance changed
    touched: list[SourcePhoto] = field(default_factory=list)  # the same bytes under a new modification time


def _sort(
    gallery: Gallery, photos: list[SourcePhoto], provenance: Provenance, require_reusable: bool, report: BuildReport
) -> _Work:
    known = gallery.photos()
    recorded = gallery.provenance()
    work = _Work()
    for photo in photos:
        old = known.get(photo.path)
        want = provenance.photo(photo.path)
        same = old is not None and (old.size, old.mtime_ns, old.person) == (photo.size, photo.mtime_ns, photo.person)
        if not same and old is not None and _same_bytes(old, photo):  # copied or touched: not embedded again
            same = True
            work.touched.append(photo)
        if require_reusable and not want.reusable:
            if same and old is not None and old.status == "refused":
                report.unchanged += 1
            else:
                work.refuse.append(photo)
            continue
        retry = old is not None and ((old.reason or "").startswith(RETRY_REASONS) or old.status == "refused")
        if same and old is not None and not retry:
            report.unchanged += 1
            want = replace(want, sha256=old.sha256 or want.sha256)
            if recorded.get(photo.path) != want:
                work.update.append((photo.path, want))
        else:
            work.todo.append(photo)
    return work


def _same_bytes(old: PhotoRecord, photo: SourcePhoto) -> bool:
    """The photo's size and person are as recorded and its bytes hash to the recorded SHA-256 (only its
    modification time changed: a copied data folder, a checkout, ``touch``)."""
    if not old.sha256 or (old.size, old.person) != (photo.size, photo.person):
        return False
    try:
        return sha256_file(Path(photo.path)) == old.sha256
    except OSError:
        return False


def _record_without_embedding(
    gallery: Gallery, work: _Work, photos: list[SourcePhoto], provenance: Provenance, report: BuildReport
) -> None:
    """Refuse the photos to refuse, and bring provenance and people's facts up to date (one write)."""
    known = gallery.person_facts()
    facts = provenance.facts([p.path for p in photos], {p.person for p in photos})
    changed = [f for person, f in sorted(facts.items()) if known.get(person) != f]
    if not (work.refuse or work.update or changed or work.touched):
        return
    with gallery.writing() as w:
        for photo in work.touched:
            w.set_mtime(photo.path, photo.mtime_ns)
        for photo in work.refuse:
            record = PhotoRecord(photo.path, photo.person, photo.size, photo.mtime_ns, "refused", NO_REUSE)
            w.put_photo(record, [], provenance.photo(photo.path))
            report.skipped[NO_REUSE] += 1
            report.log.append((photo.path, NO_REUSE))
        for path, want in work.update:
            w.set_provenance(path, want)
        for person_facts in changed:
            w.set_facts(person_facts)
    report.provenance_updated = len(work.update) + len(changed)


def _run(
    todo: list[SourcePhoto], settings: Settings, pick: str, workers: int | None
) -> Iterator[tuple[PhotoRecord, list[FaceRecord]]]:
    return map_with_engine(_work, [(p, pick) for p in todo], settings, workers)


# -- from source folders, as ``lookalike gallery build`` does it ---------------------------------


@dataclass(frozen=True)
class BuildPlan:
    """What :func:`run_build` will do: the photos found, and where it builds."""

    settings: Settings
    photos: list[SourcePhoto]
    problems: list[tuple[str, str]]  # (path, reason) of files found that are not a person's photos
    target: Path  # the gallery
    build_at: Path  # the gallery itself, or a new one beside it that then replaces it
    old_embedding: str | None  # the target's embedding model before the build (None: no gallery yet)

    @property
    def aside(self) -> bool:
        """The target holds another model's vectors: a new gallery is built beside it and swapped in."""
        return self.build_at != self.target

    @property
    def embedding(self) -> str:
        """The embedding model the engine makes, which the built gallery holds."""
        return embedding_id(self.settings)


@dataclass(frozen=True)
class BuildSummary:
    """What :func:`run_build` did; :meth:`as_dict` is ``lookalike gallery build --json``."""

    report: BuildReport  # its ``skipped`` counts the files found that are not a person's photos too
    gallery: Path
    faces: int
    people: int
    seconds: float
    pick: str
    log: Path  # every skipped file and why, one ``path<TAB>reason`` a line
    provenance: ProvenanceSummary  # licences and sources of the gallery's photos
    require_reusable: bool = False  # photos without a reuse licence were refused

    @property
    def not_reusable(self) -> int:
        """The gallery's photos without a reuse licence: what a public deployment must not show."""
        return self.provenance.photos - self.provenance.reusable

    def as_dict(self) -> dict[str, object]:
        return {
            **self.report.as_dict(),
            "reusable": self.provenance.reusable,
            "not_reusable": self.not_reusable,
            "require_reusable": self.require_reusable,
            "gallery": str(self.gallery),
            "faces": self.faces,
            "people": self.people,
            "seconds": round(self.seconds, 1),
            "pick": self.pick,
            "log": str(self.log),
        }


def plan_build(sources: Iterable[Path], settings: Settings, *, replace_other_model: bool = False) -> BuildPlan:
    """Find the photos under ``sources`` (sets or folders of sets) for the gallery ``settings`` name.

    A gallery that holds another embedding model's vectors is refused by :func:`build_gallery`; with
    ``replace_other_model`` a new one is built beside it instead (resumable, like any build)."""
    sources = list(sources)
    photos, problems = scan_sources(expand_sets(sources))
    if not photos:  # never build (or prune an existing gallery to) nothing
        where = ", ".join(str(s) for s in sources)
        raise GalleryError(f"no photos found in {where}; the layout is {LAYOUT}.")
    target = build_at = settings.gallery_path()
    old = embedding_of(target)
    if replace_other_model and old not in (None, embedding_id(settings)):
        build_at = target.with_name(target.name + ".rebuilding")
    return BuildPlan(settings, photos, problems, target, build_at, old)


def run_build(
    plan: BuildPlan,
    *,
    pick: str = "centre",
    workers: int | None = None,
    log_path: Path | None = None,
    progress: Callable[[], AbstractContextManager[Callable[[int, int], None] | None]] = nullcontext,
) -> BuildSummary:
    """Build (or update) the gallery as planned, swap a gallery built aside into place, and write the
    log of skipped files (default: ``GALLERY/build-log.tsv``).  ``progress()`` is entered around the
    embedding and yields its ``update(done, total)``.  A gallery left without a face is an error."""
    start = time.perf_counter()
    with Gallery.create(plan.build_at) as g:
        with progress() as update:
            report = build_gallery(g, plan.photos, plan.settings, pick=pick, workers=workers, progress=update)
        counts = g.counts()
        summary = g.summary()
        skipped = [(path, reason or status) for path, status, reason in g.skipped()]
    if plan.aside and counts["faces"]:
        replace_gallery(plan.build_at, plan.target)
    elapsed = time.perf_counter() - start
    for _path, why in plan.problems:
        report.skipped[why] += 1
    log_file = log_path or plan.target / "build-log.tsv"
    log_file.write_text("".join(f"{p}\t{why}\n" for p, why in sorted(skipped + plan.problems)))
    if counts["faces"] == 0:
        raise GalleryError(
            f"no face could be added: {len(skipped) + len(plan.problems)} files skipped (why: {log_file}); "
            f"the layout is {LAYOUT}."
        )
    return BuildSummary(
        report,
        plan.target,
        counts["faces"],
        counts["people"],
        elapsed,
        pick,
        log_file,
        summary,
        plan.settings.require_reusable,
    )
