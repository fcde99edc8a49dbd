"""Another site's page cannot drive the HTTP API with its visitors' browsers: a state-changing request
with a foreign ``Origin`` or ``Sec-Fetch-Site: cross-site`` is refused (403 ``forbidden_origin``)
before its body is read; the server's own page, listed origins and scripts (neither header) are not."""

from __future__ import annotations

import httpx
import pytest

from conftest import Server, blank_png

LISTED = "https://lookalike.example.org"
FOREIGN = ("https://evil.example.com", "null", "http://127.0.0.1.evil.example.com")


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    return start_server(workers=0, websocket_origins=LISTED)


def match(server: Server, headers: dict[str, str]) -> httpx.Response:
    with server.client() as c:
        return c.post("/api/match", files={"photo": ("p.png", blank_png(), "image/png")}, headers=headers)


def assert_forbidden_origin(r: httpx.Response) -> None:
    assert r.status_code == 403, (r.status_code, r.text)
    assert set(r.json()["error"]) == {"code", "message"} and r.json()["error"]["code"] == "forbidden_origin"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors" in r.headers["content-security-policy"]


def test_a_foreign_origin_cannot_post_a_photo_to_match(server: Server) -> None:
    for origin in FOREIGN:
        assert_forbidden_origin(match(server, {"Origin": origin}))
    assert_forbidden_origin(match(server, {"Sec-Fetch-Site": "cross-site"}))  # an Origin-less browser request


def test_a_foreign_origin_cannot_presign_upload_or_delete(server: Server) -> None:
    p = server.presign("image/png")
    evil = {"Origin": "https://evil.example.com"}
    with server.client() as c:
        assert_forbidden_origin(c.post("/api/uploads", json={"content_type": "image/png"}, headers=evil))
        upload = c.post(p["url"], data=p["fields"], files={"file": ("p", blank_png(), "image/png")}, headers=evil)
        assert_forbidden_origin(upload)
        assert_forbidden_origin(c.delete("/api/uploads", headers=evil))
        assert_forbidden_origin(c.put("/api/uploads", headers={"Sec-Fetch-Site": "cross-site"}))
        # The presign was not spent: its own page may still use it.
        own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
        ok = c.post(p["url"], data=p["fields"], files={"file": ("p", blank_png(), "image/png")}, headers=own)
        assert ok.status_code == 204, ok.text
        assert 'code="forbidden_origin"' in c.get("/metrics").text


def test_the_servers_own_page_a_listed_origin_and_scripts_may(server: Server) -> None:
    own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    private = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}  # its own page under no-referrer
    listed = {"Origin": LISTED + "/", "Sec-Fetch-Site": "cross-site"}
    for headers in (own, private, {"Origin": LISTED}, listed, {}):
        assert match(server, headers).status_code == 200, headers
        with server.client() as c:
            assert c.post("/api/uploads", json={}, headers=headers).status_code == 201, headers


def test_reads_and_the_workers_endpoint_are_not_checked(server: Server) -> None:
    evil = {"Origin": "https://evil.example.com", "Sec-Fetch-Site": "cross-site"}
    with server.client() as c:
        assert c.get("/healthz", headers=evil).status_code == 200
        assert c.get("/config.json", headers=evil).status_code == 200
        internal = c.post("/internal/connections/x", json={"event": "processing"}, headers=evil)
        assert internal.status_code == 403 and internal.json()["error"]["code"] == "forbidden"  # the token decides
