"""The ``lookalike`` command as a person runs it: real processes, real photos, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "160", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "lookalike", *args], capture_output=True, text=True, env=full_env, timeout=300
    )


def test_match_json_names_obama_and_biden(data: Path, small_gallery: Path) -> None:
    photo = data / "group" / "face_recognition__two_people.jpg"
    out = run("match", str(photo), "--gallery", str(small_gallery), "--watch", "Joseph_Biden,Madonna", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    result = doc["photos"][0]
    assert result["error"] is None
    faces = sorted(result["faces"], key=lambda f: f["box"]["left"])
    assert [f["identity"] for f in faces] == ["Barack_Obama", "Joseph_Biden"]
    for face in faces:
        assert set(face["box"]) == {"left", "top", "right", "bottom"}
        match = face["matches"][0]
        assert {"name", "distance", "similarity"} <= set(match)
        assert match["distance"] < 0.6 and match["similarity"] > 0.5
        assert len({m["name"] for m in face["matches"]}) == len(face["matches"]) == 5
        assert face["hints"] == [] and face["quality_measures"]["size"] == face["size"]  # sharp, frontal, lit
        # Where each lookalike falls among LFW's pairs of strangers (the default model has its table).
        assert all(0.0 <= m["percentile"] <= 100.0 for m in face["matches"])
        percentiles = [m["percentile"] for m in face["matches"]]
        assert percentiles == sorted(percentiles, reverse=True) and match["percentile"] > 99
    assert result["watch"] == {"faces": True, "Joseph_Biden": True, "Madonna": False}


def test_match_json_and_table_carry_the_quality_hints(data: Path, small_gallery: Path, tmp_path: Path) -> None:
    """The two people's photo blurred (made here): each face says "blurred", with the measures behind it."""
    import cv2

    from .conftest import jpeg_bytes, read_rgb

    photo = tmp_path / "blurred.jpg"
    image = read_rgb(data / "group" / "face_recognition__two_people.jpg")
    photo.write_bytes(jpeg_bytes(cv2.GaussianBlur(image, (0, 0), 6)))  # faces ~170 px: 3.5% of the face
    out = run("match", str(photo), "--gallery", str(small_gallery), "--json")
    assert out.returncode == 0, out.stderr
    faces = json.loads(out.stdout)["photos"][0]["faces"]
    assert len(faces) == 2
    for face in faces:
        assert face["hints"] == ["blurred"]
        measures = face["quality_measures"]
        assert set(measures) == {"size", "sharpness", "brightness", "contrast", "yaw", "pitch"}
        assert measures["sharpness"] < 0.18 and measures["brightness"] > 0.2 and face["quality"] == "high"
    table = run("match", str(photo), "--gallery", str(small_gallery))
    assert table.returncode == 0 and "blurred" in table.stdout and "sharper" in table.stdout


def test_match_table_and_gallery_from_environment(data: Path, small_gallery: Path) -> None:
    photo = data / "group" / "face_recognition__kit_with_rose.jpg"
    out = run("match", str(photo), "--top", "2", env={"LOOKALIKE_GALLERY": str(small_gallery)})
    assert out.returncode == 0, out.stderr
    assert "Kit Harington" in out.stdout and "Rose Leslie" in out.stdout


def test_bad_inputs_give_clear_messages_not_tracebacks(data: Path, small_gallery: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("just text")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    good = (data / "small" / "face_recognition" / "Joseph_Biden" / "Joseph_Biden_0001.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good[: len(good) // 2])
    missing = tmp_path / "missing.jpg"
    out = run("match", str(text), str(empty), str(cut), str(missing), "--gallery", str(small_gallery), "--json")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    codes = [p["error"]["code"] for p in json.loads(out.stdout)["photos"]]
    assert codes == ["not_an_image", "empty", "truncated", "unreadable"]
    table = run("match", str(text), "--gallery", str(small_gallery))
    assert "not an image" in table.stdout and "Traceback" not in table.stderr


def test_a_stranger_table_is_measured_on_all_of_pairs_txt(tmp_path: Path) -> None:
    out = run("eval", "lfw", "--limit", "2", "--strangers-out", str(tmp_path))
    assert out.returncode == 2 and "--strangers-out measures the engine on all of pairs.txt" in out.stderr
    assert "Traceback" not in out.stderr and not list(tmp_path.iterdir())


def test_unknown_watch_name_and_missing_gallery(data: Path, small_gallery: Path, tmp_path: Path) -> None:
    photo = str(data / "group" / "face_recognition__two_people.jpg")
    out = run("match", photo, "--gallery", str(small_gallery), "--watch", "Joe_Biden")
    assert out.returncode == 2 and "did you mean 'Joseph_Biden'" in out.stderr and "Traceback" not in out.stderr
    out = run("match", photo, "--gallery", str(tmp_path / "none"))
    assert out.returncode == 2 and "gallery build" in out.stderr and "Traceback" not in out.stderr


def test_gallery_build_info_add_remove(data: Path, tmp_path: Path) -> None:
    src = data / "small" / "facenet_pytorch"
    g = tmp_path / "g"
    home = {"LOOKALIKE_HOME": str(tmp_path / "home")}  # `gallery remove` writes the removal list there
    out = run("gallery", "build", str(src), "--out", str(g), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["added"] == 5 and report["people"] == 5 and report["pick"] == "centre"
    out = run("gallery", "build", str(src), "--out", str(g), "--json")
    assert json.loads(out.stdout)["unchanged"] == 5
    photo = str(
        data / "small" / "five_celeb" / "Madonna" / sorted(os.listdir(data / "small" / "five_celeb" / "Madonna"))[0]
    )
    assert run("gallery", "add", "Madonna", photo, "--gallery", str(g)).returncode == 0
    info = json.loads(run("gallery", "info", "--gallery", str(g), "--json").stdout)
    assert info["people"] == 6 and info["format_version"] == "3"
    removed = run("gallery", "remove", "Madonna", "--gallery", str(g), env=home)
    assert removed.returncode == 0 and "1 face(s) of Madonna taken out of the gallery" in removed.stdout
    assert json.loads(run("gallery", "info", "--gallery", str(g), "--json").stdout)["people"] == 5
    assert (tmp_path / "home" / "removals.txt").read_text().startswith("Madonna  # Madonna, ")
    out = run("gallery", "remove", "Nobody_Here", "--gallery", str(g), env=home)
    assert out.returncode == 2 and "not in the gallery" in out.stderr


@pytest.mark.slow
def test_eval_lfw_and_identify_commands(data: Path) -> None:
    out = run("eval", "lfw", "--lfw", str(data / "lfw"), "--folds", "1,2", "--limit", "15", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["pairs"] == 60 and len(report["per_fold"]) == 2
    assert report["accuracy"] >= 0.9 and report["per_fold"][0]["threshold_from"] == "other folds"
    out = run(
        "eval",
        "identify",
        "--gallery-src",
        str(data / "small" / "face_recognition"),
        "--queries",
        str(data / "small" / "face_recognition"),
        "--json",
    )
    report = json.loads(out.stdout)
    assert report["rank1"] == 1.0 and report["queries_in_gallery"] == 15


def test_eval_quality_measures_the_hints_on_each_set(data: Path) -> None:
    out = run("eval", "quality", "--people", "3", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    rows = {(r["set"], r["variant"]): r for r in report["variants"]}
    assert {s for s, _ in rows} == {"LFW (tune)", "celeb_mini (check)", "small/ + group/ (check)"}
    for name in ("LFW (tune)", "celeb_mini (check)"):
        blurred = rows[(name, "blur 5%")]
        assert blurred["expected"] == "blurred" and blurred["hinted"]["blurred"] >= 0.6
        assert blurred["median_shift"] > 0.3
        assert rows[(name, "face 32 px")]["hinted"]["small"] == 1.0
    assert report["thresholds"]["blurred"] == 0.18 and report["poses"]
    table = run("eval", "quality", "--people", "2")
    assert table.returncode == 0 and "hints per variant" in table.stdout and "celeb_mini (check)" in table.stdout


def test_bench_engine_prints_stage_medians(data: Path) -> None:
    photo = data / "group" / "face_recognition__two_people.jpg"
    out = run("bench", "engine", str(photo), "--sizes", "0,1", "--repeat", "1", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [p["faces"] for p in doc["photos"]] == [2, 2]
    assert all(p["ours_ms"]["embed"] > 0 and p["ours_ms"]["total"] > 0 for p in doc["photos"])


def test_bench_engine_without_the_peers_python_says_how_to_get_it(data: Path, tmp_path: Path) -> None:
    photo = data / "group" / "face_recognition__two_people.jpg"
    missing = {"LOOKALIKE_PEERS_PYTHON": str(tmp_path / "no-python")}
    out = run("bench", "engine", str(photo), "--repeat", "1", "--vs", "insightface", env=missing)
    assert out.returncode != 0 and "make bench-env" in out.stdout + out.stderr
    assert "Traceback" not in out.stderr


PEERS_PYTHON = Path(os.environ.get("LOOKALIKE_PEERS_PYTHON", Path(__file__).parents[1] / ".venv-peers/bin/python"))


@pytest.mark.skipif(not PEERS_PYTHON.is_file(), reason="InsightFace's own Python is not here: make bench-env")
def test_bench_engine_against_insightface_counts_its_faces_beside_ours(data: Path, tmp_path: Path) -> None:
    """The real peer, in its own Python: its boxes of a real photo are counted against ours."""
    photo = data / "group" / "face_recognition__obama_and_biden.jpg"
    env = {"LOOKALIKE_PEERS_PYTHON": str(PEERS_PYTHON), "LOOKALIKE_INSIGHTFACE_ROOT": str(tmp_path / "insightface")}
    out = run("bench", "engine", str(photo), "--repeat", "1", "--vs", "insightface", "--json", env=env)
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)["photos"]
    peer = row["peers"]["insightface"]
    assert peer["faces"] >= 2 and peer["matched"] == peer["faces"] and not peer["worse"]
    assert peer["ms"] > 0 and peer["speedup"] > 0
    assert (tmp_path / "insightface" / "models" / "buffalo_s" / "det_500m.onnx").is_file()  # placed, not downloaded


def test_gallery_of_another_model_is_refused_then_replaced_when_asked(data: Path, tmp_path: Path) -> None:
    """Switching the embedding model: the old gallery is kept until the new one is complete."""
    source = data / "small" / "five_celeb"
    out = tmp_path / "gallery"
    built = run("gallery", "build", str(source), "--out", str(out), "--json", env={"LOOKALIKE_EMBEDDING": "dlib"})
    assert built.returncode == 0, built.stderr
    again = run("gallery", "build", str(source), "--out", str(out), "--json")
    assert again.returncode != 0 and "--replace-other-model" in again.stderr and "Traceback" not in again.stderr
    replaced = run("gallery", "build", str(source), "--out", str(out), "--replace-other-model", "--json")
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(replaced.stdout)["faces"] == json.loads(built.stdout)["faces"]
    from lookalike.engine.embedding import embedding_id
    from lookalike.gallery.store import embedding_of
    from lookalike.settings import Settings

    assert embedding_of(out) == embedding_id(Settings())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gallery"]  # nothing left beside it
