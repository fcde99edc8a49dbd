"""The gallery on disk: one SQLite file (the truth) plus a NumPy cache of the vectors (for speed).

Format (version 1), a directory holding:

* ``gallery.sqlite`` — tables
  ``meta(key, value)`` with ``format_version``, ``model``, ``dim``, ``generation``;
  ``photos(id, path, person, size, mtime_ns, status, reason, faces_found)``, one row per source
  photo seen, ``status`` being ``ok``, ``no_face`` or ``error`` (``reason`` says why);
  ``faces(id, photo_id, person, left, top, right, bottom, score, detector, embedding, thumbnail)``,
  ``embedding`` being ``dim`` little-endian float32 (256 for ``fused``, 128 for the others) and
  ``thumbnail`` a small JPEG of the face.
* ``cache/`` — ``vectors.npy`` (float32 N x dim), ``ids.npy`` (face ids) and ``stamp`` (the
  generation they were written at); rebuilt whenever the generation moved on.  Safe to delete.

Every write bumps ``generation``, so a reader notices a stale cache.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lookalike.errors import GalleryError

FORMAT_VERSION = 1
DB_NAME = "gallery.sqlite"

_SCHEMA = """
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


@dataclass(frozen=True)
class PhotoRecord:
    path: str
    person: str
    size: int
    mtime_ns: int
    status: str  # "ok", "no_face" or "error"
    reason: str | None = None
    faces_found: int = 0


@dataclass(frozen=True)
class FaceRecord:
    person: str
    box: tuple[int, int, int, int]  # left, top, right, bottom in the source photo
    score: float
    detector: str
    embedding: np.ndarray
    thumbnail: bytes | None


@dataclass(frozen=True)
class FaceInfo:
    """What a search result shows about a gallery face."""

    id: int
    person: str
    photo: str
    box: tuple[int, int, int, int]


def display_name(person: str) -> str:
    """``Joseph_Biden`` -> ``Joseph Biden`` (folders use LFW's naming)."""
    return person.replace("_", " ")


class Gallery:
    """A gallery directory.  Open with :meth:`open` (must exist) or :meth:`create`."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._vectors: tuple[int, np.ndarray, np.ndarray, list[str]] | None = None

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path) -> Gallery:
        """Open the gallery at ``path``, creating an empty one if there is none."""
        path.mkdir(parents=True, exist_ok=True)
        gallery = cls(path, _connect(path / DB_NAME))
        with gallery._db:
            gallery._db.executescript(_SCHEMA)
            for key, value in (("format_version", str(FORMAT_VERSION)), ("generation", "0")):
                gallery._db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))
        gallery._check()
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
        if version != FORMAT_VERSION:
            raise GalleryError(
                f"The gallery at {self.path} has format version {version}; this lookalike reads version "
                f"{FORMAT_VERSION}. Rebuild it with 'lookalike gallery build'.",
                code="gallery_version",
            )

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
        rows = self._db.execute(
            "SELECT path, person, size, mtime_ns, status, reason, faces_found FROM photos"
        ).fetchall()
        return {r[0]: PhotoRecord(*r) for r in rows}

    def people(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT person FROM faces ORDER BY person")]

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

    def put_photo(self, photo: PhotoRecord, faces: Iterable[FaceRecord] = ()) -> None:
        """Insert or replace a photo and its faces."""
        self.remove_photo(photo.path)
        cursor = self._db.execute(
            "INSERT INTO photos (path, person, size, mtime_ns, status, reason, faces_found) VALUES (?,?,?,?,?,?,?)",
            (photo.path, photo.person, photo.size, photo.mtime_ns, photo.status, photo.reason, photo.faces_found),
        )
        photo_id = cursor.lastrowid
        for face in faces:
            vector = np.asarray(face.embedding, dtype="<f4")
            if vector.shape != (self._dim,):
                raise ValueError(f"embedding of shape {vector.shape}")
            self._db.execute(
                "INSERT INTO faces (photo_id, person, left, top, right, bottom, score, detector, embedding, thumbnail)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (photo_id, face.person, *face.box, face.score, face.detector, vector.tobytes(), face.thumbnail),
            )

    def remove_photo(self, path: str) -> None:
        self._db.execute("DELETE FROM faces WHERE photo_id IN (SELECT id FROM photos WHERE path = ?)", (path,))
        self._db.execute("DELETE FROM photos WHERE path = ?", (path,))

    def remove_person(self, person: str) -> int:
        n = self._db.execute("SELECT COUNT(*) FROM faces WHERE person = ?", (person,)).fetchone()[0]
        self._db.execute("DELETE FROM faces WHERE person = ?", (person,))
        self._db.execute("DELETE FROM photos WHERE person = ?", (person,))
        return int(n)


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
