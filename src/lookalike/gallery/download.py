"""Fetch a public face data set (LFW) for the gallery: resumable, checksummed, safely unpacked.

A broken download leaves ``<name>.part`` behind; the next run asks the server
for the rest (HTTP Range) instead of starting again.  Nothing is used before
its SHA-256 matches the published one.
"""

from __future__ import annotations

import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lookalike.checksums import sha256_file
from lookalike.errors import LookalikeError


@dataclass(frozen=True)
class Dataset:
    name: str
    url: str
    sha256: str
    folder: str  # the folder inside the archive that holds <Person>/<photos>


#: LFW as scikit-learn's mirror publishes it (see the LFW project's pages for the terms of use).
DATASETS = {
    "lfw": Dataset(
        "lfw",
        "https://ndownloader.figshare.com/files/5976018",
        "055f7d9c632d7370e6fb4afc7468d40f970c34a80d4c6f50ffec63f5a8d536c0",
        "lfw",
    ),
    "lfw-funneled": Dataset(
        "lfw-funneled",
        "https://ndownloader.figshare.com/files/5976015",
        "b47c8422c8cded889dc5a13418c4bc2abbda121092b3533a83306f90d900100a",
        "lfw_funneled",
    ),
}

CHUNK = 1 << 20


class DownloadError(LookalikeError):
    code = "download_failed"


def download(
    url: str,
    target: Path,
    sha256: str,
    progress: Callable[[int, int], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``target`` (resuming ``target.part``) and check its SHA-256."""
    if target.is_file() and sha256_file(target) == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "lookalike"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - the URL is a setting
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # we already have every byte
            return _finish(part, target, sha256)
        raise DownloadError(f"Download of {url} failed: HTTP {exc.code} {exc.reason}.") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(
            f"Cannot reach {url}: {getattr(exc, 'reason', exc)}. Run the command again to retry."
        ) from None
    with response:
        if have and response.status != 206:  # the server ignored Range: start again
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length else 0
        done = have
        try:
            with open(part, "ab" if have else "wb") as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except (OSError, urllib.error.URLError) as exc:
            raise DownloadError(
                f"The download broke after {done / 2**20:.1f} MB ({exc}); run the command again to resume it."
            ) from None
    if total and done < total:
        raise DownloadError(
            f"The download stopped at {done / 2**20:.1f} of {total / 2**20:.1f} MB; run the command again to resume it."
        )
    return _finish(part, target, sha256)


def _finish(part: Path, target: Path, sha256: str) -> Path:
    digest = sha256_file(part)
    if digest != sha256:
        part.unlink()
        raise DownloadError(f"The downloaded file's SHA-256 is {digest}, expected {sha256}; deleted it, try again.")
    part.replace(target)
    return target


def unpack(archive: Path, into: Path, folder: str) -> Path:
    """Extract ``archive`` (refusing links and paths outside ``into``) and return ``into/folder``."""
    done = into / folder
    marker = into / f".{folder}.unpacked"
    if marker.exists() and done.is_dir():
        return done
    if done.exists():
        shutil.rmtree(done)
    into.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise DownloadError(f"Cannot unpack {archive.name}: {exc}") from None
    if not done.is_dir():
        raise DownloadError(f"{archive.name} has no folder {folder!r}.")
    marker.touch()
    return done
