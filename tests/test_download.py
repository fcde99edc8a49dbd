"""``gallery download``: a real HTTP server on loopback serving a tarball the test makes."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lookalike.gallery.download import DownloadError, download, unpack

from .test_cli import run


class _Server:
    """Serves one file with Range support; can cut the first response short, like a broken link."""

    def __init__(self, body: bytes, cut_first_at: int | None = None) -> None:
        self.body, self.cut, self.ranges = body, cut_first_at, []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                start = 0
                header = self.headers.get("Range")
                owner.ranges.append(header)
                if header:
                    start = int(header.split("=")[1].split("-")[0])
                    if start >= len(owner.body):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(owner.body) - 1}/{len(owner.body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(owner.body) - start))
                self.end_headers()
                payload = owner.body[start:]
                if owner.cut is not None:
                    payload, owner.cut = payload[: owner.cut], None
                    self.wfile.write(payload)
                    self.wfile.flush()
                    self.connection.shutdown(2)  # the link breaks mid-file
                    return
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/lfw.tgz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def _tarball(data: Path) -> bytes:
    """An LFW-shaped archive of two people (real photos, packed at test time only)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for person in ("Barack_Obama", "Joseph_Biden"):
            for photo in sorted((data / "small" / "face_recognition" / person).iterdir())[:2]:
                tar.add(photo, arcname=f"lfw/{person}/{photo.name}")
    return out.getvalue()


def test_download_resumes_checks_and_builds_the_gallery(data: Path, tmp_path: Path) -> None:
    body = _tarball(data)
    digest = hashlib.sha256(body).hexdigest()
    server = _Server(body, cut_first_at=len(body) // 3)
    try:
        env = {"LOOKALIKE_HOME": str(tmp_path / "home")}
        args = ("gallery", "download", "lfw", "--url", server.url, "--sha256", digest, "--out", str(tmp_path / "g"))
        first = run(*args, env=env)
        assert first.returncode == 2 and "run the command again to resume" in first.stderr
        assert "Traceback" not in first.stderr
        part = tmp_path / "home" / "downloads" / "lfw.tgz.part"
        assert part.stat().st_size == len(body) // 3
        second = run(*args, env=env)
        assert second.returncode == 0, second.stderr
        assert server.ranges == [None, f"bytes={len(body) // 3}-"]
        info = json.loads(run("gallery", "info", "--gallery", str(tmp_path / "g"), "--json").stdout)
        assert info["people"] == 2 and info["faces"] == 4
    finally:
        server.close()


def test_checksum_mismatch_is_refused(tmp_path: Path) -> None:
    server = _Server(b"not the archive you are looking for")
    try:
        with pytest.raises(DownloadError, match="SHA-256"):
            download(server.url, tmp_path / "x.tgz", "0" * 64)
        assert not (tmp_path / "x.tgz").exists() and not (tmp_path / "x.tgz.part").exists()
    finally:
        server.close()


def test_unpack_refuses_paths_outside(tmp_path: Path) -> None:
    evil = tmp_path / "evil.tgz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(DownloadError):
        unpack(evil, tmp_path / "into", "lfw")
    assert not (tmp_path / "escape.txt").exists()
