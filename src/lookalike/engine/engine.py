"""The face engine: an RGB array in, every face with its box, landmarks, quality and embedding out.

Detection looks at copies of the right size, never at more pixels than a face size needs: YuNet
on a tiled pyramid (``engine/yunet.py``: faces from 40 px to full frame), or HOG on a bounded copy.
Landmarks and the aligned chip come from a crop around each face, resized to what the chip needs,
so a big face in a 12 MP photo costs what a small one does.  The embedding model (``fused`` by
default, ``sface`` or ``dlib``) is one module of ``engine/embedding/``.  See ``docs/engine.md``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import cv2
import dlib
import numpy as np
from PIL import Image

from lookalike.engine import weights
from lookalike.engine.align import canonical_face
from lookalike.engine.decode import Photo
from lookalike.engine.embedding import Landmarks, embedding_id, embedding_model, scaled
from lookalike.engine.explain import SHIFT_SETS, AlignedFace, Explanation, explain
from lookalike.engine.quality import FaceQuality, measure
from lookalike.engine.resnet import CHIP_PADDING, CHIP_SIZE
from lookalike.engine.weights import ModelError
from lookalike.engine.yunet import YuNet, bounded_scales
from lookalike.errors import LookalikeError
from lookalike.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float  # detector confidence: HOG margin (0 = at threshold), CNN or YuNet confidence
    detector: str  # "hog", "cnn" or "yunet"
    #: YuNet's 5 points (right eye, left eye, nose tip, right and left mouth corners); empty for dlib's detectors
    points: tuple[tuple[float, float], ...] = ()
    #: YuNet's own box (x, y, w, h), before it is turned into the box dlib's shape predictor expects
    yunet_box: tuple[float, float, float, float] | None = None

    def scaled(self, factor: float) -> Detection:
        """This detection in a copy of the photo ``factor`` times its size."""
        if factor == 1.0:
            return self
        b = self.box
        box = Box(round(b.left * factor), round(b.top * factor), round(b.right * factor), round(b.bottom * factor))
        points = tuple((x * factor, y * factor) for x, y in self.points)
        yunet_box = None if self.yunet_box is None else tuple(v * factor for v in self.yunet_box)
        return Detection(box, self.score, self.detector, points, yunet_box)  # type: ignore[arg-type]


@dataclass
class Face:
    box: Box
    #: The 5 points the face was aligned on: YuNet's (eye centres, nose tip, mouth corners) for the
    #: ``fused`` and ``sface`` models, dlib's (two corners of each eye, base of the nose) for ``dlib``.
    landmarks: list[tuple[int, int]]
    score: float
    detector: str
    embedding: np.ndarray  # float32[dim of the model]; faces of one person are < 0.6 apart (Euclidean)
    #: How good the photo of this face is for matching, and the hints it earns (``engine/quality.py``).
    measures: FaceQuality | None = None
    #: The 5 points unrounded (5x2 float, photo coordinates), as the face was aligned on.
    points: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def aligned_on(self) -> np.ndarray:
        """The 5 points to align this face on again (5x2 float): unrounded where known."""
        return self.points if self.points is not None else np.asarray(self.landmarks, np.float64)

    @property
    def size(self) -> int:
        """Face size in pixels of the original photo (the box's shorter side)."""
        return min(self.box.width, self.box.height)

    @property
    def quality(self) -> str:
        """A coarse signal for people: small or low-confidence faces match less reliably."""
        if self.size < 60 or self.score < 0.0:
            return "low"
        if self.size < 100 or self.score < 0.5:
            return "medium"
        return "high"


@dataclass
class Timings:
    """Seconds spent per stage, for the benchmark command."""

    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - start


@dataclass(frozen=True)
class DetectionPlan:
    """How the detector will look at a photo of a given size."""

    scale: float  # detection copy size / original size (<= 1)
    upsample: int  # dlib's pyramid upsampling (each level doubles the resolution)

    @property
    def min_face(self) -> float:
        """Smallest face (pixels of the original) the HOG detector can find with this plan."""
        return 80.0 / (self.scale * 2**self.upsample)


__all__ = ["Box", "Detection", "Face", "FaceEngine", "FaceQuality", "Photo", "Timings", "embedding_id"]


def plan_detection(width: int, height: int, settings: Settings) -> DetectionPlan:
    """Pick the detection copy's size: about a fifth of the photo's pixels, within fixed bounds.

    Small photos are upsampled (so LFW-sized crops are scanned exactly as face_recognition does);
    large ones are scanned at 0.5–2.5 MP, which finds faces down to ~4–10% of the long side.
    """
    pixels = width * height
    target = min(max(pixels / 5, settings.detect_min_pixels), settings.detect_max_pixels)
    scale = min(1.0, math.sqrt(target / pixels))
    upsample = 1 if scale == 1.0 and pixels * 4 <= settings.upsample_limit_pixels else 0
    return DetectionPlan(scale=scale, upsample=upsample)


class FaceEngine:
    """Loads its models once and analyses photos.  Not thread-safe: use one per process.

    The embedding model is the settings' (``engine/embedding/``): the engine finds the 5 points it is
    aligned on (YuNet's or dlib's, as the model says) and scales its vectors to the model's radius."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.model = embedding_model(self.settings)
        self.embedder = self.model.create(self.settings)
        self._radius = self.model.calibration(self.settings.embed_flip).radius
        if self.settings.explain_looks not in SHIFT_SETS:
            looks = ", ".join(map(str, sorted(SHIFT_SETS)))
            raise LookalikeError(
                f"LOOKALIKE_EXPLAIN_LOOKS must be one of {looks}, not {self.settings.explain_looks}.",
                code="bad_setting",
            )
        self._hog = dlib.get_frontal_face_detector()
        self._shape: dlib.shape_predictor | None = None
        if self.model.landmarks == "dlib":
            self._shape_predictor()
        self._cnn: object | None = None
        self._yunet: YuNet | None = None
        self._yunet_missing = False

    # -- detection ---------------------------------------------------------------------------

    def decode_scale(self, width: int, height: int) -> float:
        """The smallest scale of a ``width`` x ``height`` photo this engine's detector looks at: a photo
        may be decoded that small (:func:`~lookalike.engine.decode.decode_photo`); faces that need more
        are described from the full photo, decoded then."""
        if self.detector_mode() == "yunet":
            return bounded_scales(width, height)[0]
        return 1.0

    def detect(self, image: np.ndarray | Photo, timings: Timings | None = None) -> list[Detection]:
        """Find faces, largest first, in photo coordinates.  ``image`` is HxWx3 uint8 RGB, or a
        :class:`Photo` (perhaps decoded reduced).

        ``auto`` is YuNet when its model is installed (``lookalike models install``), else HOG with the
        CNN fallback; ``yunet``, ``hog`` and ``cnn`` force one detector."""
        timings = timings or Timings()
        photo = as_photo(image)
        width, height = photo.width, photo.height
        mode = self.detector_mode()
        found: list[Detection] = []
        if mode == "yunet":
            with timings.stage("detect"):
                found = self._run_yunet(photo)
        if mode in ("hog", "auto"):
            plan = plan_detection(width, height, self.settings)
            with timings.stage("resize"):
                small = _resized(photo.full(), plan.scale)
            with timings.stage("detect"):
                found = self._run_hog(small, plan.upsample, plan.scale, width, height)
        if mode == "cnn" or (mode == "auto" and not found):
            with timings.stage("detect_cnn"):
                found = self._run_cnn(photo.full())
        found.sort(key=lambda d: d.box.width * d.box.height, reverse=True)
        return found

    def detector_mode(self) -> str:
        """The detector actually used: ``auto`` resolves to ``yunet`` when its model file is installed."""
        mode = self.settings.detector
        if mode not in ("auto", "yunet", "hog", "cnn"):
            raise LookalikeError(f"unknown detector {mode!r}: auto, yunet, hog or cnn", code="bad_setting")
        if self.model.landmarks == "yunet":
            if mode in ("hog", "cnn"):
                raise LookalikeError(
                    f"The {self.model.name!r} embedding aligns faces on YuNet's landmarks: use LOOKALIKE_DETECTOR=auto "
                    f"or yunet, or LOOKALIKE_EMBEDDING=dlib with the {mode!r} detector.",
                    code="bad_setting",
                )
            self._load_yunet()  # installed on first use, or a clear error now
            return "yunet"
        if mode == "auto":
            if self._yunet is None and not self._yunet_missing:
                try:
                    self._load_yunet()
                except ModelError as exc:
                    log.warning("YuNet is not available (%s): detecting with HOG and the CNN fallback", exc.message)
                    self._yunet_missing = True
            return "auto" if self._yunet_missing else "yunet"
        return mode

    def _load_yunet(self) -> YuNet:
        if self._yunet is None:
            self._yunet = YuNet(str(weights.model_path("yunet", self.settings)))
        return self._yunet

    def _run_yunet(self, photo: Photo) -> list[Detection]:
        width, height = photo.width, photo.height
        out = []
        for row in self._load_yunet().detect(photo.pixels, photo.scale):
            box = _dlib_like_box(row[:4], width, height)
            if box.width < 2 or box.height < 2:
                continue
            points = tuple((float(row[4 + 2 * i]), float(row[5 + 2 * i])) for i in range(5))
            yunet_box = (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
            out.append(Detection(box, float(row[14]), "yunet", points, yunet_box))
        return out

    def _run_hog(self, small: np.ndarray, upsample: int, scale: float, width: int, height: int) -> list[Detection]:
        rects, scores, _ = self._hog.run(small, upsample, 0.0)
        return [Detection(_scale_box(r, scale, width, height), float(s), "hog") for r, s in zip(rects, scores)]

    def _run_cnn(self, image: np.ndarray) -> list[Detection]:
        """dlib's CNN (MMOD) detector: finds turned and harder faces, but ~100x slower than HOG here."""
        if self._cnn is None:
            self._cnn = dlib.cnn_face_detection_model_v1(weights.dlib_file(weights.DLIB_CNN_DETECTOR))
        height, width = image.shape[:2]
        scale = min(1.0, math.sqrt(self.settings.cnn_max_pixels / (width * height)))
        small = _resized(image, scale)
        results = self._cnn(small, 0)  # type: ignore[operator]
        return [Detection(_scale_box(d.rect, scale, width, height), float(d.confidence), "cnn") for d in results]

    # -- why two faces look alike --------------------------------------------------------------

    @property
    def radius(self) -> float:
        """The length of this engine's vectors (distances between them are Euclidean)."""
        return self._radius

    @property
    def explains(self) -> bool:
        """Whether :meth:`explain` can: the model aligns on YuNet's 5 points (not ``dlib``'s own chips)."""
        return self.model.landmarks == "yunet"

    def aligned(self, image: np.ndarray | Photo, face: Face) -> AlignedFace:
        """``face`` of ``image`` aligned onto the frame the gallery's aligned faces are in."""
        source, factor = _source(as_photo(image), [face.size])
        aligned, points = canonical_face(source, face.aligned_on * factor)
        return AlignedFace(aligned, points)

    def explain(self, face: AlignedFace, others: list[AlignedFace]) -> list[Explanation]:
        """Which parts make ``face`` look like each of ``others`` (``engine/explain.py``); [] if it cannot."""
        if not self.explains:
            return []
        looks = SHIFT_SETS[self.settings.explain_looks]
        return explain(self.embedder, self._radius, face, others, looks, self.settings.explain_mirror)

    # -- landmarks and embeddings -----------------------------------------------------------

    def analyze(
        self, image: np.ndarray | Photo, max_faces: int | None = None, timings: Timings | None = None
    ) -> list[Face]:
        """Detect, then compute landmarks and embeddings of the ``max_faces`` largest faces."""
        timings = timings or Timings()
        photo = as_photo(image)
        detections = self.detect(photo, timings)
        limit = self.settings.max_faces if max_faces is None else max_faces
        return self.describe(photo, detections[:limit], timings)

    def describe(
        self, image: np.ndarray | Photo, detections: list[Detection], timings: Timings | None = None
    ) -> list[Face]:
        """Landmarks and embeddings of given detections (photo coordinates), each from a crop of the size
        its chip needs: of the reduced copy a :class:`Photo` was decoded as, when every face is big enough
        there (``DESCRIBE_FACE``), else of the full photo."""
        timings = timings or Timings()
        if not detections:
            return []
        photo = as_photo(image)
        sizes = [min(d.box.width, d.box.height) for d in detections]
        with timings.stage("decode"):
            image, factor = _source(photo, sizes)
        boxes = [d.box for d in detections]
        detections = [d.scaled(factor) for d in detections]
        with timings.stage("landmarks"):
            if self.model.landmarks == "yunet":
                faces = [Landmarks(points) for points in self._precise_points(image, detections)]
            else:
                faces = [self.face_crop(image, d.box) for d in detections]
            yunet_points = self.model.landmarks == "yunet"
            measures = [measure(image, face.points, size, yunet_points) for size, face in zip(sizes, faces)]
        with timings.stage("embed"):
            vectors = scaled(self.embedder.embed(image, faces), self._radius)
        out = []
        for box, det, face, vector, quality in zip(boxes, detections, faces, vectors, measures):
            points = np.asarray(face.points, np.float64) / factor
            landmarks = [(round(x), round(y)) for x, y in points]
            out.append(Face(box, landmarks, det.score, det.detector, vector, quality, points=points))
        return out

    def yunet_points(self, image: np.ndarray | Photo, detections: list[Detection]) -> list[np.ndarray | None]:
        """Each detection's 5 YuNet points as :meth:`describe` measures them for a model aligning on them
        (refined, 5x2 float: a ``Face.points``), or None for a detection of dlib's detectors (no points)."""
        found = [d for d in detections if d.yunet_box is not None and d.points]
        source, factor = _source(as_photo(image), [min(d.box.width, d.box.height) for d in found])
        local = [d.scaled(factor) for d in found]
        refined = iter([p / factor for p in self._precise_points(source, local)] if found else [])
        return [next(refined) if d.yunet_box is not None and d.points else None for d in detections]

    def _precise_points(self, image: np.ndarray, detections: list[Detection]) -> list[np.ndarray]:
        """YuNet's 5 points of each face (5x2), re-measured on a crop where the face has one fixed size
        (``YuNet.refine``), so a face gets the same points in a 1 MP and a 24 MP photo."""
        rows = np.array([[*d.yunet_box, *np.ravel(d.points), d.score] for d in detections], dtype=np.float32)
        refined = self._load_yunet().refine(image, rows)
        return [row[4:14].reshape(5, 2).astype(np.float64) for row in refined]

    def _shape_predictor(self) -> dlib.shape_predictor:
        if self._shape is None:
            self._shape = dlib.shape_predictor(weights.dlib_file(weights.DLIB_LANDMARKS_5))
        return self._shape

    def face_crop(self, image: np.ndarray, box: Box) -> Landmarks:
        """dlib's 5 points and aligned chip from a crop around ``box`` (with room for any rotation),
        downscaled so the face is ``CROP_FACE`` px: never the whole full-resolution photo."""
        height, width = image.shape[:2]
        side = max(box.width, box.height)
        margin = round(side * CROP_MARGIN)
        x0, y0 = max(0, box.left - margin), max(0, box.top - margin)
        x1, y1 = min(width, box.right + margin), min(height, box.bottom + margin)
        crop = image[y0:y1, x0:x1]
        scale = min(1.0, CROP_FACE / side)
        if scale < 1.0:
            size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        else:
            crop = np.ascontiguousarray(crop)
        rect = dlib.rectangle(
            round((box.left - x0) * scale),
            round((box.top - y0) * scale),
            round((box.right - x0) * scale) - 1,
            round((box.bottom - y0) * scale) - 1,
        )
        shape = self._shape_predictor()(crop, rect)
        chip = dlib.get_face_chip(crop, shape, CHIP_SIZE, CHIP_PADDING)
        points = np.array([(p.x / scale + x0, p.y / scale + y0) for p in shape.parts()], dtype=np.float64)
        return Landmarks(points, np.asarray(chip))


#: A face is described from the reduced copy of a photo if it is at least this many px there (its box's
#: shorter side): every chip and crop of it is then made smaller than that (dlib's 200 px crop, the
#: 184 px aligned frame, the 150 and 112 px chips), so the full photo adds nothing to it.
DESCRIBE_FACE = 200


def as_photo(image: np.ndarray | Photo) -> Photo:
    return image if isinstance(image, Photo) else Photo.of(image)


def _source(photo: Photo, sizes: list[int]) -> tuple[np.ndarray, float]:
    """The copy to describe faces of these sizes (photo px) from, and its scale: the reduced copy if each
    face is ``DESCRIBE_FACE`` px there, else the full photo (decoded now if it was not)."""
    if photo.scale < 1.0 and all(size * photo.scale >= DESCRIBE_FACE for size in sizes):
        return photo.pixels, photo.scale
    return photo.full(), 1.0


#: The face is resized to this many px (box side) before landmarks and alignment: the 150 px chip
#: holds the face at ~100 px, so this keeps every pixel the chip can use (measured: see docs/engine.md).
CROP_FACE = 200
#: Room around the box (times its side) for dlib's chip, which is rotated and padded by 25%.
CROP_MARGIN = 0.6

#: YuNet's box -> the box dlib's shape predictor was trained on (HOG-like), as offsets in units of
#: YuNet's box width/height, fitted on LFW (docs/engine.md).
YUNET_TO_DLIB = (-0.07, 0.11, 0.07, -0.03)


def _dlib_like_box(xywh: np.ndarray, width: int, height: int) -> Box:
    x, y, w, h = (float(v) for v in xywh)
    dl, dt, dr, db = YUNET_TO_DLIB
    return Box(
        left=max(0, round(x + dl * w)),
        top=max(0, round(y + dt * h)),
        right=min(width, round(x + w + dr * w)),
        bottom=min(height, round(y + h + db * h)),
    )


def _resized(image: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    pil = Image.fromarray(image)
    factor = int(1 / scale) // 2  # cheap integer box reduction first, then a good filter for the rest
    if factor >= 2:
        pil = pil.reduce(factor)
    return np.asarray(pil.resize(size, Image.Resampling.BILINEAR))


def _scale_box(rect: dlib.rectangle, scale: float, width: int, height: int) -> Box:
    inv = 1.0 / scale
    return Box(
        left=max(0, round(rect.left() * inv)),
        top=max(0, round(rect.top() * inv)),
        right=min(width, round((rect.right() + 1) * inv)),
        bottom=min(height, round((rect.bottom() + 1) * inv)),
    )
