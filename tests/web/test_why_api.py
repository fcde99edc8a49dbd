"""Which parts agree, through the API: the WebSocket ``match`` message and ``POST /api/match`` take ``explain``."""

from __future__ import annotations

from typing import Any

import httpx

from conftest import WS, Server


def test_the_websocket_match_message_asks_for_why(start_server, two_people: bytes) -> None:  # type: ignore[no-untyped-def]
    server: Server = start_server(workers=1)
    with WS(server.ws_url) as ws:
        ws.send({"action": "match", "key": server.uploaded_key(two_people), "explain": True})
        told = ws.until("matched", "failed", "error")[-1]
        ws.send({"action": "match", "key": server.uploaded_key(two_people)})
        plain = ws.until("matched", "failed", "error")[-1]
        ws.send({"action": "match", "key": server.uploaded_key(two_people), "explain": "yes"})
        refused = ws.until("matched", "failed", "error")[-1]
    assert told["event"] == "matched" and plain["event"] == "matched", (told, plain)
    explained = [m for face in told["result"]["faces"] for m in face["matches"] if "why" in m]
    assert len(explained) == 6  # the top 3 of both faces
    assert all(m["aligned"].startswith("/api/faces/") for face in told["result"]["faces"] for m in face["matches"])
    assert not any("why" in m for face in plain["result"]["faces"] for m in face["matches"])
    assert refused["event"] == "error" and refused["error"]["code"] == "bad_explain"
    aligned = httpx.get(server.url + explained[0]["aligned"])
    assert aligned.status_code == 200 and aligned.headers["content-type"] == "image/jpeg"


def test_post_api_match_takes_explain(start_server, two_people: bytes) -> None:  # type: ignore[no-untyped-def]
    server: Server = start_server(workers=0)
    files = {"photo": ("two.jpg", two_people, "image/jpeg")}
    told = httpx.post(server.url + "/api/match?explain=true", files=files, timeout=60)
    as_form = httpx.post(server.url + "/api/match", files=files, data={"explain": "1"}, timeout=60)
    bad = httpx.post(server.url + "/api/match?explain=maybe", files=files, timeout=60)
    assert told.status_code == 200 and as_form.status_code == 200
    for answer in (told.json(), as_form.json()):
        faces: list[dict[str, Any]] = answer["faces"]
        assert all(face["aligned"]["size"] == 184 for face in faces)
        assert sum("why" in m for face in faces for m in face["matches"]) == 6
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_explain"
