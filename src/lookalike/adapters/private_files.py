"""Files under the data home are the server's own: photos, jobs, the queue, the secret.

Nothing there is for other local users to read, so directories are made ``0700`` and files ``0600``
whatever the umask, and files an older version left readable are tightened when opened.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path, tighten: bool = False) -> Path:
    """Make ``path`` (and missing parents) ``0700``.  An existing directory is left alone unless
    ``tighten`` (one only this system uses, like ``storage/``): the home may be a folder of the user's."""
    path = Path(path)
    missing = not path.exists()
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if missing or (tighten and _open_to_others(path)):
        with contextlib.suppress(OSError):  # not ours (a shared mount): leave it as it is
            os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode ``0600`` if absent; tighten it to ``0600`` if others can read it."""
    path = Path(path)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    tighten(path)
    return path


def tighten(path: Path) -> None:
    """If ``path`` exists, is ours and others can read it: make it ``0600``."""
    if _open_to_others(path):
        with contextlib.suppress(OSError):
            os.chmod(path, FILE_MODE)


def write_private(path: Path, data: bytes) -> None:
    """Write a new file ``0600``; raises :class:`FileExistsError` if it exists (a racing writer)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _open_to_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & 0o077) and path.stat().st_uid == os.getuid()
    except OSError:
        return False
