"""Which upload keys have been used, and how many bytes each client has waiting, in one SQLite file.

A presigned upload works once: its key is recorded when the photo arrives and stays recorded until
the presign has expired (after that the signature is refused anyway), even after the worker has
deleted the photo.  The bytes of photos still on disk count against a quota per client and in all,
and photos whose presign has expired without a job taking them are found here to be swept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from lookalike.adapters.sqlite_util import SqliteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    key TEXT PRIMARY KEY,
    client TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    uploaded_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    stored INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS uploads_client ON uploads(client, stored);
CREATE INDEX IF NOT EXISTS uploads_expires ON uploads(expires_at);
"""


@dataclass(frozen=True)
class Quota:
    """Bytes that may wait on disk for a match: per client address, and from everyone (0: no limit)."""

    per_client: int = 0
    total: int = 0


class KeyUsed(Exception):
    """This key has had its upload already."""


class OverQuota(Exception):
    """Accepting the upload would pass a quota; ``scope`` is ``client`` or ``total``."""

    def __init__(self, scope: str, retry_after: float) -> None:
        super().__init__(scope)
        self.scope, self.retry_after = scope, retry_after


class UploadLedger(SqliteFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA)

    def claim(self, key: str, client: str, size: int, expires_at: float, quota: Quota = Quota()) -> None:
        """Record the upload of ``key`` (atomically with the quota check); :class:`KeyUsed` or :class:`OverQuota`."""
        now = time.time()
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM uploads WHERE expires_at < ? AND stored = 0", (now,))
                if db.execute("SELECT 1 FROM uploads WHERE key = ?", (key,)).fetchone():
                    raise KeyUsed(key)
                for scope, limit, where, args in (
                    ("client", quota.per_client, "client = ? AND", (client,)),
                    ("total", quota.total, "", ()),
                ):
                    waiting, soonest = db.execute(
                        f"SELECT COALESCE(SUM(bytes), 0), MIN(expires_at) FROM uploads WHERE {where} stored = 1", args
                    ).fetchone()
                    if limit and waiting + size > limit:
                        raise OverQuota(scope, max(1.0, (soonest or now + 60) - now))
                db.execute(
                    "INSERT INTO uploads (key, client, bytes, uploaded_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                    (key, client, size, now, expires_at),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def unclaim(self, key: str) -> None:
        """Forget an upload whose file could not be written (the key may be used again)."""
        with self._db() as db:
            db.execute("DELETE FROM uploads WHERE key = ?", (key,))

    def release(self, key: str) -> None:
        """The photo was deleted: its bytes no longer wait; the key stays used until the presign expires."""
        with self._db() as db:
            db.execute("UPDATE uploads SET stored = 0 WHERE key = ?", (key,))

    def expired_waiting(self, now: float | None = None) -> list[str]:
        """Keys of photos still on disk whose presign has expired (candidates for the sweep)."""
        now = time.time() if now is None else now
        with self._db() as db:
            rows = db.execute("SELECT key FROM uploads WHERE stored = 1 AND expires_at < ?", (now,)).fetchall()
        return [str(row[0]) for row in rows]

    def waiting_bytes(self, client: str | None = None) -> int:
        with self._db() as db:
            if client is None:
                row = db.execute("SELECT COALESCE(SUM(bytes), 0) FROM uploads WHERE stored = 1").fetchone()
            else:
                row = db.execute(
                    "SELECT COALESCE(SUM(bytes), 0) FROM uploads WHERE stored = 1 AND client = ?", (client,)
                ).fetchone()
        return int(row[0])
