"""The one use case everything else reaches: photo bytes -> faces -> lookalikes, as plain JSON data."""

from __future__ import annotations

import time
from typing import Any

from lookalike.engine.decode import decode
from lookalike.engine.engine import FaceEngine, Timings
from lookalike.errors import ImageError, LookalikeError
from lookalike.gallery.search import Matcher
from lookalike.gallery.store import Gallery
from lookalike.settings import Settings


class MatchService:
    """Holds the engine and the gallery's matcher; turns photos into result documents."""

    def __init__(self, settings: Settings, engine: FaceEngine | None = None, matcher: Matcher | None = None) -> None:
        self.settings = settings
        self.engine = engine or FaceEngine(settings)
        self.matcher = matcher or Matcher(Gallery.open(settings.gallery_path()), settings)

    def match_bytes(
        self, data: bytes, name: str = "photo", watch: list[str] | None = None, on_faces: Any = None
    ) -> dict[str, Any]:
        """Match every face in ``data``.  ``on_faces(faces_doc)`` is called once faces are found.

        Bad input never raises: the result carries ``error`` with a ``code`` and a message instead.
        """
        timings = Timings()
        start = time.perf_counter()
        try:
            with timings.stage("decode"):
                if len(data) > self.settings.max_upload_bytes:
                    raise ImageError(
                        f"The file is {len(data) / 2**20:.1f} MB; the limit is "
                        f"{self.settings.max_upload_bytes / 2**20:.0f} MB.",
                        code="too_large",
                    )
                image, info = decode(data, self.settings)
            detections = self.engine.detect(image, timings)
            chosen = detections[: self.settings.max_faces]
            boxes = [d.box.as_dict() for d in chosen]
            if on_faces is not None:
                on_faces({"faces_found": len(detections), "boxes": boxes, "width": info.width, "height": info.height})
            faces = self.engine.describe(image, chosen, timings)
            with timings.stage("search"):
                results = self.matcher.match_many([f.embedding for f in faces], watch=watch) if faces else []
        except LookalikeError as exc:
            return self.error_result(name, exc.code, exc.message, watch)
        face_docs = []
        for face, result in zip(faces, results):
            face_docs.append(
                {
                    **face.as_dict(),
                    "identity": result.identity,
                    "matches": [m.as_dict() for m in result.matches],
                    "watch": result.watch,
                }
            )
        watch_doc: dict[str, bool] = {"faces": bool(face_docs)}
        for person in watch or []:
            watch_doc[person] = any(r.watch.get(person, False) for r in results)
        timings.stages["total"] = time.perf_counter() - start
        return {
            "photo": name,
            "error": None,
            "width": info.width,
            "height": info.height,
            "rotated": info.rotated,
            "faces_found": len(detections),
            "faces": face_docs,
            "watch": watch_doc,
            "timings_ms": {k: round(v * 1000, 1) for k, v in timings.stages.items()},
        }

    @staticmethod
    def error_result(name: str, code: str, message: str, watch: list[str] | None = None) -> dict[str, Any]:
        return {
            "photo": name,
            "error": {"code": code, "message": message},
            "width": None,
            "height": None,
            "rotated": None,
            "faces_found": 0,
            "faces": [],
            "watch": {"faces": False, **dict.fromkeys(watch or [], False)},
            "timings_ms": {},
        }
