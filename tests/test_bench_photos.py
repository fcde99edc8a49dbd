"""The standard benchmark set: made from the data folder, deterministic, with a correct manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.bench import photos
from lookalike.bench.engine import cases_from_set, iou, matches


@pytest.fixture(scope="module")
def built(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    first, second = tmp_path_factory.mktemp("set_a"), tmp_path_factory.mktemp("set_b")
    photos.build(data, first, seed=3, classes=("1MP",))
    photos.build(data, second, seed=3, classes=("1MP",))
    return first, second


def test_the_same_seed_gives_byte_identical_photos_and_manifest(built: tuple[Path, Path]) -> None:
    first, second = built
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert "manifest.json" in names and len(names) > 10
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_another_seed_gives_other_people(data: Path, tmp_path: Path, built: tuple[Path, Path]) -> None:
    other = photos.build(data, tmp_path, seed=4, classes=("1MP",))
    mine = photos.load(built[0])
    people = [p.get("people") for p in mine["photos"] if p["kind"] == "synthetic"]
    assert people != [p.get("people") for p in other["photos"] if p["kind"] == "synthetic"]


def test_manifest_boxes_are_the_pasted_faces(built: tuple[Path, Path]) -> None:
    manifest = json.loads((built[0] / "manifest.json").read_text())
    synthetic = [p for p in manifest["photos"] if p["kind"] == "synthetic"]
    assert [len(p["faces"]) for p in synthetic] == [len(s) for s in photos.FACE_SIZES["1MP"]]
    for entry, sizes in zip(synthetic, photos.FACE_SIZES["1MP"]):
        image = Image.open(built[0] / entry["file"])
        assert image.size == photos.CANVASES["1MP"] == (entry["width"], entry["height"])
        widths = sorted(f["right"] - f["left"] for f in entry["faces"])
        assert widths == sorted(sizes)
        boxes = [(f["left"], f["top"], f["right"], f["bottom"]) for f in entry["faces"]]
        for i, a in enumerate(boxes):
            assert 0 <= a[0] < a[2] <= entry["width"] and 0 <= a[1] < a[3] <= entry["height"]
            assert all(iou(a, b) == 0 for b in boxes[i + 1 :])  # people do not overlap
        # the pixels at a face box are the pasted photo's, not the background's: skin-ish, not noise
        pixels = np.asarray(image.convert("RGB"), np.float32)
        for left, top, right, bottom in boxes:
            face = pixels[top:bottom, left:right]
            assert face.std(axis=(0, 1)).mean() > 5
    detect = [p for p in manifest["photos"] if p["kind"] == "detect"]
    assert sum(len(p["faces"]) for p in detect if p["size_class"] == "small") == 43  # dlib's ground truth
    tiled = next(p for p in detect if p["file"].startswith("detect_tiled"))
    assert len(tiled["faces"]) > 200 and Image.open(built[0] / tiled["file"]).size == (4000, 3000)
    assert any(p["kind"] == "group" and p["faces"] is None for p in manifest["photos"])


def test_small_faces_fill_12mp_canvases_at_the_smallest_size_found(built: tuple[Path, Path]) -> None:
    manifest = photos.load(built[0])
    small = [p for p in manifest["photos"] if p["kind"] == "small_faces"]
    assert [int(p["file"].split("_")[-1][:-6]) for p in small] == list(photos.SMALL_FACES)
    for entry, size in zip(small, photos.SMALL_FACES):
        assert (entry["width"], entry["height"]) == photos.CANVASES["12MP"] and len(entry["faces"]) >= 150
        assert {f["right"] - f["left"] for f in entry["faces"]} == {size}
        assert all(
            f["left"] >= 0 and f["right"] <= entry["width"] and f["bottom"] <= entry["height"] for f in entry["faces"]
        )
        assert len(set(entry["people"])) == len(entry["people"])  # each face another LFW person


def test_bench_reads_the_set_with_its_ground_truth(built: tuple[Path, Path]) -> None:
    cases = cases_from_set(built[0])
    first = cases[0]
    assert first.size_class == "1MP" and first.truth and first.megapixels == pytest.approx(1.2288)


def test_matches_counts_one_found_box_per_wanted_box() -> None:
    wanted = [(0, 0, 100, 100), (200, 0, 300, 100)]
    assert matches(wanted, [(5, 5, 105, 105)]) == 1
    assert matches(wanted, [(5, 5, 105, 105), (0, 0, 90, 90)]) == 1  # two boxes on one face count once
    assert matches(wanted, [(5, 5, 105, 105), (210, 10, 300, 100)]) == 2
    assert matches(wanted, [(400, 400, 500, 500)]) == 0


def test_worse_counts_missed_true_faces_not_the_other_pipelines_false_positives() -> None:
    from lookalike.bench.engine import Case, CaseResult, PeerRuns

    truth = [(0, 0, 100, 100), (200, 0, 300, 100)]
    case = Case("p", b"", 400, 400, truth, "1MP")
    ear = (350, 350, 380, 380)  # the peer's box where no true face is
    fine = CaseResult(case, boxes_ours=list(truth), peers={"fr": PeerRuns([1.0], [truth[0], ear])})
    assert not fine.worse("fr") and fine.missed_outside_truth("fr") == 1 and fine.matched("fr") == 1
    missed = CaseResult(case, boxes_ours=[truth[0]], peers={"fr": PeerRuns([1.0], list(truth))})
    assert missed.worse("fr") and missed.truth_ours == 1 and missed.truth_theirs("fr") == 2
    no_truth = CaseResult(
        Case("g", b"", 400, 400), boxes_ours=[truth[0]], peers={"fr": PeerRuns([1.0], [truth[0], ear])}
    )
    assert no_truth.worse("fr")  # without ground truth every face it found counts
    both = CaseResult(
        case, [{"total": 0.5}], list(truth), {"a": PeerRuns([1.0], list(truth)), "b": PeerRuns([2.0], [])}
    )
    peers = both.as_dict()["peers"]
    assert peers["a"]["speedup"] == 2.0 and peers["b"]["speedup"] == 4.0 and peers["b"]["faces"] == 0
    assert not peers["a"]["worse"] and not peers["b"]["worse"]
