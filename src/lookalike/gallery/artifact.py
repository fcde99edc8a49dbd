"""A built gallery published on S3 as a versioned, checksummed artifact, and fetched back by workers.

Layout under ``s3://BUCKET/PREFIX/``:

* ``<version>/gallery.sqlite`` — a compact snapshot of the gallery (``VACUUM INTO``: WAL folded in,
  free pages dropped); the NumPy ``cache/`` is not published, a reader rebuilds it.
* ``<version>/thumbnails/<face_id>.jpg`` — each face's thumbnail, public through the CDN
  (``/galleries/<version>/thumbnails/<face_id>.jpg`` when PREFIX is ``galleries``); never changes, so
  it is cached for a year.
* ``<version>/aligned/<face_id>.jpg`` — each face's aligned face (gallery format 3), public and cached
  the same way (``/galleries/<version>/aligned/<face_id>.jpg``); a face without one has none.
* ``<version>/manifest.json`` — every file with its size and SHA-256, the embedding model, counts and
  the time of the push.  Written after the version's files: a version with a manifest is complete.
* ``current.json`` — ``{"version": ...}``, written last, so a reader never sees half a version.

The version is the first 16 hex digits of the snapshot's SHA-256: pushing an unchanged gallery again
uploads nothing and only points ``current.json`` at it again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from lookalike.checksums import sha256_bytes, sha256_file
from lookalike.errors import GalleryError
from lookalike.gallery.store import DB_NAME, FORMAT_VERSION, READABLE_VERSIONS, Gallery

MANIFEST = "manifest.json"
CURRENT = "current.json"
ARTIFACT_FORMAT = 1
VERSION_PATTERN = re.compile(r"^[0-9a-f]{16}$")
THUMBNAILS = "thumbnails"
ALIGNED = "aligned"
#: The faces' JPEGs a version publishes for the page (never fetched by workers): folder -> ``faces`` column.
PUBLIC_IMAGES = {THUMBNAILS: "thumbnail", ALIGNED: "aligned"}
#: A version's files never change: caches may keep them for a year.
THUMBNAIL_CACHE_CONTROL = "public, max-age=31536000, immutable"


def thumbnail_key(face_id: int) -> str:
    """A thumbnail's path inside a version."""
    return f"{THUMBNAILS}/{int(face_id)}.jpg"


def aligned_key(face_id: int) -> str:
    """An aligned face's path inside a version."""
    return f"{ALIGNED}/{int(face_id)}.jpg"


@dataclass(frozen=True)
class Location:
    """``s3://bucket/prefix/`` split; ``prefix`` without leading or trailing slashes (may be empty)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> Location:
        match = re.fullmatch(r"s3://([^/]+)/?(.*)", uri.strip())
        if match is None:
            raise GalleryError(f"{uri!r} is not an S3 address; write s3://BUCKET/PREFIX/.", code="bad_uri")
        return cls(match.group(1), match.group(2).strip("/"))

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def child(self, name: str) -> Location:
        return Location(self.bucket, self.key(name))

    @property
    def last(self) -> str:
        return self.prefix.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix + '/' if self.prefix else ''}"


@dataclass(frozen=True)
class PushReport:
    uri: str  # the version's own address
    version: str
    faces: int
    people: int
    thumbnails: int
    bytes: int  # of gallery.sqlite
    uploaded: bool  # False: that version was there already; only current.json was written
    seconds: float
    aligned: int = 0  # aligned faces published (none for a gallery made before format 3, not rebuilt)


@dataclass(frozen=True)
class FetchedGallery:
    """A fetched gallery: ``path`` is a directory ``Gallery.open`` accepts; ``version`` names its thumbnails."""

    path: Path
    version: str
    downloaded: bool  # False: it was in the cache already


def _client(client: Any) -> Any:
    if client is not None:
        return client
    try:
        import boto3
    except ImportError as exc:
        raise GalleryError("S3 needs boto3: pip install 'lookalike[aws]'.", code="missing_dependency") from exc
    return boto3.client("s3")  # AWS_REGION, AWS_ENDPOINT_URL(_S3) and the usual credentials apply


@contextmanager
def _s3_errors(where: object) -> Iterator[None]:
    """S3 and credential errors as a :class:`GalleryError` a person can act on."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # no boto3 at all: _client says so
        yield
        return
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise GalleryError(
            f"S3 refused a request for {where}: {error.get('Code', '?')} {error.get('Message', '')}".strip(),
            code="s3_error",
        ) from exc
    except BotoCoreError as exc:
        raise GalleryError(f"Cannot reach S3 for {where}: {exc}", code="s3_error") from exc


def _missing(exc: Exception) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def _get_json(client: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The JSON object at ``key``, or None when there is none."""
    from botocore.exceptions import ClientError

    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise GalleryError(f"s3://{bucket}/{key} is not JSON.", code="bad_gallery") from exc
    if not isinstance(data, dict):
        raise GalleryError(f"s3://{bucket}/{key} is not a JSON object.", code="bad_gallery")
    return data


def _exists(client: Any, bucket: str, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _missing(exc):
            return False
        raise
    return True


def _put_json(client: Any, bucket: str, key: str, data: dict[str, Any], cache_control: str) -> None:
    client.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(data, indent=1, sort_keys=True).encode(),
        ContentType="application/json",
        CacheControl=cache_control,
    )


# -- pushing ----------------------------------------------------------------------------------


def snapshot(gallery_dir: Path, out: Path) -> None:
    """A compact, self-contained copy of the gallery's database (same content, same bytes)."""
    Gallery.open(gallery_dir).close()  # a clear error for a missing or foreign gallery
    source = sqlite3.connect(gallery_dir / DB_NAME)
    try:
        source.execute("VACUUM INTO ?", (str(out),))
    finally:
        source.close()


def _describe(db_file: Path) -> dict[str, Any]:
    db = sqlite3.connect(f"{db_file.as_uri()}?mode=ro", uri=True)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        faces, people = db.execute("SELECT COUNT(*), COUNT(DISTINCT person) FROM faces").fetchone()
    finally:
        db.close()
    return {
        "model": meta.get("model"),  # the embedding model ("fused", ...); "embedding" names the exact space
        "embedding": meta.get("embedding"),
        "gallery_format": int(meta.get("format_version", "0")),
        "faces": int(faces),
        "people": int(people),
    }


def _images(db_file: Path) -> Iterator[tuple[str, bytes]]:
    """(name inside the version, JPEG) of every face's thumbnail, then of every aligned face."""
    db = sqlite3.connect(f"{db_file.as_uri()}?mode=ro", uri=True)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(faces)")}
        for folder, column in PUBLIC_IMAGES.items():
            if column in columns:
                sql = f"SELECT id, {column} FROM faces WHERE {column} IS NOT NULL ORDER BY id"
                yield from ((f"{folder}/{int(i)}.jpg", data) for i, data in db.execute(sql))
    finally:
        db.close()


def _count_images(db_file: Path) -> int:
    db = sqlite3.connect(f"{db_file.as_uri()}?mode=ro", uri=True)
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(faces)")}
        return sum(
            int(db.execute(f"SELECT COUNT(*) FROM faces WHERE {column} IS NOT NULL").fetchone()[0])
            for column in PUBLIC_IMAGES.values()
            if column in columns
        )
    finally:
        db.close()


def _published(files: dict[str, Any], folder: str) -> int:
    return sum(1 for name in files if name.startswith(f"{folder}/"))


def _upload_thumbnails(
    client: Any,
    where: Location,
    db_file: Path,
    threads: int,
    progress: Callable[[int, int], None] | None,
) -> dict[str, dict[str, Any]]:
    """Upload every thumbnail and aligned face, ``threads`` at a time (a bounded window: memory stays flat)."""
    total = _count_images(db_file)
    files: dict[str, dict[str, Any]] = {}
    done = 0
    if progress:
        progress(0, total)

    def put(name: str, data: bytes) -> None:
        client.put_object(
            Bucket=where.bucket,
            Key=where.key(name),
            Body=data,
            ContentType="image/jpeg",
            CacheControl=THUMBNAIL_CACHE_CONTROL,
        )

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="push") as pool:
        pending: set[Future[None]] = set()

        def settle(block_until: int) -> None:
            nonlocal done, pending
            while len(pending) > block_until:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()  # an upload's error stops the push
                done += len(finished)
                if progress:
                    progress(done, total)

        for name, data in _images(db_file):
            files[name] = {"size": len(data), "sha256": sha256_bytes(data)}
            pending.add(pool.submit(put, name, bytes(data)))
            settle(threads * 4)
        settle(0)
    return files


def push_gallery(
    gallery_dir: Path,
    uri: str,
    client: Any = None,
    *,
    threads: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> PushReport:
    """Publish the gallery at ``gallery_dir`` under ``uri`` (``s3://bucket/prefix/``); see the module docstring.

    ``progress(done, total)`` is called as thumbnails and aligned faces upload.
    """
    start = time.perf_counter()
    base = Location.parse(uri)
    client = _client(client)
    with tempfile.TemporaryDirectory(prefix="lookalike-push-") as tmp, _s3_errors(base):
        db_file = Path(tmp) / DB_NAME
        snapshot(Path(gallery_dir), db_file)
        digest = sha256_file(db_file)
        version = digest[:16]
        where = base.child(version)
        info = _describe(db_file)
        size = db_file.stat().st_size
        existing = _get_json(client, base.bucket, where.key(MANIFEST))
        uploaded = existing is None or existing.get("files", {}).get(DB_NAME, {}).get("sha256") != digest
        if uploaded:
            files = _upload_thumbnails(client, where, db_file, threads, progress)
            client.upload_file(
                str(db_file), base.bucket, where.key(DB_NAME), ExtraArgs={"ContentType": "application/vnd.sqlite3"}
            )
            files[DB_NAME] = {"size": size, "sha256": digest}
            manifest = {
                "format": ARTIFACT_FORMAT,
                "version": version,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                **info,
                "thumbnails": _published(files, THUMBNAILS),
                "aligned": _published(files, ALIGNED),
                "files": files,
            }
            _put_json(client, base.bucket, where.key(MANIFEST), manifest, THUMBNAIL_CACHE_CONTROL)
            thumbnails, aligned = manifest["thumbnails"], manifest["aligned"]
        else:
            thumbnails = int(existing.get("thumbnails", 0))  # type: ignore[union-attr]
            aligned = int(existing.get("aligned", 0))  # type: ignore[union-attr]
        current = {"version": version, "manifest": f"{version}/{MANIFEST}", "updated_at": time.time()}
        _put_json(client, base.bucket, base.key(CURRENT), current, "no-cache")
    return PushReport(
        uri=str(where),
        version=version,
        faces=info["faces"],
        people=info["people"],
        thumbnails=thumbnails,
        bytes=size,
        uploaded=uploaded,
        seconds=round(time.perf_counter() - start, 2),
        aligned=aligned,
    )


# -- fetching ---------------------------------------------------------------------------------


def _resolve(client: Any, base: Location) -> tuple[str, Location, dict[str, Any] | None]:
    """(version, the version's location, its manifest if already read) for ``prefix/`` or ``prefix/<version>/``.

    A version's own address is tried first when it looks like one, so that no absent key is asked for
    (without ``s3:ListBucket`` S3 answers those with AccessDenied instead of NoSuchKey)."""

    def pinned() -> tuple[str, Location, dict[str, Any]] | None:
        manifest = _get_json(client, base.bucket, base.key(MANIFEST))
        if manifest is None:
            return None
        if manifest.get("version") != base.last:
            raise GalleryError(f"{base}{MANIFEST} is not the manifest of version {base.last!r}.", code="bad_gallery")
        return base.last, base, manifest

    if VERSION_PATTERN.fullmatch(base.last) and (found := pinned()) is not None:
        return found
    current = _get_json(client, base.bucket, base.key(CURRENT))
    if current is not None:
        version = str(current.get("version", ""))
        if not VERSION_PATTERN.fullmatch(version):
            raise GalleryError(f"{base}{CURRENT} names no valid version ({version!r}).", code="bad_gallery")
        return version, base.child(version), None
    if not VERSION_PATTERN.fullmatch(base.last) and (found := pinned()) is not None:
        return found
    raise GalleryError(
        f"No gallery at {base}: neither {CURRENT} nor {MANIFEST} is there. Publish one with "
        f"'lookalike gallery push {base}'.",
        code="no_gallery",
    )


def _check_manifest(manifest: dict[str, Any], version: str, where: Location) -> dict[str, dict[str, Any]]:
    """The files a worker needs (all but the page's JPEGs), after checking this lookalike can read them."""
    if manifest.get("version") != version or manifest.get("format") != ARTIFACT_FORMAT:
        raise GalleryError(f"The manifest at {where} does not describe version {version}.", code="bad_gallery")
    if manifest.get("gallery_format") not in READABLE_VERSIONS:  # the matcher checks the embedding space
        raise GalleryError(
            f"The gallery at {where} has format {manifest.get('gallery_format')}; this lookalike reads formats "
            f"{', '.join(map(str, READABLE_VERSIONS))} (it makes {FORMAT_VERSION}). "
            "Push a gallery built by this version.",
            code="gallery_version",
        )
    public = tuple(f"{folder}/" for folder in PUBLIC_IMAGES)
    files = {name: entry for name, entry in manifest.get("files", {}).items() if not name.startswith(public)}
    for name in files:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise GalleryError(
                f"The manifest at {where} names a file outside the gallery: {name!r}.", code="bad_gallery"
            )
    if DB_NAME not in files:
        raise GalleryError(f"The manifest at {where} lists no {DB_NAME}.", code="bad_gallery")
    return files


def _download(client: Any, where: Location, files: dict[str, dict[str, Any]], version: str, into: Path) -> None:
    for name, entry in files.items():
        dest = into / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(where.bucket, where.key(name), str(dest))
        size, digest = dest.stat().st_size, sha256_file(dest)
        if size != entry.get("size") or digest != entry.get("sha256"):
            raise GalleryError(
                f"{where}{name} does not match its manifest (size {size}, SHA-256 {digest[:16]}…; expected "
                f"{entry.get('size')}, {str(entry.get('sha256'))[:16]}…): the artifact is damaged or was "
                "tampered with. Push the gallery again.",
                code="gallery_checksum",
            )
    if sha256_file(into / DB_NAME)[:16] != version:  # the version is the database's own hash
        raise GalleryError(
            f"{where}{DB_NAME} is not version {version}. Push the gallery again.", code="gallery_checksum"
        )


def fetch_gallery(uri: str, cache_dir: Path, client: Any = None) -> FetchedGallery:
    """Make the gallery at ``uri`` (``s3://bucket/prefix/`` via ``current.json``, or a version's own
    ``s3://bucket/prefix/<version>/``) available as ``cache_dir/<version>/``.

    Downloads only what is not cached yet, checks every file against the manifest, and appears whole or
    not at all (downloaded into a temporary directory, then renamed).
    """
    base = Location.parse(uri)
    cache_dir = Path(cache_dir)
    pinned = base.last
    if VERSION_PATTERN.fullmatch(pinned) and (cache_dir / pinned / MANIFEST).is_file():
        return FetchedGallery(cache_dir / pinned, pinned, downloaded=False)  # versions never change
    client = _client(client)
    with _s3_errors(base):
        version, where, manifest = _resolve(client, base)
        target = cache_dir / version
        if (target / MANIFEST).is_file():
            return FetchedGallery(target, version, downloaded=False)
        if manifest is None:
            manifest = _get_json(client, where.bucket, where.key(MANIFEST))
            if manifest is None:
                raise GalleryError(f"Version {version} has no {MANIFEST} at {where}.", code="no_gallery")
        files = _check_manifest(manifest, version, where)
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=cache_dir))
        try:
            _download(client, where, files, version, partial)
            (partial / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
            try:
                os.rename(partial, target)
            except OSError:
                if not (target / MANIFEST).is_file():  # not another process that got there first
                    raise
                shutil.rmtree(partial, ignore_errors=True)
                return FetchedGallery(target, version, downloaded=False)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    return FetchedGallery(target, version, downloaded=True)
