"""A rate limit that holds across processes: token buckets per client in one SQLite file.

Every process and server using the same data home shares the file, so a client gets one budget
however many uvicorn workers or ``lookalike serve`` instances answer it.  Each check is one short
write transaction (``BEGIN IMMEDIATE``: read, refill, take a token, write back).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from lookalike.adapters.sqlite_util import SqliteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    client TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS buckets_updated ON buckets(updated);
"""


class SqliteRateLimiter(SqliteFile):
    """``per_minute`` requests per client, refilled continuously, up to a burst of ``per_minute``."""

    def __init__(self, path: Path, per_minute: int) -> None:
        super().__init__(path, _SCHEMA)
        self.rate = per_minute / 60.0
        self.capacity = float(max(per_minute, 1))

    def allow(self, client: str, now: float | None = None) -> tuple[bool, float]:
        """(allowed, seconds until the next token)."""
        now = time.time() if now is None else now
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT tokens, updated FROM buckets WHERE client = ?", (client,)).fetchone()
                tokens = self.capacity
                if row is not None:
                    tokens = min(self.capacity, row[0] + max(0.0, now - row[1]) * self.rate)
                allowed = tokens >= 1
                if allowed:
                    tokens -= 1
                db.execute(
                    "INSERT INTO buckets (client, tokens, updated) VALUES (?, ?, ?) "
                    "ON CONFLICT(client) DO UPDATE SET tokens = excluded.tokens, updated = excluded.updated",
                    (client, tokens, now),
                )
                if random.random() < 0.01:  # forget clients whose bucket is full again: the file stays small
                    db.execute("DELETE FROM buckets WHERE updated < ?", (now - self.refill_seconds(),))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if allowed:
            return True, 0.0
        return False, (1 - tokens) / self.rate if self.rate else 60.0

    def refill_seconds(self) -> float:
        return self.capacity / self.rate if self.rate else 3600.0
