"""One SQLite connection per thread and process, kept open; the files are private to this user (0600).

Opening and closing a connection per call makes SQLite checkpoint the WAL (with an fsync) whenever
the last connection closes: about 20 ms per write instead of well under one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lookalike.adapters.private_files import private_dir, private_file, tighten


class Connections:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():  # never reuse a connection across fork
            private_file(self.path)  # SQLite gives the -wal and -shm files the database file's mode
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=True)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            self._local.db, self._local.pid = db, os.getpid()
        return db


class SqliteFile:
    """Base of the embedded adapters: one SQLite file with its schema, one kept-open connection per thread."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = Path(path)
        private_dir(self.path.parent)
        private_file(self.path)
        for suffix in ("-wal", "-shm"):  # left readable by an older version
            tighten(self.path.with_name(self.path.name + suffix))
        self._connections = Connections(self.path)
        with self._db() as db:
            db.executescript(schema)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        yield self._connections.get()
