"""The API documents what it answers: results, errors, and the WebSocket's messages and events."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from conftest import WS, Server
from lookalike.service.events import EVENTS, Error, Hello
from lookalike.service.results import PhotoResult


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    return start_server(workers=0, max_faces=1)


def ref(schema: dict) -> str:
    return schema["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


def test_openapi_describes_results_errors_and_websocket_events(server: Server) -> None:
    with server.client() as c:
        document = c.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    match = document["paths"]["/api/match"]["post"]["responses"]
    assert ref(match["200"]) == "PhotoResult" and ref(match["422"]) == "ErrorBody"
    assert ref(document["paths"]["/api/jobs/{job_id}"]["get"]["responses"]["200"]) == "JobView"
    assert ref(document["paths"]["/api/uploads"]["post"]["responses"]["201"]) == "PresignedUpload"
    for name in ("PhotoResult", "FaceResult", "Lookalike", "ErrorBody", "MatchMessage", "ResumeMessage"):
        assert name in schemas, name
    events = {
        schemas[r["$ref"].rsplit("/", 1)[-1]]["properties"]["event"]["const"]
        for r in schemas["WebSocketEvent"]["anyOf"]
    }
    assert events == {e.__dataclass_fields__["event"].default for e in EVENTS}
    assert schemas["Matched"]["properties"]["result"]["$ref"].endswith("/PhotoResult")
    assert schemas["JobView"]["properties"]["result"]["anyOf"][0]["$ref"].endswith("/PhotoResult")
    assert "/ws" in document["info"]["description"]


def test_a_real_result_and_its_events_fit_the_documented_schemas(server: Server, two_people: bytes) -> None:
    """What the server sends is what it documents: validated against the same classes' schemas."""
    with server.client() as c:
        result = c.post("/api/match", files={"photo": ("two_people.jpg", two_people, "image/jpeg")}).json()
    checked = TypeAdapter(PhotoResult).validate_python(result)
    assert checked.faces and checked.faces[0].matches[0].thumbnail
    with WS(server.ws_url) as ws:
        hello = ws.hello
        ws.send({"action": "match", "key": "uploads/00000000-0000-0000-0000-00000000dead"})
        refused = ws.recv()
    adapter = TypeAdapter(Hello | Error)
    assert adapter.validate_python(hello).event == "hello" and adapter.validate_python(refused).event == "error"


def test_the_match_message_is_documented_with_key_or_two_to_five_keys() -> None:
    import jsonschema

    from lookalike.web.schema import websocket_schemas

    schemas = websocket_schemas()
    match = {**schemas["MatchMessage"], "$defs": schemas}
    key = "uploads/00000000-0000-0000-0000-00000000dead"
    keys = [f"uploads/00000000-0000-0000-0000-00000000000{i}" for i in range(5)]
    for good in ({"key": key}, {"keys": keys[:2]}, {"keys": keys, "sex": "female"}):
        jsonschema.validate({"action": "match", **good}, match)
    for bad in ({}, {"key": key, "keys": keys[:2]}, {"keys": keys[:1]}, {"keys": [*keys, key]}, {"keys": [key, key]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"action": "match", **bad}, match)
