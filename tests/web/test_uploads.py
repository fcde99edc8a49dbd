"""Presigned uploads to the embedded storage: the happy path and every refusal."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from conftest import Server
from lookalike.adapters.local_storage import LocalStorage, load_secret
from lookalike.documents import to_json

MAX = 100_000


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    return start_server(workers=0, max_upload_bytes=MAX)


def stored(server: Server, key: str) -> bool:
    return (server.settings.home / "storage" / key).is_file()


def test_presign_has_s3_shape_and_upload_lands(server: Server) -> None:
    p = server.presign("image/png")
    assert set(p) >= {"key", "url", "method", "fields", "expires_at", "max_bytes", "allowed_types"}
    assert p["method"] == "POST" and p["max_bytes"] == MAX and "image/jpeg" in p["allowed_types"]
    assert p["key"].startswith("uploads/") and p["fields"]["key"] == p["key"]
    policy = json.loads(base64.b64decode(p["fields"]["policy"]))
    assert {"key": p["key"]} in policy["conditions"] and ["content-length-range", 1, MAX] in policy["conditions"]
    r = server.upload(b"\x89PNG fake but fine for storage", "image/png", presigned=p)
    assert r.status_code == 204, r.text
    assert stored(server, p["key"])


def test_keys_are_made_by_the_server(server: Server) -> None:
    keys = {server.presign()["key"] for _ in range(3)}
    assert len(keys) == 3


def refused(r, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]


def test_forged_signature(server: Server) -> None:
    p = server.presign()
    sig = p["fields"]["x-amz-signature"]
    fields = {**p["fields"], "x-amz-signature": ("0" if sig[0] != "0" else "1") + sig[1:]}
    refused(server.upload(b"x" * 10, fields=fields, presigned=p), 403, "bad_signature")
    assert not stored(server, p["key"])


def test_policy_signed_with_another_secret(server: Server, tmp_path) -> None:
    other = LocalStorage(tmp_path, b"not the server's secret").presign_upload(f"uploads/{uuid.uuid4()}", "image/jpeg")
    refused(server.upload(b"x" * 10, presigned=to_json(other) | {"url": "/storage/upload"}), 403, "bad_signature")


def test_expired(server: Server, tmp_path) -> None:
    secret = load_secret(server.settings.home)
    p = LocalStorage(tmp_path, secret, expires_seconds=-5).presign_upload(f"uploads/{uuid.uuid4()}", "image/jpeg")
    refused(server.upload(b"x" * 10, presigned=to_json(p)), 403, "expired")


def test_signature_replayed_for_another_key(server: Server) -> None:
    a, b = server.presign(), server.presign()
    refused(server.upload(b"x" * 10, presigned=a, fields={**a["fields"], "key": b["key"]}), 403, "key_mismatch")
    assert not stored(server, b["key"]) and not stored(server, a["key"])


def test_oversize_by_policy(server: Server) -> None:
    refused(server.upload(b"x" * (MAX + 1)), 413, "too_large")


def test_oversize_by_length_before_reading(server: Server) -> None:
    refused(server.upload(b"x" * (MAX * 3)), 413, "too_large")


def test_empty_file(server: Server) -> None:
    refused(server.upload(b""), 400, "empty")


def test_wrong_content_type_at_presign(server: Server) -> None:
    with server.client() as c:
        refused(c.post("/api/uploads", json={"content_type": "text/html"}), 415, "bad_content_type")


def test_wrong_content_type_at_upload(server: Server) -> None:
    p = server.presign("image/jpeg")
    refused(
        server.upload(b"<html>", presigned=p, fields={**p["fields"], "Content-Type": "text/html"}),
        415,
        "bad_content_type",
    )


def test_unpinned_policy_still_needs_an_image_type(server: Server) -> None:
    p = server.presign(None)
    refused(
        server.upload(b"<html>", "text/html", presigned=p, fields={**p["fields"], "Content-Type": "text/html"}),
        415,
        "bad_content_type",
    )


@pytest.mark.parametrize("key", ["uploads/../secret", "../../etc/passwd", "/etc/passwd", "uploads/x/../../secret"])
def test_path_traversal_in_key(server: Server, key: str, tmp_path) -> None:
    secret = load_secret(server.settings.home)
    p = to_json(LocalStorage(tmp_path, secret).presign_upload(f"uploads/{uuid.uuid4()}", "image/jpeg"))
    payload = f"traversal attempt {uuid.uuid4()}".encode()
    refused(server.upload(payload, presigned=p, fields={**p["fields"], "key": key}), 400, "bad_key")
    assert not any(f.is_file() and f.read_bytes() == payload for f in server.settings.home.rglob("*"))


def test_upload_url_works_once(server: Server) -> None:
    p = server.presign()
    assert server.upload(b"x" * 10, presigned=p).status_code == 204
    refused(server.upload(b"y" * 10, presigned=p), 409, "exists")


def test_missing_signature(server: Server) -> None:
    p = server.presign()
    fields = {k: v for k, v in p["fields"].items() if k != "x-amz-signature"}
    refused(server.upload(b"x" * 10, presigned=p, fields=fields), 403, "unsigned")


def test_upload_without_length_is_refused(server: Server) -> None:
    """A chunked upload (no Content-Length) could be of any size: refused before reading it."""
    p = server.presign()

    def body():
        yield b"--x\r\n"

    with server.client() as c:
        r = c.post(p["url"], content=body(), headers={"content-type": "multipart/form-data; boundary=x"})
    refused(r, 411, "length_required")
