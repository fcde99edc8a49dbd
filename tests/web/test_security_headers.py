"""Security headers on every kind of response; the page has no inline script for the policy to allow."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from conftest import Server
from lookalike.web.routes.ops import STATIC


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    return start_server(workers=0)


def policy(value: str) -> dict[str, list[str]]:
    out = {}
    for part in value.split(";"):
        if part.strip():
            name, *sources = part.split()
            out[name] = sources
    return out


def check(response) -> dict[str, list[str]]:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff", response.url
    assert headers["referrer-policy"] == "no-referrer", response.url
    csp = policy(headers["content-security-policy"])
    assert csp["frame-ancestors"] == ["'none'"], response.url
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"], response.url
    return csp


def test_security_headers_on_every_route_kind(server: Server, two_people: bytes) -> None:
    key = server.uploaded_key(two_people)
    with server.client() as c:
        responses = [
            c.get("/"),
            c.get("/static/app.js"),
            c.get("/static/style.css"),
            c.get("/favicon.ico"),
            c.get("/config.json"),
            c.get("/healthz"),
            c.get("/metrics"),
            c.get("/openapi.json"),
            c.get("/api/faces/1/thumbnail"),
            c.get("/api/faces/999999/thumbnail"),
            c.get("/api/jobs/nope"),
            c.post("/api/uploads", json={}),
            c.post("/api/uploads", content=b"x" * 20_000),  # refused by the body limit
            c.post("/internal/connections/x", json={}),
            c.get("/no/such/page"),
            c.delete("/api/uploads"),
            server.upload(b"x", presigned=None),
        ]
    assert [r.status_code for r in responses[-6:]] == [201, 413, 403, 404, 405, 204]
    assert key
    for r in responses:
        csp = check(r)
        assert csp["script-src"] == ["'self'"], r.url


def test_page_policy_allows_only_its_own_resources(server: Server) -> None:
    with server.client() as c:
        csp = check(c.get("/"))
    assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in csp["style-src"]


def test_docs_page_allows_exactly_its_inline_script(server: Server) -> None:
    with server.client() as c:
        r = c.get("/docs")
    csp = check(r)
    (script,) = re.findall(r"<script>(.*?)</script>", r.text, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert csp["script-src"] == ["'self'", f"'sha256-{digest}'"]


def test_page_has_no_inline_script_handlers_or_styles() -> None:
    html = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert not re.search(r"\sstyle\s*=|<style", html), "inline style"
    js = (STATIC / "app.js").read_text()
    assert 'setAttribute("style"' not in js and "innerHTML" not in js and "eval(" not in js
