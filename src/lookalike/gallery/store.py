"""The gallery on disk: one SQLite file (the truth) plus a NumPy cache of the vectors (for speed).

Format (version 3), a directory holding:

* ``gallery.sqlite`` — tables
  ``meta(key, value)`` with ``format_version``, ``model``, ``dim``, ``generation``;
  ``photos(id, path, person, size, mtime_ns, status, reason, faces_found, source_set, source_url, licence,
  licence_url, author, credit, reusable, sha256)``, one row per source photo seen, ``status`` being ``ok``,
  ``no_face``, ``error`` or ``refused`` (``reason`` says why), the last eight columns its provenance
  (:class:`PhotoProvenance`);
  ``faces(id, photo_id, person, left, top, right, bottom, score, detector, embedding, thumbnail, landmarks,
  aligned)``, ``embedding`` being ``dim`` little-endian float32 (256 for ``fused``, 128 for the others),
  ``thumbnail`` a small JPEG of the face, ``landmarks`` YuNet's 5 points of the face in the source photo's
  pixels (10 little-endian float32: x, y of the eye on the image's left, the other eye, the nose tip, the
  mouth corner on the image's left, the other one) and ``aligned`` the *aligned face*, a JPEG (quality 90)
  of ``engine.align.canonical_face`` (184x184, eyes on the template's line); both NULL for a face whose
  photo could not be aligned (the photo was gone or changed when it was upgraded) and in a gallery of the
  ``dlib`` model (it aligns on dlib's own points, not YuNet's);
  ``people(person, wikidata, name, description, sex, birth_year, death_year, occupations, country,
  wikipedia, sitelinks)``, the facts known of a person (:class:`PersonFacts`; ``occupations`` a JSON list),
  keyed by the gallery's person name (the folder name).
* ``cache/`` — ``vectors.npy`` (float32 N x dim), ``ids.npy`` (face ids) and ``stamp`` (the
  generation they were written at); rebuilt whenever the generation moved on.  Safe to delete.

Every write bumps ``generation``, so a reader notices a stale cache.

Version 1 galleries (no provenance columns, no ``people`` table) are opened as they are, without writing
to them: a read-only reader (``serve``, a worker, a fetched artifact) sees them with no provenance (no
facts, no credits, no photo reusable).  The first write (:meth:`Gallery.create`, which every build uses,
or :meth:`Gallery.writing`) migrates them in place to version 2: the columns and the table are added,
nothing is embedded again, and the next build fills the provenance in.

Version 2 galleries (no ``landmarks``, no ``aligned``) are read the same way: a read-only reader sees no
aligned faces.  The first write adds the two columns (nothing is embedded again) and a build fills them
in from the faces' photos, where they are still on disk with the same bytes (``gallery/build.py``).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lookalike.errors import GalleryError

if TYPE_CHECKING:
    from lookalike.engine.explain import AlignedFace

FORMAT_VERSION = 3
#: The versions this lookalike opens (versions 1 and 2 are migrated on the first write).
READABLE_VERSIONS = (1, 2, 3)
DB_NAME = "gallery.sqlite"

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS photos (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    person TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    faces_found INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS faces (
    id INTEGER PRIMARY KEY,
    photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    person TEXT NOT NULL,
    left INTEGER NOT NULL, top INTEGER NOT NULL, right INTEGER NOT NULL, bottom INTEGER NOT NULL,
    score REAL NOT NULL,
    detector TEXT NOT NULL,
    embedding BLOB NOT NULL,
    thumbnail BLOB
);
CREATE INDEX IF NOT EXISTS faces_person ON faces(person);
CREATE INDEX IF NOT EXISTS photos_person ON photos(person);
"""

#: What version 2 adds to version 1: the photo's provenance, and the people's facts.
_PHOTO_PROVENANCE_COLUMNS = (
    ("source_set", "TEXT"),
    ("source_url", "TEXT"),
    ("licence", "TEXT"),
    ("licence_url", "TEXT"),
    ("author", "TEXT"),
    ("credit", "TEXT"),
    ("reusable", "INTEGER NOT NULL DEFAULT 0"),
    ("sha256", "TEXT"),
)
_PEOPLE_SCHEMA = """
CREATE TABLE IF NOT EXISTS people (
    person TEXT PRIMARY KEY,
    wikidata TEXT,
    name TEXT NOT NULL,
    description TEXT,
    sex TEXT,
    birth_year INTEGER,
    death_year INTEGER,
    occupations TEXT NOT NULL DEFAULT '[]',
    country TEXT,
    wikipedia TEXT,
    sitelinks INTEGER
);
CREATE INDEX IF NOT EXISTS people_wikidata ON people(wikidata);
"""
#: What version 3 adds to version 2: each face's 5 points in its photo, and its aligned face (a JPEG).
_FACE_ALIGNED_COLUMNS = (("landmarks", "BLOB"), ("aligned", "BLOB"))
#: The floats of a face's ``landmarks`` (5 points, x and y).
LANDMARK_FLOATS = 10
_PROVENANCE_NAMES = tuple(name for name, _ in _PHOTO_PROVENANCE_COLUMNS)
_PEOPLE_NAMES = (
    "person",
    "wikidata",
    "name",
    "description",
    "sex",
    "birth_year",
    "death_year",
    "occupations",
    "country",
    "wikipedia",
    "sitelinks",
)


@dataclass(frozen=True)
class PhotoRecord:
    path: str
    person: str
    size: int
    mtime_ns: int
    status: str  # "ok", "no_face" or "error"
    reason: str | None = None
    faces_found: int = 0
    sha256: str | None = None  # of the file's bytes, when read


@dataclass(frozen=True)
class PhotoProvenance:
    """Where a photo came from and on what terms (all text is plain text; None where unknown)."""

    source_set: str  # the photo set it was built from ("wikidata", "lfw", "celeb_mini", ...)
    licence: str  # e.g. "CC BY-SA 4.0", "LFW: research use", "licence unknown"
    reusable: bool = False  # the licence allows reuse with credit (a public deployment shows only these)
    source_url: str | None = None  # the photo's page (a Commons file page) or the set's
    licence_url: str | None = None
    author: str | None = None
    credit: str | None = None  # the credit line to show
    sha256: str | None = None  # of the file's bytes

    def row(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _PROVENANCE_NAMES)

    @classmethod
    def from_row(cls, row: Sequence[object]) -> PhotoProvenance | None:
        """From the provenance columns in table order; None for a photo that has none recorded."""
        values = dict(zip(_PROVENANCE_NAMES, row, strict=True))
        if values["licence"] is None:
            return None
        values["reusable"] = bool(values["reusable"])
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PersonFacts:
    """What is known of a person (from Wikidata, for a downloaded set); None where unknown."""

    person: str  # the gallery's person name (the folder name)
    name: str  # the display name
    wikidata: str | None = None  # the Q-id
    description: str | None = None
    sex: str | None = None  # "female", "male" or "other"
    birth_year: int | None = None
    death_year: int | None = None
    occupations: tuple[str, ...] = field(default=())
    country: str | None = None
    wikipedia: str | None = None  # the English Wikipedia article's URL
    sitelinks: int | None = None  # Wikipedia sitelinks, the measure of fame

    def row(self) -> tuple[object, ...]:
        values = {name: getattr(self, name) for name in _PEOPLE_NAMES}
        values["occupations"] = json.dumps(list(self.occupations), ensure_ascii=False)
        return tuple(values.values())

    @classmethod
    def from_row(cls, row: Sequence[object]) -> PersonFacts:
        values = dict(zip(_PEOPLE_NAMES, row, strict=True))
        values["occupations"] = tuple(json.loads(str(values["occupations"] or "[]")))
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class FaceRecord:
    person: str
    box: tuple[int, int, int, int]  # left, top, right, bottom in the source photo
    score: float
    detector: str
    embedding: np.ndarray
    thumbnail: bytes | None
    landmarks: np.ndarray | None = None  # YuNet's 5 points (5x2) in the source photo; None: not aligned
    aligned: bytes | None = None  # the aligned face, a JPEG (``engine.align.canonical_face``)


@dataclass(frozen=True)
class UnalignedFace:
    """A face stored without an aligned face (made before version 3), and what its photo was."""

    id: int
    path: str
    box: tuple[int, int, int, int]  # left, top, right, bottom in the photo
    size: int
    mtime_ns: int
    sha256: str | None


@dataclass(frozen=True)
class FaceInfo:
    """What a search result shows about a gallery face."""

    id: int
    person: str
    photo: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class FaceDetails:
    """A gallery face with its person's facts and its photo's credit, for a result card."""

    face: FaceInfo
    facts: PersonFacts | None  # None: nothing known of the person beyond the name
    provenance: PhotoProvenance | None  # None: a version-1 gallery's photo, not rebuilt yet
    aligned: bool = False  # the face has an aligned face (:meth:`Gallery.aligned`)


@dataclass(frozen=True)
class ProvenanceSummary:
    """Licences and sources of a gallery's photos that gave a face (``gallery info``)."""

    photos: int
    per_set: dict[str, int]
    per_licence: dict[str, int]
    reusable: int
    with_author: int
    with_credit: int
    people_with_facts: int


#: What a photo without recorded provenance (a version-1 gallery's) counts as in the summary.
NO_PROVENANCE = "(none recorded)"


def display_name(person: str) -> str:
    """``Joseph_Biden`` -> ``Joseph Biden`` (folders use LFW's naming)."""
    return person.replace("_", " ")


class Gallery:
    """A gallery directory.  Open with :meth:`open` (must exist) or :meth:`create`."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._vectors: tuple[int, np.ndarray, np.ndarray, list[str]] | None = None
        self.version = FORMAT_VERSION  # set by _check from the file

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path) -> Gallery:
        """Open the gallery at ``path``, creating an empty one if there is none."""
        path.mkdir(parents=True, exist_ok=True)
        gallery = cls(path, _connect(path / DB_NAME))
        with gallery._db:
            fresh = gallery._db.execute("SELECT name FROM sqlite_master WHERE name = 'meta'").fetchone() is None
            gallery._db.executescript(_SCHEMA_V1)
            if fresh:
                gallery._db.executescript(_PEOPLE_SCHEMA)
                for name, kind in _PHOTO_PROVENANCE_COLUMNS:
                    gallery._db.execute(f"ALTER TABLE photos ADD COLUMN {name} {kind}")
                for name, kind in _FACE_ALIGNED_COLUMNS:
                    gallery._db.execute(f"ALTER TABLE faces ADD COLUMN {name} {kind}")
            for key, value in (("format_version", str(FORMAT_VERSION)), ("generation", "0")):
                gallery._db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))
        gallery._check()
        gallery._upgrade()
        return gallery

    @classmethod
    def open(cls, path: Path) -> Gallery:
        db_file = Path(path) / DB_NAME
        if not db_file.is_file():
            raise GalleryError(
                f"No gallery at {path}. Build one with 'lookalike gallery build PHOTO_DIR --out {path}'.",
                code="no_gallery",
            )
        gallery = cls(Path(path), _connect(db_file))
        gallery._check()
        return gallery

    def _check(self) -> None:
        meta = self.meta()
        version = int(meta.get("format_version", "0"))
        if version not in READABLE_VERSIONS:
            raise GalleryError(
                f"The gallery at {self.path} has format version {version}; this lookalike reads versions "
                f"{', '.join(map(str, READABLE_VERSIONS))}. Rebuild it with 'lookalike gallery build'.",
                code="gallery_version",
            )
        self.version = version

    @property
    def has_provenance(self) -> bool:
        """Version 2 (or migrated): photos carry provenance and people their facts."""
        return self.version >= 2

    @property
    def has_aligned(self) -> bool:
        """Version 3 (or migrated): faces may carry their landmarks and aligned face."""
        return self.version >= 3

    def _upgrade(self) -> None:
        """Migrate a version-1 or -2 gallery in place: version 2's provenance columns and people table,
        version 3's landmarks and aligned faces (empty: a build fills them in)."""
        if self.version >= FORMAT_VERSION:
            return
        with self._db:
            for table, added in (("photos", _PHOTO_PROVENANCE_COLUMNS), ("faces", _FACE_ALIGNED_COLUMNS)):
                columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                for name, kind in added:
                    if name not in columns:
                        self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            self._db.executescript(_PEOPLE_SCHEMA)
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (str(FORMAT_VERSION),))
        self.version = FORMAT_VERSION

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    @property
    def embedding(self) -> str | None:
        """The embedding space of the vectors (see ``engine.embedding_id``); None before the first build."""
        return self.meta().get("embedding")

    def check_embedding(
        self, expected: str, *, claim: bool = False, dim: int | None = None, model: str | None = None
    ) -> None:
        """Refuse to mix embedding spaces; with ``claim``, an empty gallery takes ``expected`` (of ``dim``,
        made by ``model``)."""
        current = self.embedding
        if current is None and claim:
            with self._db:
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('embedding', ?)", (expected,))
                if dim is not None:
                    self._db.execute("INSERT OR REPLACE INTO meta VALUES ('dim', ?)", (str(dim),))
                if model is not None:
                    self._db.execute("INSERT OR REPLACE INTO meta VALUES ('model', ?)", (model,))
            return
        if current is not None and current != expected:
            raise GalleryError(
                f"The gallery at {self.path} holds embeddings of kind {current!r}, but the engine makes {expected!r}: "
                "LOOKALIKE_EMBEDDING or LOOKALIKE_EMBED_FLIP differs from the build's, or an older version built "
                "it. Rebuild it ('lookalike gallery build SOURCES --out DIR --replace-other-model', or into a new "
                "directory), or use the settings it was built with.",
                code="gallery_version",
            )

    @property
    def dim(self) -> int:
        """Floats per embedding (galleries before engine v2 recorded 128 at creation)."""
        return int(self.meta().get("dim", "128"))

    @property
    def generation(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0])

    def photos(self) -> dict[str, PhotoRecord]:
        sha = "sha256" if self.has_provenance else "NULL"
        rows = self._db.execute(
            f"SELECT path, person, size, mtime_ns, status, reason, faces_found, {sha} FROM photos"
        ).fetchall()
        return {r[0]: PhotoRecord(*r) for r in rows}

    def provenance(self) -> dict[str, PhotoProvenance | None]:
        """Every photo's provenance by path (None where none is recorded, as in a version-1 gallery)."""
        if not self.has_provenance:
            return {path: None for (path,) in self._db.execute("SELECT path FROM photos")}
        rows = self._db.execute(f"SELECT path, {', '.join(_PROVENANCE_NAMES)} FROM photos").fetchall()
        return {r[0]: PhotoProvenance.from_row(r[1:]) for r in rows}

    def person_facts(self) -> dict[str, PersonFacts]:
        """The facts of every person who has some, keyed by the gallery's person name."""
        if not self.has_provenance:
            return {}
        rows = self._db.execute(f"SELECT {', '.join(_PEOPLE_NAMES)} FROM people ORDER BY person").fetchall()
        return {r[0]: PersonFacts.from_row(r) for r in rows}

    def reusable_mask(self) -> np.ndarray:
        """bool[N] aligned with :meth:`vectors`: the faces whose photo has a reuse licence (a public
        deployment searches only these).  All False for a version-1 gallery."""
        _, ids, _ = self.vectors()
        if not self.has_provenance:
            return np.zeros(len(ids), dtype=bool)
        rows = self._db.execute("SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.reusable = 1")
        return np.isin(ids, np.fromiter((r[0] for r in rows), dtype=np.int64))

    def reusable_faces(self) -> set[int]:
        """The ids of the faces whose photo has a reuse licence."""
        _, ids, _ = self.vectors()
        return {int(i) for i in ids[self.reusable_mask()]}

    def face_details(self, face_ids: Sequence[int]) -> dict[int, FaceDetails]:
        """Each face's person, the person's facts and the photo's credit, in one query (per 500 faces);
        faces not in the gallery are left out."""
        wanted = list(dict.fromkeys(int(i) for i in face_ids))
        out: dict[int, FaceDetails] = {}
        prov = ", ".join(f"p.{n}" for n in _PROVENANCE_NAMES) if self.has_provenance else None
        facts = ", ".join(f"pe.{n}" for n in _PEOPLE_NAMES) if self.has_provenance else None
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            aligned = "f.aligned IS NOT NULL" if self.has_aligned else "0"
            select = f"SELECT f.id, f.person, p.path, f.left, f.top, f.right, f.bottom, {aligned}"
            join = "FROM faces f JOIN photos p ON p.id = f.photo_id"
            if prov and facts:
                select += f", {prov}, {facts}"
                join += " LEFT JOIN people pe ON pe.person = f.person"
            for row in self._db.execute(f"{select} {join} WHERE f.id IN ({marks})", chunk):
                out[row[0]] = _details(row)
        return out

    def summary(self) -> ProvenanceSummary:
        """Licences and sources of the photos that gave a face (what searches can show)."""
        if not self.has_provenance:
            n = self._db.execute("SELECT COUNT(*) FROM photos WHERE status = 'ok'").fetchone()[0]
            by = {NO_PROVENANCE: n} if n else {}
            return ProvenanceSummary(n, dict(by), dict(by), 0, 0, 0, 0)
        ok = "FROM photos WHERE status = 'ok'"
        none = NO_PROVENANCE

        def grouped(column: str) -> dict[str, int]:
            sql = f"SELECT COALESCE({column}, ?), COUNT(*) {ok} GROUP BY 1 ORDER BY 2 DESC, 1"
            return dict(self._db.execute(sql, (none,)).fetchall())

        photos, reusable, author, credit = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(reusable), 0), COUNT(NULLIF(author, '')), COUNT(NULLIF(credit, '')) " + ok
        ).fetchone()
        people = self._db.execute(
            "SELECT COUNT(*) FROM people WHERE person IN (SELECT DISTINCT person FROM faces)"
        ).fetchone()[0]
        return ProvenanceSummary(photos, grouped("source_set"), grouped("licence"), reusable, author, credit, people)

    def people(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT person FROM faces ORDER BY person")]

    def display_names(self, persons: Iterable[str]) -> dict[str, str]:
        """The name to show for each person: their recorded name (a downloaded set's folder is ``Name_Q42``),
        else the folder name with spaces."""
        wanted = list(dict.fromkeys(persons))
        names = {p: display_name(p) for p in wanted}
        if self.has_provenance and wanted:
            marks = ", ".join("?" * len(wanted))
            names |= dict(self._db.execute(f"SELECT person, name FROM people WHERE person IN ({marks})", wanted))
        return names

    def has_person(self, person: str) -> bool:
        return self._db.execute("SELECT 1 FROM faces WHERE person = ? LIMIT 1", (person,)).fetchone() is not None

    def counts(self) -> dict[str, int]:
        faces, people = self._db.execute("SELECT COUNT(*), COUNT(DISTINCT person) FROM faces").fetchone()
        out = {"faces": faces, "people": people}
        for status, n in self._db.execute("SELECT status, COUNT(*) FROM photos GROUP BY status"):
            out[f"photos_{status}"] = n
        return out

    def skipped(self) -> list[tuple[str, str, str]]:
        """(path, status, reason) of every photo that gave no gallery face."""
        return self._db.execute(
            "SELECT path, status, COALESCE(reason, '') FROM photos WHERE status != 'ok' ORDER BY path"
        ).fetchall()

    def face_info(self, face_id: int) -> FaceInfo:
        row = self._db.execute(
            "SELECT f.id, f.person, p.path, f.left, f.top, f.right, f.bottom "
            "FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.id = ?",
            (int(face_id),),
        ).fetchone()
        if row is None:
            raise GalleryError(f"No face {face_id} in the gallery.", code="not_found")
        return FaceInfo(row[0], row[1], row[2], tuple(row[3:7]))

    def thumbnail(self, face_id: int) -> bytes | None:
        row = self._db.execute("SELECT thumbnail FROM faces WHERE id = ?", (int(face_id),)).fetchone()
        return None if row is None else row[0]

    def aligned(self, face_id: int) -> bytes | None:
        """The aligned face's JPEG (184x184, ``engine.align.CANONICAL_CHIP``); None for a face without
        one (before version 3, or its photo could not be aligned) or no such face."""
        if not self.has_aligned:
            return None
        row = self._db.execute("SELECT aligned FROM faces WHERE id = ?", (int(face_id),)).fetchone()
        return None if row is None else row[0]

    def landmarks(self, face_id: int) -> np.ndarray | None:
        """The face's 5 points (5x2) in its photo's pixels; None where none are stored."""
        if not self.has_aligned:
            return None
        row = self._db.execute("SELECT landmarks FROM faces WHERE id = ?", (int(face_id),)).fetchone()
        return None if row is None else landmarks_of(row[0])

    def aligned_faces(self, face_ids: Sequence[int]) -> dict[int, AlignedFace]:
        """Each face's aligned face (``engine.explain.AlignedFace``: the 184x184x3 uint8 RGB image, decoded,
        and its 5 points in it, ``canonical_matrix`` applied to the stored landmarks), per 500 faces; faces
        without one, or not in the gallery, are left out."""
        if not self.has_aligned:
            return {}
        wanted = list(dict.fromkeys(int(i) for i in face_ids))
        out: dict[int, AlignedFace] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT id, aligned, landmarks FROM faces WHERE id IN ({marks}) AND aligned IS NOT NULL"
            for face_id, jpeg, blob in self._db.execute(sql, chunk):
                points = landmarks_of(blob)
                if points is not None:
                    out[int(face_id)] = _aligned_face(jpeg, points)
        return out

    def unaligned_faces(self) -> list[UnalignedFace]:
        """The faces without an aligned face (all of them before version 3), with their photos' records."""
        where = "WHERE f.aligned IS NULL" if self.has_aligned else ""
        sha = "p.sha256" if self.has_provenance else "NULL"
        rows = self._db.execute(
            "SELECT f.id, p.path, f.left, f.top, f.right, f.bottom, p.size, p.mtime_ns, "
            f"{sha} FROM faces f JOIN photos p ON p.id = f.photo_id {where} ORDER BY f.id"
        ).fetchall()
        return [UnalignedFace(r[0], r[1], tuple(r[2:6]), r[6], r[7], r[8]) for r in rows]

    def vectors(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(vectors float32[N,128], face ids int64[N], person per row), from the cache when fresh."""
        generation = self.generation
        if self._vectors is not None and self._vectors[0] == generation:
            return self._vectors[1], self._vectors[2], self._vectors[3]
        cache = self.path / "cache"
        vectors = ids = None
        try:
            if int((cache / "stamp").read_text()) == generation:
                vectors = np.load(cache / "vectors.npy", mmap_mode=None)
                ids = np.load(cache / "ids.npy")
        except (OSError, ValueError):
            vectors = ids = None
        if vectors is None or ids is None or len(vectors) != len(ids):
            vectors, ids = self._read_vectors()
            self._write_cache(cache, generation, vectors, ids)
        by_id = dict(self._db.execute("SELECT id, person FROM faces").fetchall())
        persons = [by_id[int(i)] for i in ids]
        self._vectors = (generation, vectors, ids, persons)
        return vectors, ids, persons

    def _read_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        rows = self._db.execute("SELECT id, embedding FROM faces ORDER BY id").fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        blob = b"".join(r[1] for r in rows)
        vectors = np.frombuffer(blob, dtype="<f4").reshape(len(rows), self.dim).astype(np.float32)
        return vectors, ids

    @staticmethod
    def _write_cache(cache: Path, generation: int, vectors: np.ndarray, ids: np.ndarray) -> None:
        try:
            cache.mkdir(exist_ok=True)
            np.save(cache / "vectors.npy", vectors)
            np.save(cache / "ids.npy", ids)
            (cache / "stamp").write_text(str(generation))
        except OSError:
            pass  # a read-only gallery still works, just without the cache

    def cache_dir(self) -> Path:
        return self.path / "cache"

    # -- writing ----------------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[GalleryWriter]:
        """A transaction; the generation moves on when it commits."""
        self._upgrade()
        with self._db:
            yield GalleryWriter(self._db, self.dim)
            self._db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        self._vectors = None

    def remove_person(self, person: str) -> int:
        with self.writing() as w:
            return w.remove_person(person)


class GalleryWriter:
    def __init__(self, db: sqlite3.Connection, dim: int) -> None:
        self._db = db
        self._dim = dim

    def put_photo(
        self, photo: PhotoRecord, faces: Iterable[FaceRecord] = (), provenance: PhotoProvenance | None = None
    ) -> None:
        """Insert or replace a photo, its faces and its provenance."""
        self.remove_photo(photo.path)
        cursor = self._db.execute(
            "INSERT INTO photos (path, person, size, mtime_ns, status, reason, faces_found, sha256)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (
                photo.path,
                photo.person,
                photo.size,
                photo.mtime_ns,
                photo.status,
                photo.reason,
                photo.faces_found,
                photo.sha256,
            ),
        )
        if provenance is not None:
            self.set_provenance(photo.path, provenance)
        photo_id = cursor.lastrowid
        for face in faces:
            vector = np.asarray(face.embedding, dtype="<f4")
            if vector.shape != (self._dim,):
                raise ValueError(f"embedding of shape {vector.shape}")
            self._db.execute(
                "INSERT INTO faces (photo_id, person, left, top, right, bottom, score, detector, embedding, thumbnail,"
                " landmarks, aligned) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    photo_id,
                    face.person,
                    *face.box,
                    face.score,
                    face.detector,
                    vector.tobytes(),
                    face.thumbnail,
                    landmarks_blob(face.landmarks),
                    face.aligned,
                ),
            )

    def set_aligned(self, face_id: int, landmarks: np.ndarray, aligned: bytes) -> None:
        """Record a face's landmarks and aligned face (nothing is embedded again)."""
        self._db.execute(
            "UPDATE faces SET landmarks = ?, aligned = ? WHERE id = ?", (landmarks_blob(landmarks), aligned, face_id)
        )

    def set_provenance(self, path: str, provenance: PhotoProvenance) -> None:
        """Record a photo's provenance (nothing is embedded again)."""
        assignments = ", ".join(f"{name} = ?" for name in _PROVENANCE_NAMES)
        self._db.execute(f"UPDATE photos SET {assignments} WHERE path = ?", (*provenance.row(), path))

    def set_facts(self, facts: PersonFacts) -> None:
        """Record (or replace) a person's facts."""
        marks = ",".join("?" * len(_PEOPLE_NAMES))
        self._db.execute(f"INSERT OR REPLACE INTO people ({', '.join(_PEOPLE_NAMES)}) VALUES ({marks})", facts.row())

    def set_mtime(self, path: str, mtime_ns: int) -> None:
        """Record a photo's new modification time (its bytes are the same: copied, or touched)."""
        self._db.execute("UPDATE photos SET mtime_ns = ? WHERE path = ?", (mtime_ns, path))

    def remove_photo(self, path: str) -> None:
        self._db.execute("DELETE FROM faces WHERE photo_id IN (SELECT id FROM photos WHERE path = ?)", (path,))
        self._db.execute("DELETE FROM photos WHERE path = ?", (path,))

    def remove_person(self, person: str) -> int:
        n = self._db.execute("SELECT COUNT(*) FROM faces WHERE person = ?", (person,)).fetchone()[0]
        self._db.execute("DELETE FROM faces WHERE person = ?", (person,))
        self._db.execute("DELETE FROM photos WHERE person = ?", (person,))
        self._db.execute("DELETE FROM people WHERE person = ?", (person,))
        return int(n)


def _details(row: Sequence[object]) -> FaceDetails:
    """A :class:`FaceDetails` from a row of :meth:`Gallery.face_details`'s query."""
    face = FaceInfo(int(row[0]), str(row[1]), str(row[2]), tuple(row[3:7]))  # type: ignore[arg-type]
    aligned = bool(row[7])
    if len(row) == 8:
        return FaceDetails(face, None, None, aligned)
    n = len(_PROVENANCE_NAMES)
    provenance = PhotoProvenance.from_row(row[8 : 8 + n])
    facts = PersonFacts.from_row(row[8 + n :]) if row[8 + n] is not None else None
    return FaceDetails(face, facts, provenance, aligned)


def landmarks_blob(landmarks: np.ndarray | None) -> bytes | None:
    """A face's 5 points as the ``landmarks`` column stores them (10 little-endian float32)."""
    if landmarks is None:
        return None
    points = np.asarray(landmarks, dtype="<f4").reshape(-1)
    if points.shape != (LANDMARK_FLOATS,):
        raise ValueError(f"landmarks of shape {np.shape(landmarks)}: 5 points (x, y) expected")
    return points.tobytes()


def landmarks_of(blob: bytes | None) -> np.ndarray | None:
    """The 5 points (5x2 float64) of a ``landmarks`` column; None when there are none."""
    if not blob:
        return None
    return np.frombuffer(blob, dtype="<f4").reshape(5, 2).astype(np.float64)


def _aligned_face(jpeg: bytes, landmarks: np.ndarray) -> AlignedFace:
    """An :class:`AlignedFace` from its JPEG and the face's landmarks in its photo."""
    import io

    from PIL import Image

    from lookalike.engine.align import canonical_matrix
    from lookalike.engine.explain import AlignedFace

    with Image.open(io.BytesIO(jpeg)) as decoded:
        image = np.asarray(decoded.convert("RGB"))
    matrix = canonical_matrix(landmarks)
    return AlignedFace(image, landmarks @ matrix[:, :2].T + matrix[:, 2])


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


def embedding_of(path: Path) -> str | None:
    """The embedding space of the gallery at ``path``; None if there is none (or it is still empty)."""
    if not (Path(path) / DB_NAME).is_file():
        return None
    with Gallery.open(Path(path)) as gallery:
        return gallery.embedding


def replace_gallery(new: Path, target: Path) -> None:
    """Put the gallery built at ``new`` in ``target``'s place (two renames; the old one is then deleted)."""
    old = target.with_name(target.name + ".replaced")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)
