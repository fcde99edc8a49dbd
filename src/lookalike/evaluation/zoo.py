"""Embeddings of many photos by several models, cached, so models and their fusions compare cheaply.

The models (``lookalike eval lfw --model``) are ``evaluation/variants.py``'s ``EVALUATED_MODELS``, all
made by the engine:

- ``engine`` / ``dlib``: the engine's whole pipeline (``evaluation/embed.py``), as configured / with
  ``LOOKALIKE_EMBEDDING=dlib`` and mirror averaging (the embedding before engine v2);
- ``dlib-yunet`` / ``sface`` (and their ``-flip`` variants): the engine's embedders (``fused``'s two
  parts) on YuNet's 5 points; the chip of ``dlib-yunet`` is aligned to dlib's own template
  (``engine.align.DLIB_TEMPLATE``, measured by running YuNet on dlib's chips: ``dlib_template``);
- ``fused``, ``fused-flip``, ``fused-dlib``: two of those concatenated as ``[sqrt(w) a, sqrt(1-w) b]``
  (``engine.embedding.fuse``): one unit vector whose cosine is ``w cos_a + (1-w) cos_b``, so a
  gallery can hold it as any other vector.

For photos of one face (LFW's crops), YuNet runs once on the whole photo and the face nearest the
centre is kept (LFW's rule).  Vectors are unit length; distance = 1 - cosine.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from lookalike.engine.embedding import Embedder, Landmarks, fuse, normalise
from lookalike.engine.yunet import Network
from lookalike.evaluation.variants import EVALUATED_MODELS, FUSIONS
from lookalike.settings import Settings

__all__ = ["EVALUATED_MODELS", "FUSIONS", "embed_cached", "vectors"]


def engine_settings(model: str, settings: Settings) -> Settings:
    """The settings an ``engine`` model embeds with (the others: the settings as given)."""
    m = EVALUATED_MODELS[model]
    if m.kind != "engine" or m.embedder is None:
        return settings
    return settings.replace(embedding=m.embedder, embed_flip=bool(m.flip))


def _group(model: str, settings: Settings) -> str:
    """The cache a model's vectors live in (the ``points`` models share one per flip setting)."""
    if EVALUATED_MODELS[model].kind == "engine":
        from lookalike.engine.embedding import embedding_id

        space = embedding_id(engine_settings(model, settings))
        return "engine-" + "".join(c if c.isalnum() or c in ".-" else "_" for c in space)
    return "yunet-flip" if EVALUATED_MODELS[model].flip else "yunet"


_state: dict[str, object] = {}


def _detector(settings: Settings) -> Network:
    from lookalike.engine.weights import model_path

    det = _state.get("yunet")
    if det is None:
        det = Network(str(model_path("yunet", settings)))
        _state["yunet"] = det
    return det  # type: ignore[return-value]


def centre_face_points(bgr: np.ndarray, settings: Settings) -> np.ndarray | None:
    """YuNet's 5 points (5x2, image coordinates) of the face nearest the photo's centre, or None."""
    height, width = bgr.shape[:2]
    faces = _detector(settings).detect(bgr, threshold=0.5)
    if len(faces) == 0:
        return None
    centre = np.array([width / 2, height / 2])
    boxes = faces[:, :4]
    d = np.linalg.norm(boxes[:, :2] + boxes[:, 2:4] / 2 - centre, axis=1)
    return faces[int(np.argmin(d)), 4:14].reshape(5, 2).astype(np.float64)


def _init(settings: Settings) -> None:
    """One thread per worker process for OpenCV and BLAS: more threads per process only fight."""
    from lookalike.engine.parallel import single_threaded_blas

    cv2.setNumThreads(1)
    single_threaded_blas()
    _state["settings"] = settings


def point_embedder(name: str, settings: Settings, flip: bool) -> Embedder:
    """The engine's embedder a ``points`` model runs (``EvaluatedModel.embedder``)."""
    from lookalike.engine.embedding.dlib_resnet import DlibYunetEmbedder
    from lookalike.engine.embedding.sface import SFace

    makers: dict[str, Callable[[], Embedder]] = {
        "sface": lambda: SFace(settings, flip=flip),
        "dlib-yunet": lambda: DlibYunetEmbedder(flip=flip),
    }
    return makers[name]()


def _point_embedders(flip: bool) -> dict[str, Embedder]:
    """This process's embedders of every ``points`` model with this flip setting, by model name."""
    key = f"embedders-{flip}"
    if key not in _state:
        settings: Settings = _state["settings"]  # type: ignore[assignment]
        _state[key] = {
            m.name: point_embedder(str(m.embedder), settings, flip)
            for m in EVALUATED_MODELS.values()
            if m.kind == "points" and m.flip == flip
        }
    return _state[key]  # type: ignore[return-value]


def _embed_points(path: str, flip: bool = False) -> tuple[str, dict[str, np.ndarray] | None]:
    """Every ``points`` model of one photo with this flip setting; without flip, the points too."""
    settings: Settings = _state["settings"]  # type: ignore[assignment]
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        return path, None
    points = centre_face_points(bgr, settings)
    if points is None:
        return path, None
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    face = [Landmarks(points)]
    out = {name: embedder.embed(rgb, face)[0] for name, embedder in _point_embedders(flip).items()}
    if not flip:
        out["points"] = points.astype(np.float32).ravel()
    return path, out


def _cache_file(settings: Settings, name: str) -> Path:
    return settings.home / "eval" / f"{name}.npz"


def _load(file: Path) -> dict[str, np.ndarray]:
    if not file.is_file():
        return {}
    data = np.load(file)
    return {k: data[k] for k in data.files}


def _save(file: Path, arrays: dict[str, np.ndarray]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, file)


def embed_cached(
    paths: Iterable[str],
    model: str,
    settings: Settings,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, np.ndarray], set[str]]:
    """({path: unit vector}, paths without a face) for ``model`` (not ``fused``), embedding only
    photos not yet in the cache (``<home>/eval/<group>.npz``; misses are cached too)."""
    given = {p: os.path.realpath(p) for p in set(paths)}  # cache keys: real paths, however a path is spelt
    wanted = sorted(set(given.values()))
    group = _group(model, settings)
    file = _cache_file(settings, f"embeddings-{group}")
    cache = _load(file)
    stored = [os.path.realpath(p) for p in cache.get("paths", np.array([], dtype=str)).tolist()]
    known = {p: i for i, p in enumerate(stored)}
    todo = [p for p in wanted if p not in known]
    if progress:
        progress(0, len(todo))
    if todo:
        new = _embed_group(group, todo, engine_settings(model, settings), workers, progress)
        sample = next((v for v in new.values() if v is not None), {})
        keys = [k for k in cache if k not in ("paths", "found")] or sorted(sample)
        rows = {k: list(cache.get(k, np.zeros((0, 0), np.float32))) for k in keys}
        paths_all = stored + todo
        found_all = list(cache.get("found", np.array([], dtype=bool))) + [new[p] is not None for p in todo]
        for p in todo:
            v = new[p]
            for k in keys:
                rows[k].append(v[k] if v is not None else np.zeros(len(sample[k]), np.float32))
        cache = {"paths": np.array(paths_all), "found": np.array(found_all, dtype=bool)}
        cache.update({k: np.array(rows[k], dtype=np.float32) for k in keys})
        _save(file, cache)
        known = {p: i for i, p in enumerate(paths_all)}
    vectors, missed = {}, set()
    for p, real in given.items():
        i = known[real]
        if cache["found"][i]:
            vectors[p] = cache["vector" if group.startswith("engine-") else model][i]
        else:
            missed.add(p)
    return vectors, missed


def _embed_group(
    group: str, todo: list[str], settings: Settings, workers: int | None, progress: Callable[[int, int], None] | None
) -> dict[str, dict[str, np.ndarray] | None]:
    out: dict[str, dict[str, np.ndarray] | None] = {}
    if group.startswith("engine-"):
        from lookalike.evaluation.embed import embed_photos

        found, missed = embed_photos(todo, settings, workers, progress)
        for p in todo:
            out[p] = {"vector": normalise(found[p][None])[0]} if p in found else None
        return out
    with ProcessPoolExecutor(workers or os.cpu_count() or 1, initializer=_init, initargs=(settings,)) as pool:
        job = partial(_embed_points, flip=group == "yunet-flip")
        for done, (path, result) in enumerate(pool.map(job, todo, chunksize=8), 1):
            out[path] = result
            if progress:
                progress(done, len(todo))
    return out


def vectors(
    paths: Iterable[str],
    model: str,
    settings: Settings,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    weight: float = 0.5,
) -> tuple[dict[str, np.ndarray], set[str]]:
    """``embed_cached`` for any model, fusions included (``weight``: share of the first model's cosine)."""
    if model not in FUSIONS:
        return embed_cached(paths, model, settings, workers, progress)
    paths = list(paths)
    first, second = (embed_cached(paths, m, settings, workers, progress) for m in FUSIONS[model])
    both = sorted(set(first[0]) & set(second[0]))
    fused = fuse(np.array([first[0][p] for p in both]), np.array([second[0][p] for p in both]), weight)
    return dict(zip(both, fused)), set(paths) - set(both)


def dlib_template(paths: list[str], settings: Settings) -> np.ndarray:
    """YuNet's 5 points on dlib's own 150x150 chips (upscaled 2x for the detector), averaged."""
    import dlib

    from lookalike.engine import weights
    from lookalike.engine.resnet import CHIP_PADDING, CHIP_SIZE

    hog = dlib.get_frontal_face_detector()
    shape = dlib.shape_predictor(weights.dlib_file(weights.DLIB_LANDMARKS_5))
    found = []
    for path in paths:
        rgb = dlib.load_rgb_image(path)
        rects = hog(rgb, 1)
        if len(rects) != 1:
            continue
        chip = dlib.get_face_chip(rgb, shape(rgb, rects[0]), CHIP_SIZE, CHIP_PADDING)
        big = cv2.resize(np.ascontiguousarray(chip[:, :, ::-1]), (2 * CHIP_SIZE, 2 * CHIP_SIZE))
        points = centre_face_points(big, settings)
        if points is not None:
            found.append(points / 2)
    return np.mean(found, axis=0)
