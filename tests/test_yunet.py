"""YuNet on a tiled pyramid: coordinates mapped back, seams, small faces in big photos, the engine option."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lookalike.engine import yunet
from lookalike.engine.yunet import YuNet, nms, pyramid_scales, tiles
from lookalike.settings import Settings

from .conftest import read_rgb


@pytest.fixture(scope="module")
def yunet_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose models directory holds a checked YuNet file (copied from its package, as setup does)."""
    from lookalike.engine import weights

    settings = Settings(home=tmp_path_factory.mktemp("home"), detector="yunet")
    try:
        weights.install(settings, ("yunet",))
    except weights.ModelError as exc:
        pytest.skip(f"YuNet model not available: {exc}")
    return settings


def test_pyramid_covers_small_and_large_photos() -> None:
    assert pyramid_scales(250, 250) == [1.0]  # small photos: one look at full size
    scales = pyramid_scales(4032, 3024)
    assert scales[0] == pytest.approx(yunet.FINE_SCALE)  # a 40 px face becomes 20 px
    assert pyramid_scales(1800, 1350)[0] == 1.0  # up to FINE_SIDE: scanned whole at full size
    assert pyramid_scales(2800, 2000)[0] == pytest.approx(1800 / 2800)  # then no smaller than FINE_SIDE
    assert pyramid_scales(3464, 3464)[0] == 0.5  # unless that is near FINE_SCALE: a square 12 MP photo
    assert pyramid_scales(4000, 3000)[0] == 0.5  # phones' 12 MP: FINE_SCALE, which a JPEG decodes to
    assert 4032 * scales[-1] <= yunet.COARSEST * 1.25  # a face filling the frame fits YuNet's view
    assert all(a / b <= yunet.LEVEL_STEP + 1e-9 for a, b in zip(scales, scales[1:]))


@pytest.mark.parametrize("size", [(4032, 3024), (5664, 4248), (8660, 5773), (1280, 960)])
def test_tiles_cover_every_level_with_overlap(size: tuple[int, int]) -> None:
    width, height = size
    by_level: dict[float, list[yunet.Tile]] = {}
    for t in tiles(width, height):
        by_level.setdefault(t.scale, []).append(t)
        assert t.width <= yunet.TILE and t.height <= yunet.TILE
    for level in by_level.values():
        lw, lh = level[0].level_width, level[0].level_height
        covered = np.zeros((lh, lw), bool)
        for t in level:
            covered[t.y0 : t.y0 + t.height, t.x0 : t.x0 + t.width] = True
        assert covered.all()
        xs = sorted({t.x0 for t in level})
        for a, b in zip(xs, xs[1:]):  # neighbours overlap by at least OVERLAP
            assert a + min(yunet.TILE, lw - a) - b >= yunet.OVERLAP


#: Photo sizes the default decoding limits let through, with the tiles each was scanned in before the
#: work per photo was bounded: the bound must not change their schedule (nor so their faces).
ORDINARY = {(250, 250): 1, (4032, 3024): 6, (5664, 4248): 11, (8660, 5773): 17, (7071, 7071): 18}
PANORAMAS = {(12000, 1500): 10, (18000, 2000): 15, (20000, 1667): 16, (1600, 16000): 13, (14204, 3520): 20}


@pytest.mark.parametrize("size", [*ORDINARY, *PANORAMAS])
def test_photos_the_limits_let_through_keep_their_schedule(size: tuple[int, int]) -> None:
    scan = tiles(*size)
    assert len(scan) == {**ORDINARY, **PANORAMAS}[size]
    assert scan[0].scale == (1.0 if size == (250, 250) else pytest.approx(yunet.FINE_SCALE))


@pytest.mark.parametrize(
    "size", [(1, 49_000_000), (49_000_000, 1), (3, 16_000_000), (16_000_000, 3), (100_000, 100_000), (10_000, 10_000)]
)
def test_detector_work_per_photo_is_bounded_whatever_its_shape(size: tuple[int, int]) -> None:
    """Strips (refused by decoding, but the engine may be handed any array) and huge photos: a bounded scan."""
    scan = tiles(*size)
    assert len(scan) <= yunet.MAX_TILES
    assert sum(t.width * t.height for t in scan) <= yunet.MAX_SCAN_PIXELS
    levels = sorted({t.scale for t in scan}, reverse=True)
    assert max(size) * levels[-1] <= yunet.COARSEST * 1.25  # still down to a copy where a whole-frame face fits


def test_the_worst_shapes_allowed_are_scanned_in_seconds(yunet_settings: Settings) -> None:
    """Thin PNGs took 57-444 s each; the widest panorama and the biggest photo allowed now take seconds."""
    import io
    import time

    from PIL import Image

    from lookalike.engine.decode import decode
    from lookalike.engine.engine import FaceEngine

    engine = FaceEngine(yunet_settings)
    for size in [(20_000, 1_667), (8_660, 5_773)]:
        out = io.BytesIO()
        Image.new("RGB", size, (120, 160, 200)).save(out, "PNG")
        start = time.perf_counter()
        image, _ = decode(out.getvalue(), yunet_settings)
        assert engine.detect(image) == []
        assert time.perf_counter() - start < 20, size  # ~2-3 s on a loaded 2-core machine


class _SquareFinder:
    """Stands in for the network: 'faces' are white squares; partial squares at a window's edge are
    reported as they appear, exactly as a real detector reports a face cut by the frame."""

    def detect(self, image: np.ndarray, rgb: bool = False) -> np.ndarray:
        n, _, stats, _ = cv2.connectedComponentsWithStats((image[:, :, 0] > 200).astype(np.uint8))
        rows = []
        for x, y, w, h, _area in stats[1:n]:
            if w >= 20:  # like YuNet: too small at this level is not seen
                cx, cy = x + w / 2, y + h / 2
                rows.append([x, y, w, h, *([cx, cy] * 5), 0.9])
        return np.array(rows, np.float32).reshape(-1, 15)


class _FakeYuNet(YuNet):
    def __init__(self) -> None:
        super().__init__("unused", threads=2)

    def _net(self) -> _SquareFinder:  # type: ignore[override]
        return _SquareFinder()


def test_boxes_map_back_and_a_face_on_a_seam_is_found_once() -> None:
    width, height = 4032, 3024
    image = np.zeros((height, width, 3), np.uint8)
    scale = pyramid_scales(width, height)[0]
    seam_tiles = [t for t in tiles(width, height) if t.scale == scale]
    second = sorted({t.x0 for t in seam_tiles})[1]  # where the second column of tiles starts (level px)
    squares = [
        (100, 100, 60),  # a small face in one tile
        (round((second + 30) / scale), 700, 80),  # inside the overlap of two tiles: seen whole by both
        (round((second + 150) / scale) - 40, 1500, 100),  # across the second tile's left edge: cut in one
        (2000, 2000, 900),  # a big face: found at a coarse level (and cut at the fine level's seams)
    ]
    for x, y, s in squares:
        image[y : y + s, x : x + s] = 255
    found = _FakeYuNet().detect(image)
    assert len(found) == len(squares), found[:, :4]
    for x, y, s in squares:
        near = [r for r in found if abs(r[0] - x) < 0.05 * s + 3 and abs(r[1] - y) < 0.05 * s + 3]
        assert len(near) == 1, (x, y, s, found[:, :4])
        assert near[0][2] == pytest.approx(s, rel=0.1, abs=3)
        assert near[0][4] == pytest.approx(x + s / 2, abs=0.05 * s + 3)  # landmarks mapped back too


def test_nms_keeps_the_best_of_overlapping_boxes_and_drops_a_part_inside_a_whole() -> None:
    boxes = np.array([[0, 0, 100, 100], [5, 5, 100, 100], [300, 300, 50, 50], [10, 10, 40, 40]], np.float32)
    scores = np.array([0.8, 0.9, 0.7, 0.95], np.float32)
    assert sorted(nms(boxes, scores)) == [1, 2]  # 0 overlaps the better 1; 3 lies inside 1 (a part of it)
    assert sorted(nms(boxes, np.array([0.9, 0.8, 0.7, 0.5], np.float32))) == [0, 2]


def _photo_with_face(data: Path, face: int, width: int, height: int, x: int, y: int) -> tuple[np.ndarray, tuple]:
    from PIL import Image

    from lookalike.bench.photos import _paste, background

    rng = np.random.default_rng(7)
    canvas: Image.Image = background(width, height, rng)
    placed = _paste(canvas, data / "lfw" / "Tony_Blair" / "Tony_Blair_0001.jpg", face, x, y)
    return np.asarray(canvas), (placed.left, placed.top, placed.right, placed.bottom)


def _iou(a: tuple, b: tuple) -> float:
    from lookalike.bench.engine import iou

    return iou(a, b)


@pytest.mark.parametrize("face", [45, 2500])
def test_small_and_huge_faces_in_a_12mp_photo_are_found(data: Path, yunet_settings: Settings, face: int) -> None:
    from lookalike.engine.engine import FaceEngine

    x, y = (1700, 1300) if face < 100 else (760, 250)
    image, truth = _photo_with_face(data, face, 4032, 3024, x, y)
    engine = FaceEngine(yunet_settings)
    detections = engine.detect(image)
    assert len(detections) == 1, [d.box for d in detections]
    box = detections[0].box
    assert _iou((box.left, box.top, box.right, box.bottom), truth) > 0.4
    assert detections[0].detector == "yunet" and len(detections[0].points) == 5
    faces = engine.describe(image, detections)
    assert all(box.left - 5 <= px <= box.right + 5 for px, _ in faces[0].landmarks)


def test_a_real_face_across_a_tile_seam_is_found_once(data: Path, yunet_settings: Settings) -> None:
    from lookalike.engine.engine import FaceEngine

    width, height = 4032, 3024
    scale = pyramid_scales(width, height)[0]
    second = sorted({t.x0 for t in tiles(width, height) if t.scale == scale})[1]
    first_end = min(yunet.TILE, round(width * scale))  # the first tile's right edge: a seam
    seam_x = round(first_end / scale)
    assert second < first_end * 1.0
    image, truth = _photo_with_face(data, 70, width, height, seam_x - 35, 1200)
    detections = FaceEngine(yunet_settings).detect(image)
    assert len(detections) == 1
    box = detections[0].box
    assert _iou((box.left, box.top, box.right, box.bottom), truth) > 0.4


def test_yunet_finds_the_group_and_every_face_of_a_24_face_collage(data: Path, yunet_settings: Settings) -> None:
    from lookalike.engine.engine import FaceEngine

    from .test_engine import _collage

    engine = FaceEngine(yunet_settings)
    assert len(engine.analyze(read_rgb(data / "group" / "face_recognition__two_people.jpg"))) == 2
    assert len(engine.detect(_collage(data, 24))) == 24


def test_embedding_from_a_right_sized_crop_matches_the_full_resolution_one(data: Path) -> None:
    """The chip cut from a small crop must describe the face as the full-resolution image did."""
    import dlib
    from PIL import Image

    from lookalike.engine import weights
    from lookalike.engine.embedding import Landmarks, calibration, scaled
    from lookalike.engine.engine import FaceEngine
    from lookalike.engine.resnet import CHIP_PADDING, CHIP_SIZE

    settings = Settings(detector="hog", embedding="dlib")  # dlib's model: its own landmarks and chip
    engine = FaceEngine(settings)
    original = Image.open(data / "group" / "face_recognition__two_people.jpg").convert("RGB")
    big = np.asarray(original.resize((original.width * 4, original.height * 4), Image.Resampling.LANCZOS))
    detections = engine.detect(big)
    assert len(detections) == 2
    # dlib's shapes and chips from the full-resolution image itself, as the engine did before crops
    predictor = dlib.shape_predictor(weights.dlib_file(weights.DLIB_LANDMARKS_5))
    shapes = [
        predictor(big, dlib.rectangle(d.box.left, d.box.top, d.box.right - 1, d.box.bottom - 1)) for d in detections
    ]
    chips = dlib.get_face_chips(big, dlib.full_object_detections(shapes), CHIP_SIZE, CHIP_PADDING)
    full = [
        Landmarks(np.array([(p.x, p.y) for p in s.parts()], np.float64), np.asarray(c)) for s, c in zip(shapes, chips)
    ]
    old = scaled(engine.embedder.embed(big, full), calibration(settings).radius)
    faces = engine.describe(big, detections)
    new = np.stack([f.embedding for f in faces])
    assert (np.linalg.norm(old - new, axis=1) < 0.08).all()
    for d, f, shape in zip(detections, faces, shapes):
        assert all(abs(p.x - x) < 0.03 * d.box.width + 2 for p, (x, _) in zip(shape.parts(), f.landmarks))


def test_landmarks_are_re_measured_at_one_face_size_whatever_the_photo_size(
    data: Path, yunet_settings: Settings
) -> None:
    """A face seen at 1x, 2x and 3x gets (nearly) the same 5 points once refined (REFINE_FACES)."""
    from lookalike.engine import weights

    detector = YuNet(str(weights.model_path("yunet", yunet_settings)))
    original = read_rgb(data / "group" / "face_recognition__two_people.jpg")
    refined = []
    for k in (1, 2, 3):
        photo = cv2.resize(original, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC) if k > 1 else original
        rows = detector.detect(photo)
        rows = rows[np.argsort(-rows[:, 2])][:2]  # the two people (finer scans may find a blurred face behind)
        assert (rows[:, 2] > 60 * k).all()
        rows = rows[np.argsort(rows[:, 0])]
        again = detector.refine(photo, rows)
        assert np.array_equal(again[:, :4], rows[:, :4])  # boxes kept; the points are what is re-measured
        refined.append(again[:, 4:14].reshape(2, 5, 2) / k)
    width = rows[:, 2] / 3
    spread = np.abs(np.array(refined) - np.mean(refined, axis=0)).max(axis=(0, 2, 3))
    assert (spread < 0.03 * width).all(), (spread, width)


def test_the_network_on_onnxruntime_finds_what_opencv_finds_with_the_shipped_file(
    data: Path, yunet_settings: Settings
) -> None:
    """The installed file (weights dequantized once, any input size) on onnxruntime, decoded by
    ``Network``, gives OpenCV's ``FaceDetectorYN`` boxes, points and scores on the official file."""
    from lookalike.engine import weights

    shipped = str(weights._package_file(weights.WEIGHT_FILES["yunet"]))
    network = yunet.Network(str(weights.model_path("yunet", yunet_settings)))
    photos = [data / "group" / "face_recognition__two_people.jpg", data / "detect" / "dlib_examples" / "bald_guys.jpg"]
    photos += sorted((data / "detect" / "dlib_examples").glob("2008_*.jpg"))[:3]
    compared = 0
    for path in photos:
        bgr = np.ascontiguousarray(read_rgb(path)[:, :, ::-1])
        if max(bgr.shape) > 1200:
            bgr = cv2.resize(bgr, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        height, width = bgr.shape[:2]
        cv2.setNumThreads(1)
        opencv = cv2.FaceDetectorYN.create(shipped, "", (width, height), yunet.SCORE_THRESHOLD, yunet.NMS_IOU, 5000)
        _, theirs = opencv.detect(bgr)
        ours = network.detect(bgr)
        assert theirs is not None and len(ours) == len(theirs), path.name
        ours, theirs = (a[np.lexsort((a[:, 1], a[:, 0]))] for a in (ours, theirs))
        assert np.abs(ours[:, :14] - theirs[:, :14]).max() < 0.01, path.name  # px
        assert np.abs(ours[:, 14] - theirs[:, 14]).max() < 1e-4, path.name
        compared += len(ours)
    assert compared > 30  # bald_guys alone holds ~25 faces


def test_the_installed_yunet_file_is_the_shipped_one_with_its_weights_dequantized(yunet_settings: Settings) -> None:
    import onnx

    from lookalike.engine import weights

    installed = onnx.load(str(weights.model_path("yunet", yunet_settings)))
    shipped = onnx.load(str(weights._package_file(weights.WEIGHT_FILES["yunet"])))
    assert not any(n.op_type == "DequantizeLinear" for n in installed.graph.node)
    assert sum(n.op_type == "Conv" for n in installed.graph.node) == sum(
        n.op_type == "Conv" for n in shipped.graph.node
    )
    dims = installed.graph.input[0].type.tensor_type.shape.dim
    assert (dims[2].dim_param, dims[3].dim_param) == ("height", "width")  # any input size
