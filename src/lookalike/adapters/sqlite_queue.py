"""A durable job queue in one SQLite file, with SQS semantics, for running on one machine.

``receive`` hides a message for a visibility timeout and gives it a fresh receipt; ``delete`` with
that receipt removes it; a worker that dies without deleting lets it reappear for another worker
(after the visibility timeout, or at once when a supervisor that saw it die calls ``release_job``).
A message received ``max_receives`` times without being deleted moves to the ``dead_letters`` table.
A ``channel`` names one server's queue inside the file: servers sharing a data directory each get
their own jobs, matched against their own gallery (like one SQS queue per deployment).
Each thread and process gets its own connection, so one object is safe to share between threads,
and many processes can use the same file.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from lookalike.adapters.sqlite_util import SqliteFile
from lookalike.service.ports import Message

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    sent_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    channel TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    receive_count INTEGER NOT NULL,
    dead_at REAL NOT NULL,
    channel TEXT NOT NULL DEFAULT ''
);
"""
_INDEXES = """
DROP INDEX IF EXISTS messages_visible;
CREATE INDEX IF NOT EXISTS messages_channel_visible ON messages(channel, visible_at);
CREATE INDEX IF NOT EXISTS messages_receipt ON messages(receipt);
"""


class SqliteQueue(SqliteFile):
    def __init__(
        self,
        path: Path,
        visibility_timeout: float = 60.0,
        max_receives: int = 3,
        poll_interval: float = 0.02,
        channel: str = "",
    ) -> None:
        super().__init__(path, _SCHEMA)
        with self._db() as db:  # files made before queues had channels
            for table in ("messages", "dead_letters"):
                if "channel" not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN channel TEXT NOT NULL DEFAULT ''")
            db.executescript(_INDEXES)
        self.channel = channel
        self.visibility_timeout = visibility_timeout
        self.max_receives = max_receives
        self.poll_interval = poll_interval

    def send(self, body: dict[str, Any]) -> str:
        message_id = str(uuid.uuid4())
        now = time.time()
        with self._db() as db:
            db.execute(
                "INSERT INTO messages (id, body, sent_at, visible_at, channel) VALUES (?, ?, ?, ?, ?)",
                (message_id, json.dumps(body), now, now, self.channel),
            )
        return message_id

    def receive(self, wait_seconds: float = 1.0) -> Message | None:
        """Long-poll for up to ``wait_seconds`` like SQS's ``WaitTimeSeconds``."""
        deadline = time.monotonic() + wait_seconds
        while True:
            message = self._receive_one()
            if message is not None or time.monotonic() >= deadline:
                return message
            time.sleep(self.poll_interval)

    def _receive_one(self) -> Message | None:
        with self._db() as db:
            # A read first: idle workers polling must not queue up for the write lock.
            probe = "SELECT 1 FROM messages WHERE channel = ? AND visible_at <= ? LIMIT 1"
            if db.execute(probe, (self.channel, time.time())).fetchone() is None:
                return None
            db.execute("BEGIN IMMEDIATE")
            try:
                while True:
                    now = time.time()
                    row = db.execute(
                        "SELECT id, body, receive_count FROM messages WHERE channel = ? AND visible_at <= ? "
                        "ORDER BY sent_at LIMIT 1",
                        (self.channel, now),
                    ).fetchone()
                    if row is None:
                        db.execute("COMMIT")
                        return None
                    message_id, body, count = row
                    if count >= self.max_receives:
                        db.execute(
                            "INSERT OR REPLACE INTO dead_letters (id, body, receive_count, dead_at, channel) "
                            "VALUES (?, ?, ?, ?, ?)",
                            (message_id, body, count, now, self.channel),
                        )
                        db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
                        continue
                    receipt = f"{message_id}:{uuid.uuid4()}"
                    db.execute(
                        "UPDATE messages SET visible_at = ?, receive_count = receive_count + 1, receipt = ? "
                        "WHERE id = ?",
                        (now + self.visibility_timeout, receipt, message_id),
                    )
                    db.execute("COMMIT")
                    return Message(json.loads(body), receipt, count + 1, message_id)
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def delete(self, receipt: str) -> None:
        """Delete by the latest receipt only: a worker whose message was redelivered cannot delete it."""
        with self._db() as db:
            db.execute("DELETE FROM messages WHERE receipt = ?", (receipt,))

    def extend(self, receipt: str, seconds: float) -> None:
        with self._db() as db:
            db.execute("UPDATE messages SET visible_at = ? WHERE receipt = ?", (time.time() + seconds, receipt))

    def release(self, receipt: str) -> None:
        with self._db() as db:
            db.execute("UPDATE messages SET visible_at = ? WHERE receipt = ?", (time.time(), receipt))

    def release_job(self, job_id: str) -> bool:
        """Make the in-flight message of job ``job_id`` visible at once (its worker was seen to die); its
        delivery still counts toward ``max_receives``.  True if there was such a message."""
        now = time.time()
        with self._db() as db:
            cursor = db.execute(
                "UPDATE messages SET visible_at = ? WHERE channel = ? AND visible_at > ? "
                "AND receive_count > 0 AND json_extract(body, '$.job_id') = ?",
                (now, self.channel, now, job_id),
            )
            return cursor.rowcount > 0

    def depth(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM messages WHERE channel = ?", (self.channel,)).fetchone()[0])

    def dead_letter_count(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM dead_letters WHERE channel = ?", (self.channel,)).fetchone()[0])

    def take_dead_letters(self, limit: int = 10) -> list[dict[str, Any]]:
        with self._db() as db:
            if db.execute("SELECT 1 FROM dead_letters WHERE channel = ? LIMIT 1", (self.channel,)).fetchone() is None:
                return []
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute(
                    "SELECT id, body FROM dead_letters WHERE channel = ? ORDER BY dead_at LIMIT ?",
                    (self.channel, limit),
                ).fetchall()
                db.executemany("DELETE FROM dead_letters WHERE id = ?", [(r[0],) for r in rows])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return [json.loads(r[1]) for r in rows]
