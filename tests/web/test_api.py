"""Synchronous matching, health, metrics, docs, the page, and the limits."""

from __future__ import annotations

import io
import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest
from PIL import Image

from conftest import WS, Server, blank_png
from lookalike.engine.align import CANONICAL_SIZE


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    return start_server(workers=0, max_pixels=2_000_000, max_faces=1, max_upload_bytes=600_000)


def test_match_synchronously(server: Server, two_people: bytes) -> None:
    with server.client() as c:
        r = c.post("/api/match", files={"photo": ("two_people.jpg", two_people, "image/jpeg")})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["error"] is None and result["faces_found"] == 2
    assert len(result["faces"]) == 1  # max_faces=1: only the largest face is matched
    assert result["faces"][0]["identity"] in ("Barack_Obama", "Joseph_Biden")
    assert result["faces"][0]["matches"][0]["thumbnail"].startswith("/api/faces/")


def test_match_refuses_non_images(server: Server) -> None:
    with server.client() as c:
        r = c.post("/api/match", files={"photo": ("notes.txt", b"hello " * 100, "text/plain")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_an_image"


def test_match_refuses_too_many_pixels(server: Server) -> None:
    with server.client() as c:
        r = c.post("/api/match", files={"photo": ("big.png", blank_png(2000, 1500), "image/png")})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_match_refuses_too_many_bytes(server: Server) -> None:
    with server.client() as c:
        r = c.post("/api/match", files={"photo": ("big.jpg", b"\xff" * 700_000, "image/jpeg")})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_match_without_photo(server: Server) -> None:
    with server.client() as c:
        r = c.post("/api/match", data={"nothing": "here"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "no_file"


def test_health_metrics_docs_page(server: Server) -> None:
    with server.client() as c:
        health = c.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        metrics = c.get("/metrics")
        assert metrics.status_code == 200
        for name in ("lookalike_queue_depth", "lookalike_job_seconds_bucket", "lookalike_job_failures_total"):
            assert name in metrics.text
        assert 'lookalike_refused_total{code="forbidden_origin"}' in metrics.text  # a series from the start
        docs = c.get("/docs")
        assert docs.status_code == 200 and "cdn" not in docs.text.lower()  # works without internet
        assert c.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
        assert c.get("/docs-assets/swagger-ui.css").status_code == 200
        paths = c.get("/openapi.json").json()["paths"]
        assert {"/api/uploads", "/api/match", "/api/jobs/{job_id}", "/healthz"} <= set(paths)
        page = c.get("/")
        assert page.status_code == 200 and "deleted" in page.text and 'type="file"' in page.text
        for asset in ("/static/app.js", "/static/style.css"):
            assert c.get(asset).status_code == 200


def test_unknown_thumbnail(server: Server) -> None:
    with server.client() as c:
        assert c.get("/api/faces/999999/thumbnail").status_code == 404


def test_a_match_links_its_aligned_face_and_the_api_serves_it(server: Server, two_people: bytes) -> None:
    with server.client() as c:
        r = c.post("/api/match", files={"photo": ("two_people.jpg", two_people, "image/jpeg")})
        top = r.json()["faces"][0]["matches"][0]
        assert top["aligned"] == f"/api/faces/{top['face_id']}/aligned"
        aligned, thumbnail = c.get(top["aligned"]), c.get(top["thumbnail"])
    assert aligned.status_code == 200 and aligned.headers["content-type"] == "image/jpeg"
    assert aligned.headers["cache-control"] == thumbnail.headers["cache-control"] == "public, max-age=86400"
    assert Image.open(io.BytesIO(aligned.content)).size == (CANONICAL_SIZE, CANONICAL_SIZE)
    assert aligned.content != thumbnail.content


def test_no_aligned_face_is_404(start_server, gallery_dir: Path, tmp_path: Path, two_people: bytes) -> None:  # type: ignore[no-untyped-def]
    """Unknown faces, words, and a face of a gallery that has no aligned face of it (an older one's)."""
    copy = tmp_path / "gallery"
    shutil.copytree(gallery_dir, copy)
    with sqlite3.connect(copy / "gallery.sqlite") as db:
        (face_id,) = db.execute("SELECT MIN(id) FROM faces").fetchone()
        db.execute("UPDATE faces SET aligned = NULL, landmarks = NULL WHERE id = ?", (face_id,))
    server = start_server(workers=0, gallery=copy)
    with server.client() as c:
        for path in ("/api/faces/999999/aligned", "/api/faces/abc/aligned", f"/api/faces/{face_id}/aligned"):
            r = c.get(path)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path
        assert c.get(f"/api/faces/{face_id}/thumbnail").status_code == 200
        assert c.get(f"/api/faces/{face_id + 1}/aligned").status_code == 200
        matches = c.post("/api/match", files={"photo": ("p.jpg", two_people, "image/jpeg")}).json()["faces"][0][
            "matches"
        ]
    assert all(("aligned" in m) == (m["face_id"] != face_id) for m in matches)


def test_rate_limit_per_client(start_server) -> None:
    server = start_server(workers=0, rate_limit_per_minute=3)
    with httpx.Client(base_url=server.url) as c:
        codes = [c.post("/api/uploads", json={"content_type": "image/jpeg"}).status_code for _ in range(4)]
        assert codes == [201, 201, 201, 429]
        r = c.post("/api/uploads", json={})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.json()["error"]["code"] == "rate_limited"
    with WS(server.ws_url) as ws:  # WebSocket messages count against the same budget
        ws.send({"action": "resume", "job": "x"})
        assert ws.recv()["error"]["code"] == "rate_limited"


def test_metrics_count_refusals(server: Server) -> None:
    with server.client() as c:
        c.post("/api/uploads", json={"content_type": "text/plain"})
        text = c.get("/metrics").text
    assert 'lookalike_refused_total{code="bad_content_type"}' in text
