"""``lookalike gallery push`` and ``fetch_gallery`` against S3 on moto's server mode (real HTTP on 127.0.0.1),
with a small real gallery built from the shared face photos."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3", reason="boto3 is in the [aws] extra")
moto_server = pytest.importorskip("moto.server", reason="moto[server] is a dev dependency")

from lookalike.engine.embedding import embedding_id  # noqa: E402
from lookalike.errors import GalleryError  # noqa: E402
from lookalike.gallery.artifact import (  # noqa: E402
    THUMBNAIL_CACHE_CONTROL,
    aligned_key,
    fetch_gallery,
    push_gallery,
    thumbnail_key,
)
from lookalike.gallery.store import Gallery  # noqa: E402
from lookalike.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def photos_dir() -> Path:
    configured = os.environ.get("LOOKALIKE_DATA_DIR")
    base = Path(configured) if configured else Settings().data_dir
    base = base if base.is_absolute() else (ROOT / base).resolve()
    return base / "small" / "face_recognition"


@pytest.fixture(scope="module")
def gallery_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real gallery of the six people of ``small/face_recognition``."""
    source = photos_dir()
    if not source.is_dir():
        pytest.skip(f"face photos not found at {source} (set LOOKALIKE_DATA_DIR)")
    from lookalike.gallery.build import build_gallery, scan_sources

    out = tmp_path_factory.mktemp("gallery")
    photos, _ = scan_sources([source])
    with Gallery.create(out) as g:
        build_gallery(g, photos, Settings(gallery=out), workers=2)
        assert g.counts()["faces"] > 0
    return out


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The standard AWS variables pointing boto3 (here and in subprocesses) at the emulator."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    env = {**FAKE_AWS, "AWS_ENDPOINT_URL": endpoint}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def s3(aws_env: dict[str, str]) -> Any:
    return boto3.client("s3")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"gallery-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    return name


def read(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def face_counts(path: Path) -> dict[str, int]:
    with Gallery.open(path) as g:
        return g.counts()


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lookalike", *args],
        env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.data
def test_push_publishes_a_checksummed_version_then_points_current_at_it(
    gallery_dir: Path, s3: Any, bucket: str, aws_env: dict[str, str]
) -> None:
    done = run_cli("gallery", "push", "--gallery", str(gallery_dir), f"s3://{bucket}/galleries/", "--json", env=aws_env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    version = report["version"]
    counts = face_counts(gallery_dir)
    assert len(version) == 16 and int(version, 16) >= 0
    assert (report["faces"], report["people"], report["uploaded"]) == (counts["faces"], counts["people"], True)
    assert report["uri"] == f"s3://{bucket}/galleries/{version}/"

    assert json.loads(read(s3, bucket, "galleries/current.json"))["version"] == version
    manifest = json.loads(read(s3, bucket, f"galleries/{version}/manifest.json"))
    assert (manifest["version"], manifest["faces"], manifest["people"]) == (version, counts["faces"], counts["people"])
    assert manifest["model"] == "fused" and manifest["embedding"] == embedding_id(Settings()) and manifest["created_at"]
    with Gallery.open(gallery_dir) as g:
        thumbs = {face_id: g.thumbnail(face_id) for face_id in g.vectors()[1].tolist()}
    assert manifest["thumbnails"] == report["thumbnails"] == sum(1 for t in thumbs.values() if t)
    # Every listed file is on S3 with the listed size and hash; the database's hash starts with the version.
    for name, entry in manifest["files"].items():
        data = read(s3, bucket, f"galleries/{version}/{name}")
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["size"], entry["sha256"]), name
    assert manifest["files"]["gallery.sqlite"]["sha256"].startswith(version)
    face_id, thumbnail = next((i, t) for i, t in thumbs.items() if t)
    head = s3.head_object(Bucket=bucket, Key=f"galleries/{version}/{thumbnail_key(face_id)}")
    assert (head["ContentType"], head["CacheControl"]) == ("image/jpeg", THUMBNAIL_CACHE_CONTROL)
    assert read(s3, bucket, f"galleries/{version}/thumbnails/{face_id}.jpg") == thumbnail
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"galleries/{version}/")["Contents"]
    assert not any("cache/" in o["Key"] for o in listed)  # the NumPy cache is not published


@pytest.mark.data
def test_push_publishes_the_aligned_faces_beside_the_thumbnails(gallery_dir: Path, s3: Any, bucket: str) -> None:
    report = push_gallery(gallery_dir, f"s3://{bucket}/aligned-test/", s3)
    with Gallery.open(gallery_dir) as g:
        aligned = {face_id: g.aligned(face_id) for face_id in g.vectors()[1].tolist()}
    assert report.aligned == sum(1 for a in aligned.values() if a) == len(aligned) > 0  # every face has one
    manifest = json.loads(read(s3, bucket, f"aligned-test/{report.version}/manifest.json"))
    assert manifest["aligned"] == report.aligned and manifest["thumbnails"] == report.thumbnails
    assert sum(1 for name in manifest["files"] if name.startswith("aligned/")) == report.aligned
    for face_id, jpeg in aligned.items():
        if jpeg:
            key = f"aligned-test/{report.version}/{aligned_key(face_id)}"
            assert key == f"aligned-test/{report.version}/aligned/{face_id}.jpg"
            head = s3.head_object(Bucket=bucket, Key=key)
            assert (head["ContentType"], head["CacheControl"]) == ("image/jpeg", THUMBNAIL_CACHE_CONTROL)
            assert read(s3, bucket, key) == jpeg


@pytest.mark.data
def test_push_logs_progress_lines_when_not_on_a_terminal(
    gallery_dir: Path, bucket: str, aws_env: dict[str, str]
) -> None:
    done = run_cli("gallery", "push", "--gallery", str(gallery_dir), f"s3://{bucket}/galleries", env=aws_env)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("images ")]
    with Gallery.open(gallery_dir) as g:
        ids = g.vectors()[1].tolist()
        total = sum(1 for i in ids if g.thumbnail(i)) + sum(1 for i in ids if g.aligned(i))
    assert total > face_counts(gallery_dir)["faces"]  # thumbnails and aligned faces
    assert lines and lines[-1] == f"images {total}/{total}"
    assert "version" in done.stdout and "published" in done.stdout


def test_push_reports_problems_without_a_traceback(tmp_path: Path, aws_env: dict[str, str]) -> None:
    missing = run_cli("gallery", "push", "--gallery", str(tmp_path), "s3://some-bucket/galleries/", env=aws_env)
    assert missing.returncode == 2 and "No gallery at" in missing.stderr and "Traceback" not in missing.stderr
    bad = run_cli("gallery", "push", "--gallery", str(tmp_path), "https://example.invalid/x", env=aws_env)
    assert bad.returncode == 2 and "not an S3 address" in bad.stderr


@pytest.mark.data
def test_pushing_twice_is_the_same_version_and_uploads_nothing(gallery_dir: Path, s3: Any, bucket: str) -> None:
    first = push_gallery(gallery_dir, f"s3://{bucket}/galleries/", s3)
    s3.delete_object(Bucket=bucket, Key="galleries/current.json")
    manifest_before = read(s3, bucket, f"galleries/{first.version}/manifest.json")
    calls: list[int] = []
    second = push_gallery(gallery_dir, f"s3://{bucket}/galleries/", s3, progress=lambda d, t: calls.append(d))
    assert second.version == first.version and first.uploaded and not second.uploaded
    assert second.faces == first.faces and second.thumbnails == first.thumbnails
    assert calls == []  # no thumbnail went up again
    assert read(s3, bucket, f"galleries/{first.version}/manifest.json") == manifest_before
    assert json.loads(read(s3, bucket, "galleries/current.json"))["version"] == first.version


@pytest.mark.data
def test_a_changed_gallery_is_a_new_version(gallery_dir: Path, s3: Any, bucket: str, tmp_path: Path) -> None:
    first = push_gallery(gallery_dir, f"s3://{bucket}/g", s3)
    changed = tmp_path / "changed"
    shutil.copytree(gallery_dir, changed)
    with Gallery.open(changed) as g:
        person = g.people()[0]
        g.remove_person(person)
    second = push_gallery(changed, f"s3://{bucket}/g", s3)
    assert second.version != first.version and second.people == first.people - 1
    assert json.loads(read(s3, bucket, "g/current.json"))["version"] == second.version
    fetched = fetch_gallery(f"s3://{bucket}/g/", tmp_path / "cache", s3)
    assert fetched.version == second.version
    with Gallery.open(fetched.path) as g:
        assert person not in g.people()


@pytest.mark.data
def test_fetch_gives_a_gallery_that_opens_and_caches_it(
    gallery_dir: Path, s3: Any, bucket: str, tmp_path: Path
) -> None:
    pushed = push_gallery(gallery_dir, f"s3://{bucket}/galleries/", s3)
    cache = tmp_path / "cache"
    fetched = fetch_gallery(f"s3://{bucket}/galleries/", cache)  # default client, from the AWS variables
    assert (fetched.version, fetched.path, fetched.downloaded) == (pushed.version, cache / pushed.version, True)
    with Gallery.open(fetched.path) as g, Gallery.open(gallery_dir) as original:
        assert g.counts() == original.counts()
        vectors, ids, persons = g.vectors()
        expected = original.vectors()
        assert (vectors == expected[0]).all() and (ids == expected[1]).all() and persons == expected[2]
    assert sorted(p.name for p in cache.iterdir()) == [pushed.version]  # no partial download left over
    assert not (fetched.path / "thumbnails").exists()  # workers do not need them
    assert not (fetched.path / "aligned").exists()

    stamp = (fetched.path / "gallery.sqlite").stat().st_mtime_ns
    again = fetch_gallery(f"s3://{bucket}/galleries/", cache, s3)
    assert (again.path, again.version, again.downloaded) == (fetched.path, pushed.version, False)
    assert (fetched.path / "gallery.sqlite").stat().st_mtime_ns == stamp
    # A pinned version that is cached needs no S3 at all.
    for obj in s3.list_objects_v2(Bucket=bucket)["Contents"]:
        s3.delete_object(Bucket=bucket, Key=obj["Key"])
    pinned = fetch_gallery(f"s3://{bucket}/galleries/{pushed.version}/", cache, s3)
    assert (pinned.path, pinned.downloaded) == (fetched.path, False)


@pytest.mark.data
def test_fetch_of_a_pinned_version(gallery_dir: Path, s3: Any, bucket: str, tmp_path: Path) -> None:
    pushed = push_gallery(gallery_dir, f"s3://{bucket}/galleries/", s3)
    s3.delete_object(Bucket=bucket, Key="galleries/current.json")  # the version's own address needs no pointer
    fetched = fetch_gallery(f"s3://{bucket}/galleries/{pushed.version}", tmp_path / "cache", s3)
    assert (fetched.version, fetched.downloaded) == (pushed.version, True)
    assert face_counts(fetched.path)["faces"] == pushed.faces


@pytest.mark.data
def test_a_tampered_gallery_is_refused_and_nothing_is_left(
    gallery_dir: Path, s3: Any, bucket: str, tmp_path: Path
) -> None:
    pushed = push_gallery(gallery_dir, f"s3://{bucket}/galleries/", s3)
    key = f"galleries/{pushed.version}/gallery.sqlite"
    data = bytearray(read(s3, bucket, key))
    data[len(data) // 2] ^= 0xFF  # one flipped byte: same size, another hash
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(GalleryError, match="does not match its manifest") as caught:
        fetch_gallery(f"s3://{bucket}/galleries/", cache, s3)
    assert caught.value.code == "gallery_checksum"
    assert list(cache.iterdir()) == []


def test_fetch_explains_what_is_missing(s3: Any, bucket: str, tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match="No gallery at") as caught:
        fetch_gallery(f"s3://{bucket}/nothing-here/", tmp_path, s3)
    assert caught.value.code == "no_gallery"
    with pytest.raises(GalleryError, match="not an S3 address"):
        fetch_gallery("/some/local/dir", tmp_path, s3)
    with pytest.raises(GalleryError, match="S3 refused") as caught:
        fetch_gallery(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/g/", tmp_path, s3)
    assert caught.value.code == "s3_error"


def test_fetch_refuses_pointers_that_leave_the_cache(s3: Any, bucket: str, tmp_path: Path) -> None:
    s3.put_object(Bucket=bucket, Key="g/current.json", Body=json.dumps({"version": "../../outside"}).encode())
    with pytest.raises(GalleryError, match="no valid version"):
        fetch_gallery(f"s3://{bucket}/g/", tmp_path / "cache", s3)
    version = "0123456789abcdef"
    manifest = {"format": 1, "version": version, "gallery_format": 1, "model": "fused"}
    manifest["files"] = {"gallery.sqlite": {"size": 1, "sha256": "0" * 64}, "../escape": {"size": 1, "sha256": "0"}}
    s3.put_object(Bucket=bucket, Key=f"g/{version}/manifest.json", Body=json.dumps(manifest).encode())
    with pytest.raises(GalleryError, match="outside the gallery"):
        fetch_gallery(f"s3://{bucket}/g/{version}/", tmp_path / "cache", s3)
    assert not (tmp_path / "outside").exists() and not (tmp_path / "cache" / version).exists()


@pytest.mark.data
def test_a_worker_links_the_faces_of_the_version_it_fetched_where_the_cdn_serves_them(
    gallery_dir: Path, s3: Any, bucket: str, tmp_path: Path
) -> None:
    from lookalike.aws.spec import DEPLOYMENT
    from lookalike.cli.worker import prepare_gallery

    pushed = push_gallery(gallery_dir, f"s3://{bucket}/galleries/", s3)
    settings = prepare_gallery(Settings(home=tmp_path, gallery_uri=f"s3://{bucket}/galleries/"))
    assert settings.thumbnail_url == f"/galleries/{pushed.version}/thumbnails/{{face_id}}.jpg"
    assert settings.aligned_url == f"/galleries/{pushed.version}/aligned/{{face_id}}.jpg"
    # CloudFront (and the bucket policy) let the page read both, and nothing else of a version.
    public = DEPLOYMENT.gallery_public_pattern
    for url in (settings.thumbnail_url, settings.aligned_url):
        assert fnmatch.fnmatchcase(url.lstrip("/").replace("{face_id}", "12"), public), url
    for private in ("gallery.sqlite", "manifest.json"):
        assert not fnmatch.fnmatchcase(f"galleries/{pushed.version}/{private}", public)
    assert not fnmatch.fnmatchcase("galleries/current.json", public)
    custom = prepare_gallery(
        Settings(home=tmp_path, gallery_uri=f"s3://{bucket}/galleries/", aligned_url="https://cdn.example/{face_id}")
    )
    assert custom.aligned_url == "https://cdn.example/{face_id}"  # a configured address is kept
