"""`lookalike gallery build` takes a set or a folder of sets, and refuses a layout it cannot read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lookalike.errors import LookalikeError
from lookalike.gallery.build import expand_sets, scan_sources


def make(root: Path, files: list[str]) -> Path:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not read here")
    return root


def test_a_folder_of_sets_stands_for_its_sets(tmp_path: Path) -> None:
    root = make(tmp_path, ["lfw/Ada/a.jpg", "lfw/Bob/b.jpg", "small/five/Cy/c.png", "small/five/Di/d.jpg", "README.md"])
    assert expand_sets([root]) == [root / "lfw", root / "small" / "five"]
    photos, problems = scan_sources(expand_sets([root]))
    assert sorted(p.person for p in photos) == ["Ada", "Bob", "Cy", "Di"] and problems == []


def test_a_set_is_a_set(tmp_path: Path) -> None:
    root = make(tmp_path / "lfw", ["Ada/a.jpg", "Bob/b.jpg"])
    assert expand_sets([root]) == [root]


def test_mixed_layouts_are_refused_with_the_fix(tmp_path: Path) -> None:
    root = make(tmp_path, ["group/party.jpg", "lfw/Ada/a.jpg"])
    with pytest.raises(LookalikeError, match="Name the sets") as refused:
        expand_sets([root])
    assert "lfw" in refused.value.message and "group" in refused.value.message


def test_building_from_a_folder_without_photos_fails_instead_of_making_an_empty_gallery(tmp_path: Path) -> None:
    root = make(tmp_path / "src", ["notes/readme.txt"])
    (tmp_path / "nothing" / "empty").mkdir(parents=True)
    run = subprocess.run(
        [sys.executable, "-m", "lookalike", "gallery", "build", str(root), "--out", str(tmp_path / "g"), "--json"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "no face could be added" in run.stderr and "Traceback" not in run.stderr
    empty = subprocess.run(
        [
            sys.executable,
            "-m",
            "lookalike",
            "gallery",
            "build",
            str(tmp_path / "nothing"),
            "--out",
            str(tmp_path / "h"),
        ],
        capture_output=True,
        text=True,
    )
    assert empty.returncode == 2 and "no photos found" in empty.stderr


@pytest.mark.data
def test_progress_lines_when_not_on_a_terminal(data: Path, tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "lookalike",
            "gallery",
            "build",
            str(data / "small" / "facenet_pytorch"),
            "--out",
            str(tmp_path / "g"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "building: 5/5 (100%)" in run.stderr  # a plain line, not a terminal's progress bar
    assert json.loads(json.dumps(run.stdout)) and "\x1b[" not in run.stderr
