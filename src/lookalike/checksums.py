"""SHA-256 digests of bytes and of files, as hex: how weight files, gallery artifacts and downloads are checked.

A module of its own (standard library only), low enough for the engine and the gallery to share.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

#: Files are hashed this many bytes at a time, so a big archive never sits in memory whole.
CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
