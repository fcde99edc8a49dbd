"""Job state and results in SQLite, expiring after a TTL (a DynamoDB table with TTL would do the same).

A job of several photos has more than one upload key: ``job_keys`` names the job of every key (the first
and the extra ones, each key at most once), so a key belongs to one job and ``by_key`` finds the job by
any of its keys.  ``jobs.extra_keys`` keeps the extra keys' order (JSON text; empty for one photo).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lookalike.adapters.sqlite_util import SqliteFile
from lookalike.service.ports import DuplicateJob, Job

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    connection_id TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker INTEGER,
    result TEXT,
    endpoint TEXT NOT NULL DEFAULT '',
    token_hash TEXT NOT NULL DEFAULT '',
    extra_keys TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_expires ON jobs(expires_at);
CREATE TABLE IF NOT EXISTS job_keys (
    key TEXT PRIMARY KEY,
    job_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_keys_job ON job_keys(job_id);
"""
_COLUMNS = (
    "id, key, connection_id, state, created_at, updated_at, attempts, worker, result, endpoint, token_hash, extra_keys"
)


class SqliteJobStore(SqliteFile):
    def __init__(self, path: Path, ttl_seconds: float = 3600) -> None:
        super().__init__(path, _SCHEMA)
        self.ttl = ttl_seconds
        with self._db() as db:  # files made before jobs said where their connection lives, or had tokens
            columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
            for column in ("endpoint", "token_hash", "extra_keys"):
                if column not in columns:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
            db.execute("INSERT OR IGNORE INTO job_keys (key, job_id) SELECT key, id FROM jobs")  # older files

    @staticmethod
    def _job(row: tuple[Any, ...] | None) -> Job | None:
        if row is None:
            return None
        *head, result, endpoint, token_hash, extra_keys = row
        return Job(
            *head,
            result=json.loads(result) if result else None,
            endpoint=endpoint,
            token_hash=token_hash,
            extra_keys=json.loads(extra_keys) if extra_keys else [],
        )

    def create(
        self,
        job_id: str,
        key: str,
        connection_id: str,
        endpoint: str = "",
        token_hash: str = "",
        extra_keys: Sequence[str] = (),
    ) -> Job:
        now = time.time()
        extra = list(extra_keys)
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")  # the job and its keys, all or nothing
            try:
                db.execute("DELETE FROM job_keys WHERE job_id IN (SELECT id FROM jobs WHERE expires_at < ?)", (now,))
                db.execute("DELETE FROM jobs WHERE expires_at < ?", (now,))
                db.execute(
                    "INSERT INTO jobs (id, key, connection_id, state, created_at, updated_at, expires_at, endpoint, "
                    "token_hash, extra_keys) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        key,
                        connection_id,
                        now,
                        now,
                        now + self.ttl,
                        endpoint,
                        token_hash,
                        json.dumps(extra) if extra else "",
                    ),
                )
                db.executemany("INSERT INTO job_keys (key, job_id) VALUES (?, ?)", [(k, job_id) for k in [key, *extra]])
            except sqlite3.IntegrityError as exc:
                db.execute("ROLLBACK")
                raise DuplicateJob(key) from exc
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return Job(
            job_id, key, connection_id, "queued", now, now, endpoint=endpoint, token_hash=token_hash, extra_keys=extra
        )

    def get(self, job_id: str) -> Job | None:
        with self._db() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE id = ? AND expires_at >= ?", (job_id, time.time())
            ).fetchone()
        return self._job(row)

    def by_key(self, key: str) -> Job | None:
        with self._db() as db:  # any of its keys (``key =``: a job a process of an older version made)
            row = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE (key = ? OR id = (SELECT job_id FROM job_keys WHERE key = ?)) "
                "AND expires_at >= ?",
                (key, key, time.time()),
            ).fetchone()
        return self._job(row)

    def start(self, job_id: str, worker: int) -> Job | None:
        with self._db() as db:
            db.execute(
                "UPDATE jobs SET state = 'processing', attempts = attempts + 1, worker = ?, updated_at = ? "
                "WHERE id = ? AND state NOT IN ('done', 'failed')",
                (worker, time.time(), job_id),
            )
        return self.get(job_id)

    def processing_by(self, worker: int) -> list[Job]:
        """Jobs the worker process ``worker`` (a pid) started and did not finish."""
        with self._db() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE state = 'processing' AND worker = ? AND expires_at >= ?",
                (worker, time.time()),
            ).fetchall()
        return [job for job in map(self._job, rows) if job is not None]

    def finish(self, job_id: str, state: str, result: dict[str, Any]) -> bool:
        now = time.time()
        with self._db() as db:
            cursor = db.execute(
                "UPDATE jobs SET state = ?, result = ?, updated_at = ?, expires_at = ? "
                "WHERE id = ? AND state NOT IN ('done', 'failed') AND expires_at >= ?",
                (state, json.dumps(result), now, now + self.ttl, job_id, now),
            )
            return cursor.rowcount == 1

    def attach(self, job_id: str, connection_id: str, endpoint: str = "", token_hash: str | None = None) -> Job | None:
        with self._db() as db:
            db.execute(
                "UPDATE jobs SET connection_id = ?, endpoint = ?, token_hash = COALESCE(?, token_hash) WHERE id = ?",
                (connection_id, endpoint, token_hash, job_id),
            )
        return self.get(job_id)

    def counts(self) -> dict[str, int]:
        with self._db() as db:
            return dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
