"""An upload's life: its presigned POST works once, a photo never submitted goes when the presign
expires, and the bytes waiting on disk are capped per client and in all."""

from __future__ import annotations

import time

import httpx
import pytest

from conftest import WS, Server


def files_under(server: Server) -> list[str]:
    uploads = server.settings.home / "storage" / "uploads"
    return sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []


def test_presigned_post_cannot_be_reused_after_match(start_server, two_people: bytes) -> None:
    server = start_server(workers=1)
    p = server.presign()
    assert server.upload(two_people, presigned=p).status_code == 204
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "key": p["key"]})
        events = ws.until("matched", "failed")
    job, result = events[0]["job"], events[-1]["result"]
    assert events[-1]["event"] == "matched" and files_under(server) == []  # matched: the photo is gone
    again = server.upload(b"\xff\xd8 another photo entirely", presigned=p)
    assert again.status_code == 409 and again.json()["error"]["code"] == "exists"
    assert files_under(server) == []  # nothing of the refused upload is kept
    with server.client() as c:
        assert c.get(f"/api/jobs/{job}").json()["result"] == result
    with WS(server.ws_url) as ws:  # matching the key again gives the same job and result, not a new photo's
        ws.send({"action": "match", "key": p["key"]})
        events = ws.until("matched")
    assert events[0]["event"] == "resumed" and events[-1]["result"] == result


@pytest.fixture(scope="module")
def expiring(start_server) -> Server:
    return start_server(workers=0, upload_expires_seconds=2)


def test_upload_never_submitted_is_deleted_once_its_presign_expired(expiring: Server) -> None:
    lonely = expiring.uploaded_key(b"\xff\xd8 never submitted")
    submitted = expiring.uploaded_key(b"\xff\xd8 submitted, waiting for a worker")
    with WS(expiring.ws_url) as ws:
        ws.send({"action": "match", "key": submitted})
        assert ws.recv()["event"] == "queued"
    assert set(files_under(expiring)) == {lonely.split("/")[1], submitted.split("/")[1]}
    deadline = time.monotonic() + 10
    while lonely.split("/")[1] in files_under(expiring) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert files_under(expiring) == [submitted.split("/")[1]]  # the job's photo stays for its worker
    assert expiring.app.state.env.storage.ledger.waiting_bytes() == len(b"\xff\xd8 submitted, waiting for a worker")


def test_waiting_bytes_are_capped_per_client_and_in_all(start_server) -> None:
    server = start_server(
        workers=0,
        trusted_proxies="127.0.0.1",
        upload_quota_client_bytes=250_000,
        upload_quota_total_bytes=450_000,
    )
    photo = b"\xff\xd8" + b"x" * 99_998

    def upload(client: str) -> httpx.Response:
        with httpx.Client(base_url=server.url, headers={"X-Forwarded-For": client}, timeout=30) as c:
            p = c.post("/api/uploads", json={"content_type": "image/jpeg"}).json()
            return c.post(p["url"], data=p["fields"], files={"file": ("photo", photo, "image/jpeg")})

    assert [upload("198.51.100.1").status_code for _ in range(2)] == [204, 204]
    over = upload("198.51.100.1")
    assert over.status_code == 429 and over.json()["error"]["code"] == "quota_exceeded"
    assert int(over.headers["Retry-After"]) >= 1 and "wait" in over.json()["error"]["message"]
    assert [upload("198.51.100.2").status_code for _ in range(2)] == [204, 204]
    full = upload("198.51.100.3")
    assert full.status_code == 507 and full.json()["error"]["code"] == "storage_full"
    assert len(files_under(server)) == 4  # the refused photos were not kept
    # A matched (deleted) photo frees its room.
    storage = server.app.state.env.storage
    storage.delete(f"uploads/{files_under(server)[0]}")
    assert upload("198.51.100.3").status_code == 204


def test_many_addresses_of_one_ipv6_64_share_one_upload_quota(start_server) -> None:
    """One home's /64 holds more addresses than the total quota has shares: it is one client."""
    server = start_server(
        workers=0,
        trusted_proxies="127.0.0.1",
        upload_quota_client_bytes=250_000,
        upload_quota_total_bytes=450_000,
    )
    photo = b"\xff\xd8" + b"x" * 99_998

    def upload(client: str) -> httpx.Response:
        with httpx.Client(base_url=server.url, headers={"X-Forwarded-For": client}, timeout=30) as c:
            p = c.post("/api/uploads", json={"content_type": "image/jpeg"}).json()
            return c.post(p["url"], data=p["fields"], files={"file": ("photo", photo, "image/jpeg")})

    codes = [upload(f"2001:db8:1:2::{i:x}").status_code for i in range(1, 6)]
    assert codes == [204, 204, 429, 429, 429], codes
    assert upload("2001:db8:1:3::1").status_code == 204  # the next /64 is another client
    assert upload("198.51.100.9").status_code == 204  # 4 photos wait: the total's room is 4
    assert upload("198.51.100.10").status_code == 507
