"""The OpenAPI document: the HTTP routes FastAPI describes, plus what it cannot see.

FastAPI documents HTTP routes only; the WebSocket's messages and events are added here as schemas
(``components.schemas``) from the same dataclasses the service sends, with a section of the API's
description saying how to use them.  Results are documented with ``responses=`` on their routes, so
nothing is validated twice at run time.
"""

from __future__ import annotations

from typing import Any, Union

from fastapi import FastAPI
from pydantic import TypeAdapter

from lookalike.service.events import EVENTS
from lookalike.service.ports import MAX_PHOTOS, MIN_PHOTOS, JobView, PresignedUpload
from lookalike.service.protocol import CLIENT_MESSAGES
from lookalike.service.results import ErrorBody, PhotoResult

REF = "#/components/schemas/{model}"

WEBSOCKET_GUIDE = """

## The WebSocket (`/ws`)

Connect, read `hello`, then send a `MatchMessage` (`{"action": "match", "key": ...}`, the key of a photo
uploaded with a presigned POST from `POST /api/uploads`, or `{"action": "match", "keys": [...]}`, the keys
of 2-5 photos of one person, each uploaded with its own presigned POST, matched as one) or a
`ResumeMessage`. The server answers with events (schema `WebSocketEvent`): `queued` (with the job's
`resume_token`, given only here), `resumed`, then from a worker `processing`, `faces_found` (one photo)
and one of `matched` / `failed` carrying a `PhotoResult`; `error` when a message cannot be honoured,
`moved` when the page reconnected elsewhere.
"""


def responses(ok: type, *errors: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: its success document and the error envelope of each status."""
    out: dict[int | str, dict[str, Any]] = {200: {"model": ok}}
    out.update({status: {"model": ErrorBody} for status in errors})
    return out


def created(ok: type, *errors: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route that answers 201 with ``ok``."""
    out = responses(ok, *errors)
    out[201] = out.pop(200)
    return out


def websocket_schemas() -> dict[str, Any]:
    """JSON Schemas of the client messages and the events, keyed by name."""
    events = TypeAdapter(Union[EVENTS]).json_schema(ref_template=REF)  # noqa: UP007 (a tuple of classes)
    messages = TypeAdapter(Union[CLIENT_MESSAGES]).json_schema(ref_template=REF)  # noqa: UP007
    result = TypeAdapter(PhotoResult).json_schema(ref_template=REF)
    schemas: dict[str, Any] = {**events.pop("$defs", {}), **messages.pop("$defs", {}), **result.pop("$defs", {})}
    schemas["PhotoResult"] = result
    for terminal in ("Matched", "Failed"):  # they carry the stored result document: a PhotoResult's JSON
        schemas[terminal]["properties"]["result"] = {"$ref": REF.format(model="PhotoResult")}
    schemas["WebSocketEvent"] = events
    schemas["WebSocketMessage"] = messages
    several_keys(schemas["MatchMessage"])
    return schemas


def several_keys(match: dict[str, Any]) -> None:
    """What the dataclass cannot say of ``MatchMessage``: exactly one of ``key`` and ``keys``, and 2-5
    distinct keys (the rules :func:`lookalike.service.protocol.several_keys` applies)."""
    for variant in match["properties"]["keys"].get("anyOf", []):
        if variant.get("type") == "array":
            variant.update(minItems=MIN_PHOTOS, maxItems=MAX_PHOTOS, uniqueItems=True)
    match["oneOf"] = [{"required": ["key"]}, {"required": ["keys"]}]


def install(app: FastAPI) -> None:
    """Serve an OpenAPI document that also describes the WebSocket's messages and events: FastAPI's own
    document (servers, version and all), with the schemas and the WebSocket's section added once."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        if "WebSocketEvent" not in components:
            document["info"]["description"] = document["info"].get("description", "") + WEBSOCKET_GUIDE
            components.update({name: schema for name, schema in websocket_schemas().items() if name not in components})
            if "JobView" in components:  # a finished job's stored result document
                photo = {"$ref": REF.format(model="PhotoResult")}
                components["JobView"]["properties"]["result"] = {"anyOf": [photo, {"type": "null"}]}
        return document

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["JobView", "PhotoResult", "PresignedUpload", "install", "responses", "websocket_schemas"]
