"""``lookalike worker`` started before any gallery is published (a new stack's first task) waits for one,
touching its health file, instead of crash-looping; other gallery errors still stop it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookalike.cli import worker as worker_cli
from lookalike.errors import GalleryError
from lookalike.gallery import artifact


def test_a_worker_waits_healthy_until_a_gallery_is_published(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    published = artifact.FetchedGallery(tmp_path / "abc", "abc", downloaded=True)
    answers: list[Exception | artifact.FetchedGallery] = [
        GalleryError("No gallery at s3://b/galleries/.", code="no_gallery"),
        GalleryError("No gallery at s3://b/galleries/.", code="no_gallery"),
        published,
    ]

    def fetch(uri: str, cache_dir: Path) -> artifact.FetchedGallery:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(artifact, "fetch_gallery", fetch)
    beats: list[int] = []
    sleeps: list[float] = []
    got = worker_cli.fetch_when_published(
        "s3://b/galleries/", tmp_path, lambda: beats.append(1), wait_seconds=7, sleep=sleeps.append
    )
    assert got is published
    assert len(beats) == 2 and sleeps == [7, 7]


def test_a_damaged_gallery_still_stops_the_worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def fetch(uri: str, cache_dir: Path) -> artifact.FetchedGallery:
        raise GalleryError("damaged", code="gallery_checksum")

    monkeypatch.setattr(artifact, "fetch_gallery", fetch)
    with pytest.raises(GalleryError, match="damaged"):
        worker_cli.fetch_when_published("s3://b/galleries/", tmp_path, lambda: None, sleep=lambda _: None)
