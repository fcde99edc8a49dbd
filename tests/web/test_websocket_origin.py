"""Another site's page cannot open the WebSocket with its visitors' browsers: the handshake of a
foreign ``Origin`` is refused; the server's own page, listed origins and scripts (no ``Origin``) are not."""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import Server


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    return start_server(workers=0, websocket_origins="https://lookalike.example.org")


def hello(server: Server, origin: str | None) -> str:
    headers = {"Origin": origin} if origin else None
    with connect(server.ws_url, open_timeout=10, additional_headers=headers) as ws:
        return str(ws.recv(timeout=10))


def test_a_foreign_origin_cannot_open_the_websocket(server: Server) -> None:
    for origin in ("https://evil.example.com", "null", "http://127.0.0.1.evil.example.com"):
        with pytest.raises(InvalidStatus) as refused:
            hello(server, origin)
        assert refused.value.response.status_code == 403, origin


def test_the_servers_own_page_a_listed_origin_and_scripts_may(server: Server) -> None:
    own = server.url  # the page this server serves: Origin http://127.0.0.1:<port>, Host 127.0.0.1:<port>
    for origin in (own, "https://lookalike.example.org", "https://LOOKALIKE.example.org/", None):
        assert '"hello"' in hello(server, origin), origin
