"""YuNet face detection at every face size, whatever the photo's size.

YuNet (a small CNN of OpenCV Zoo, run here on onnxruntime by :class:`Network`) finds faces reliably
from about 20 px wide in the image it is given (LFW faces pasted on textured 12 MP canvases scanned at
half size: 800 of 800 of 40 to 48 px, ``bench photos``' small-faces set) up to a large part of the
frame.  So a photo is looked at as a *pyramid*:

* a fine level at ``FINE_SCALE`` (a 40 px face becomes 20 px), or the whole photo at full size up to
  ``FINE_SIDE`` px long, cut into overlapping tiles so memory stays bounded on 50 MP photos; a JPEG
  is decoded at that scale to begin with (``engine/decode.py``: half the size costs ~half the time);
* coarser levels, each 4x smaller, down to a ~320 px copy, for the big faces (a selfie's face
  fills the frame).

The work per photo is bounded whatever its shape: at most ``MAX_TILES`` tiles and ``MAX_SCAN_PIXELS``
pixels over all levels (every photo the default limits let through fits, at most 20 tiles and ~17 MP;
a bigger or stranger one is scanned from a coarser fine level, so it costs seconds, not minutes).

Boxes of every tile and level are mapped back to the photo's coordinates and merged by NMS.  A box
touching a tile's inner edge is dropped: the overlap (``OVERLAP`` px, larger than the biggest face a
level is responsible for) guarantees the whole face lies inside a neighbouring tile, or it is big
enough to be found whole at the next coarser level.  For the same reason a box bigger than the
overlap is left to the next coarser level (at least 40 px there): at a fine level such a box is as
often a part of a face too big for the tile (a cheek, an eye and an ear) as a face.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

#: The smallest face (px of the original photo) the pyramid is built to find.
MIN_FACE = 40
#: The size a MIN_FACE face is scanned at: the whole pipeline finds 800 of 800 LFW faces pasted at 40,
#: 44 and 48 px on 12 MP canvases, scanned at 0.5 (docs/results.md).
RELIABLE_FACE = 20
FINE_SCALE = RELIABLE_FACE / MIN_FACE
#: Photos up to this long side are scanned whole at full size (up to ~2.4 MP: ~35 ms on 2 cores), and
#: bigger ones no coarser than this long side: faces under 40 px in small photos are found too.
FINE_SIDE = 1800
#: A fine level up to this much finer than FINE_SCALE is FINE_SCALE: photos from 2,880 px long (a square
#: 12 MP photo is 3,464 px) decode at half size, the full photo is never decoded for detection.
FINE_SNAP = 1.25
#: Each coarser level is this much smaller; a level finds faces of 24 px to well over 4x that.
LEVEL_STEP = 4.0
#: Coarsest level's long side.
COARSEST = 320
#: Tile side and overlap at a level's own scale.  Faces above ~100 px there belong to the next level.
TILE = 1120
OVERLAP = 160
SCORE_THRESHOLD = 0.6
NMS_IOU = 0.3
#: The most one photo's detection may scan: tiles over all levels, and their pixels (see module doc).
MAX_TILES = 24
MAX_SCAN_PIXELS = 32_000_000
#: Landmarks are re-measured on crops resized so the face is each of these sizes (px), and averaged.
#: YuNet's points move by ~3-4% of the face with the scale and framing it sees the face at, which
#: moves the embedding: 30 LFW faces on a canvas, then the canvas upscaled 1.6x, 2.5x and 4x, moved
#: by a median 0.123 (p90 0.184) as detected; 0.096 re-measured at 100 px; 0.078 (p90 0.125)
#: averaged over these three sizes; 0.032 with the exact points (the floor: resampling alone).
#: LFW's faces, on which the thresholds were measured, are about this size.
REFINE_FACES = (90, 100, 112)
#: Context around the face in those crops (times its side, each side).
REFINE_MARGIN = 0.3


@dataclass(frozen=True)
class Tile:
    """A window of one pyramid level: ``scale`` maps photo px to level px; ``x0, y0`` its origin (level px)."""

    scale: float
    x0: int
    y0: int
    width: int
    height: int
    level_width: int
    level_height: int

    def inner_edges(self) -> tuple[bool, bool, bool, bool]:
        """Which sides (left, top, right, bottom) are seams with another tile, not the photo's border."""
        return (
            self.x0 > 0,
            self.y0 > 0,
            self.x0 + self.width < self.level_width,
            self.y0 + self.height < self.level_height,
        )


def fine_scale(width: int, height: int) -> float:
    """The planned fine level's scale: the whole photo up to ``FINE_SIDE`` px long, else the scale at
    which a ``MIN_FACE`` face is ``RELIABLE_FACE`` px (or ``FINE_SIDE`` long, if that is finer, unless
    that is within ``FINE_SNAP`` of ``FINE_SCALE``: then ``FINE_SCALE``, which a JPEG decodes to)."""
    fine = min(1.0, FINE_SIDE / max(width, height))
    return FINE_SCALE if fine < FINE_SCALE * FINE_SNAP else fine


def pyramid_scales(width: int, height: int, fine: float | None = None) -> list[float]:
    """Scales of the levels to scan, finest first (``fine``: the finest, default the planned one)."""
    long_side = max(width, height)
    if fine is None:
        fine = fine_scale(width, height)
    scales = [fine]
    while long_side * scales[-1] > COARSEST * 1.25:
        scales.append(max(scales[-1] / LEVEL_STEP, COARSEST / long_side))
    return scales


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, size) of the fewest equal windows of at most ``tile`` covering ``length`` with ``overlap``:
    no more pixels scanned than the overlaps need (fixed-size tiles scanned ~60% extra at 12 MP)."""
    if length <= tile:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    size = math.ceil((length + (count - 1) * overlap) / count)
    return [(min(i * (size - overlap), length - size), size) for i in range(count)]


def _level_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def _work(width: int, height: int, scales: list[float], tile: int, overlap: int) -> tuple[int, int]:
    """(tiles, pixels of the tiles) scanning these levels costs."""
    count = pixels = 0
    for scale in scales:
        lw, lh = _level_size(width, height, scale)
        xs, ys = _spans(lw, tile, overlap), _spans(lh, tile, overlap)
        count += len(xs) * len(ys)
        pixels += sum(w for _, w in xs) * sum(h for _, h in ys)
    return count, pixels


def bounded_scales(
    width: int, height: int, tile: int = TILE, overlap: int = OVERLAP, limit: float = 1.0
) -> list[float]:
    """The pyramid's scales, with the fine level made coarser until the scan fits ``MAX_TILES`` and
    ``MAX_SCAN_PIXELS`` (unchanged for every photo the default limits let through), and no finer than
    ``limit``."""
    fine = min(fine_scale(width, height), limit)
    scales = pyramid_scales(width, height, fine)
    while fine > 1e-9:
        count, pixels = _work(width, height, scales, tile, overlap)
        if count <= MAX_TILES and pixels <= MAX_SCAN_PIXELS:
            break
        fine *= min(0.9, math.sqrt(MAX_SCAN_PIXELS / max(pixels, 1)), math.sqrt(MAX_TILES / count))
        scales = pyramid_scales(width, height, fine)
    return scales


def tiles(width: int, height: int, tile: int = TILE, overlap: int = OVERLAP, limit: float = 1.0) -> list[Tile]:
    """Overlapping tiles covering every level of the (bounded) pyramid of a ``width`` x ``height`` photo,
    none finer than ``limit`` (the scale of the copy there is)."""
    out = []
    for scale in bounded_scales(width, height, tile, overlap, limit):
        lw, lh = _level_size(width, height, scale)
        for y0, th in _spans(lh, tile, overlap):
            for x0, tw in _spans(lw, tile, overlap):
                out.append(Tile(scale, x0, y0, tw, th, lw, lh))
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU, inside: float = 0.6) -> list[int]:
    """Indices kept (boxes as x, y, w, h): greedy NMS by score, then a box lying mostly (``inside``
    of its area) within a bigger kept box is dropped whatever its score: the same face seen partly
    (cut by a seam, or at two levels) must not replace the whole."""
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    area = boxes[:, 2] * boxes[:, 3]

    def inter(i: int, rest: np.ndarray) -> np.ndarray:
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        return w * h

    order = [int(i) for i in np.argsort(-scores, kind="stable")]
    kept: list[int] = []
    while order:
        i = order.pop(0)
        kept.append(i)
        rest = np.array(order, dtype=int)
        if len(rest):
            overlap = inter(i, rest) / np.maximum(area[i] + area[rest] - inter(i, rest), 1e-9)
            order = [int(j) for j, o in zip(rest, overlap) if o <= iou]
    by_size = sorted(kept, key=lambda i: -area[i])
    final: list[int] = []
    for i in by_size:
        if final and (inter(i, np.array(final)) / max(float(area[i]), 1e-9) > inside).any():
            continue
        final.append(i)
    return sorted(final, key=lambda i: -scores[i])


#: YuNet's feature strides, and the multiple of 32 its input is padded to (its FPN halves the size 5 times).
STRIDES = (8, 16, 32)
PAD = 32


class Network:
    """YuNet's network on onnxruntime, decoded as OpenCV's ``FaceDetectorYN`` decodes it (same boxes, to
    1e-4 px): for every cell of each stride, score = sqrt(cls x obj), the box's centre and size and the
    5 points relative to the cell; then NMS.  One session serves every thread (onnxruntime's ``run`` is
    thread-safe), each call on one core, with no spinning threads left to slow the work that follows."""

    def __init__(self, model: str) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        # The arena keeps the activations' memory between runs: allocating it afresh doubled a run's
        # time.  Its size follows the largest tiles run at once (``TILE``).
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def detect(self, image: np.ndarray, threshold: float = SCORE_THRESHOLD, rgb: bool = False) -> np.ndarray:
        """Faces in a uint8 image, BGR (or ``rgb``; a view into a bigger one is fine): rows of x, y, w, h,
        5 (x, y) points, score; NMS applied."""
        height, width = image.shape[:2]
        padded_h, padded_w = -(-height // PAD) * PAD, -(-width // PAD) * PAD
        if (padded_h, padded_w) != (height, width):
            image = cv2.copyMakeBorder(image, 0, padded_h - height, 0, padded_w - width, cv2.BORDER_CONSTANT, value=0)
        blob = cv2.dnn.blobFromImage(image, swapRB=rgb)  # float32 NCHW, BGR 0..255: what YuNet was trained on
        out = self._session.run(None, {self._input: blob})
        rows = [_decode_level(out, i, stride, padded_w // stride, threshold) for i, stride in enumerate(STRIDES)]
        found = np.concatenate([np.zeros((0, 15), np.float32), *rows])
        if not len(found):
            return found
        keep = cv2.dnn.NMSBoxes(found[:, :4].tolist(), found[:, 14].tolist(), threshold, NMS_IOU, top_k=5000)
        return found[np.asarray(keep, dtype=int).reshape(-1)]


def _decode_level(out: list[np.ndarray], i: int, stride: int, columns: int, threshold: float) -> np.ndarray:
    """The rows of one stride's outputs (cls, obj, bbox, kps are outputs i, i+3, i+6, i+9) above ``threshold``."""
    cls = np.clip(out[i].reshape(-1), 0.0, 1.0)
    obj = np.clip(out[i + 3].reshape(-1), 0.0, 1.0)
    score = np.sqrt(cls * obj)
    cells = np.flatnonzero(score >= threshold)
    if not len(cells):
        return np.zeros((0, 15), np.float32)
    box = out[i + 6].reshape(-1, 4)[cells]
    kps = out[i + 9].reshape(-1, 10)[cells]
    col = (cells % columns).astype(np.float32)[:, None]
    row = (cells // columns).astype(np.float32)[:, None]
    size = np.exp(box[:, 2:4]) * stride
    centre = (np.hstack([col, row]) + box[:, :2]) * stride
    points = np.empty_like(kps)
    points[:, 0::2] = (kps[:, 0::2] + col) * stride
    points[:, 1::2] = (kps[:, 1::2] + row) * stride
    return np.hstack([centre - size / 2, size, points, score[cells, None]]).astype(np.float32)


class YuNet:
    """Tiled, multi-level YuNet.  ``detect`` returns photo-coordinate rows: x, y, w, h, 5 (x, y) points, score.

    Tiles run on a pool of ``threads`` threads, each network call on one core (onnxruntime releases the
    GIL).  Measured: as fast as one call on both cores for one big image, and unlike OpenCV's thread
    pool it leaves no spinning threads behind that slow the NumPy/BLAS embedding which follows by 10-20x."""

    def __init__(self, model: str, threads: int = 2) -> None:
        self._model = model
        self._threads = max(1, threads)
        self._network: Network | None = None
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="yunet") if self._threads > 1 else None
        self._lock = threading.Lock()

    def _net(self) -> Network:
        if self._network is None:
            self._network = Network(self._model)
        return self._network

    def _run(self, image: np.ndarray, t: Tile, coarsest: float) -> np.ndarray:
        found = self._net().detect(image[t.y0 : t.y0 + t.height, t.x0 : t.x0 + t.width], rgb=True)
        if t.scale > coarsest:  # a face bigger than the overlap is the next level's (module doc)
            found = found[np.maximum(found[:, 2], found[:, 3]) <= OVERLAP]
        if not len(found):
            return found
        found = _drop_seam_boxes(found, t).copy()
        found[:, [0, 4, 6, 8, 10, 12]] += t.x0  # columns: x, y, w, h, then (x, y) of 5 points
        found[:, [1, 5, 7, 9, 11, 13]] += t.y0
        found[:, :14] /= t.scale
        return found

    def refine(self, rgb: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``rows`` (found in ``rgb``) with their points re-measured on crops around each face, resized
        so the face is each of ``REFINE_FACES`` px, and averaged: nearly the same landmarks whatever the
        photo's size, for three small network runs a face (~1 ms each).  A face found in none keeps its row."""
        cv2.setNumThreads(1)
        with self._lock:
            if self._pool is None or len(rows) < 2:
                out = [self._refine_one(rgb, row) for row in rows]
            else:
                out = list(self._pool.map(lambda row: self._refine_one(rgb, row), rows))
        return np.array(out, dtype=np.float32).reshape(len(rows), 15)

    def _refine_one(self, rgb: np.ndarray, row: np.ndarray) -> np.ndarray:
        height, width = rgb.shape[:2]
        x, y, w, h = (float(v) for v in row[:4])
        side = max(w, h, 1.0)
        margin = REFINE_MARGIN * side
        x0, y0 = max(0, int(x - margin)), max(0, int(y - margin))
        x1, y1 = min(width, int(math.ceil(x + w + margin))), min(height, int(math.ceil(y + h + margin)))
        crop = rgb[y0:y1, x0:x1]
        # A big face is reduced once (area filter) to twice the largest size measured, not once per size.
        first = min(1.0, 2 * max(REFINE_FACES) / side)
        if first < 1.0:
            size = (max(1, round((x1 - x0) * first)), max(1, round((y1 - y0) * first)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        local = np.array(row, dtype=np.float32, copy=True)
        local[[0, 4, 6, 8, 10, 12]] -= x0
        local[[1, 5, 7, 9, 11, 13]] -= y0
        local[:14] *= first
        found = [r for r in (self._measure(crop, local, size) for size in REFINE_FACES) if r is not None]
        if not found:
            return row
        out = np.array(row, dtype=np.float32, copy=True)
        points = np.mean([r[4:14] for r in found], axis=0) / first
        points[0::2] += x0
        points[1::2] += y0
        out[4:14] = points
        return out

    def _measure(self, crop: np.ndarray, row: np.ndarray, face_size: int) -> np.ndarray | None:
        """The face of ``row`` (in ``crop``'s coordinates) detected again with the crop resized so the
        face is ``face_size`` px; in ``crop``'s coordinates, or None."""
        scale = face_size / max(float(row[2]), float(row[3]), 1.0)
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        found = self._net().detect(cv2.resize(crop, size, interpolation=interpolation), rgb=True)
        if not len(found):
            return None
        found = found.copy()
        found[:, :14] /= scale
        best = int(np.argmax(_iou(row[:4], found[:, :4])))
        if _iou(row[:4], found[best : best + 1, :4])[0] < 0.5:
            return None
        return found[best]

    def detect(self, rgb: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """All faces in an RGB photo (HxWx3 uint8), in the photo's pixel coordinates.  ``rgb`` may be the
        photo at ``scale`` of its size (decoded reduced): no level is finer than that."""
        width, height = photo_size(rgb, scale)
        cv2.setNumThreads(1)
        work = tiles(width, height, limit=scale)
        scales = list(dict.fromkeys(t.scale for t in work))
        fine = _levels(rgb, scales[:1], scale)[scales[0]]
        with self._lock:
            if self._pool is None:
                levels = {scales[0]: fine, **_levels(fine, scales[1:], scales[0])}
                rows = [self._run(levels[t.scale], t, scales[-1]) for t in work]
            else:
                # The coarser levels are made by one thread while the other scans the fine level's first tile
                # (submitted first, so it never waits behind a tile that needs it).
                coarse = self._pool.submit(_levels, fine, scales[1:], scales[0])

                def level(s: float) -> np.ndarray:
                    return fine if s == scales[0] else coarse.result()[s]

                rows = list(self._pool.map(lambda t: self._run(level(t.scale), t, scales[-1]), work))
        every = np.concatenate([np.zeros((0, 15), np.float32), *rows])
        if not len(every):
            return every
        keep = nms(every[:, :4], every[:, 14])
        return every[keep]


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x, y, w, h) box with each of ``boxes``."""
    w = np.clip(np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    h = np.clip(np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = w * h
    return inter / np.maximum(box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter, 1e-9)


def photo_size(rgb: np.ndarray, scale: float) -> tuple[int, int]:
    """(width, height) of the photo of which ``rgb`` is a copy at ``scale``."""
    return max(1, round(rgb.shape[1] / scale)), max(1, round(rgb.shape[0] / scale))


def _levels(rgb: np.ndarray, scales: list[float], rgb_scale: float = 1.0) -> dict[float, np.ndarray]:
    """The photo at each scale (RGB), from ``rgb`` (the photo at ``rgb_scale``).  A
    mild reduction (to at least half) is bilinear and each coarser level is made from the one before it
    (``INTER_AREA`` over a whole 12 MP photo costs ~0.2 s, bilinear ~0.02 s)."""
    width, height = photo_size(rgb, rgb_scale)
    levels: dict[float, np.ndarray] = {}
    source, source_scale = rgb, rgb_scale
    for scale in scales:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if abs(scale - source_scale) < 1e-9 or (source is rgb and size == (rgb.shape[1], rgb.shape[0])):
            level = source
        else:
            mild = scale / source_scale >= 0.5
            level = cv2.resize(source, size, interpolation=cv2.INTER_LINEAR if mild else cv2.INTER_AREA)
        levels[scale] = level
        source, source_scale = level, scale
    return levels


def _drop_seam_boxes(found: np.ndarray, t: Tile, margin: float = 2.0) -> np.ndarray:
    """Boxes cut by a seam: the overlap holds the whole face in a neighbour tile (or a coarser level)."""
    if not len(found):
        return found
    left, top, right, bottom = t.inner_edges()
    x1, y1 = found[:, 0], found[:, 1]
    x2, y2 = x1 + found[:, 2], y1 + found[:, 3]
    cut = np.zeros(len(found), bool)
    if left:
        cut |= x1 <= margin
    if top:
        cut |= y1 <= margin
    if right:
        cut |= x2 >= t.width - margin
    if bottom:
        cut |= y2 >= t.height - margin
    return found[~cut]
