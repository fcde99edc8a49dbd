"""Shared fixtures: the real photo folder (skip where absent), one engine, a small real gallery."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lookalike.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    configured = os.environ.get("LOOKALIKE_DATA_DIR")
    return Path(configured) if configured else ROOT.parent / "shared" / "data"


DATA = data_dir()
HAVE_DATA = (DATA / "lfw").is_dir() and (DATA / "small").is_dir()
needs_data = pytest.mark.skipif(
    not HAVE_DATA, reason=f"real face photos not found at {DATA} (set LOOKALIKE_DATA_DIR to the shared data folder)"
)


@pytest.fixture(scope="session")
def data() -> Path:
    if not HAVE_DATA:
        pytest.skip(f"real face photos not found at {DATA} (set LOOKALIKE_DATA_DIR)")
    return DATA


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("home")
    return Settings(home=home, data_dir=DATA)


@pytest.fixture(scope="session")
def engine(settings: Settings):  # type: ignore[no-untyped-def]
    from lookalike.engine.engine import FaceEngine

    return FaceEngine(settings)


@pytest.fixture(scope="session")
def small_gallery(data: Path, tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Path:
    """A real gallery of the 6 people of small/face_recognition plus small/five_celeb's 5 people."""
    from lookalike.gallery.build import build_gallery, scan_sources
    from lookalike.gallery.store import Gallery

    path = tmp_path_factory.mktemp("gallery") / "small"
    photos, _ = scan_sources([data / "small" / "face_recognition", data / "small" / "five_celeb"])
    with Gallery.create(path) as g:
        report = build_gallery(g, photos, settings, workers=2)
    assert report.added >= 100
    return path


def jpeg_bytes(array: np.ndarray, quality: int = 92, **save: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "JPEG", quality=quality, **save)
    return out.getvalue()


def read_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))
