"""``lookalike serve`` starts the app with its workers from flags and environment variables."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from lookalike.bench.server import free_port
from lookalike.settings import Settings


def _serve(gallery_dir: Path, home: Path, *args: str, **env: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if k != "LOOKALIKE_WORKERS"}
    environ.update({"LOOKALIKE_HOME": str(home), **env})
    command = [sys.executable, "-m", "lookalike", "serve", "--gallery", str(gallery_dir), "--port", str(port), *args]
    return subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE), port


def _healthy(proc: subprocess.Popen[bytes], port: int) -> dict[str, Any]:
    """/healthz of the server once it answers 200 (within a minute)."""
    deadline = time.monotonic() + 60
    health = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            if health.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    assert health is not None and health.status_code == 200, proc.stderr.read1().decode() if proc.poll() else ""  # type: ignore[union-attr]
    return dict(health.json())


def test_serve_command(gallery_dir: Path, tmp_path: Path) -> None:
    proc, port = _serve(gallery_dir, tmp_path / "home", LOOKALIKE_WORKERS="1")
    try:
        health = _healthy(proc, port)
        assert health["workers"] == 1 and health["workers_ready"] == 1
        assert (tmp_path / "home" / "secret").is_file()
    finally:
        proc.terminate()
        proc.wait(20)


def test_serve_with_workers_0_starts_no_worker(gallery_dir: Path, tmp_path: Path) -> None:
    """docs/web.md: ``--workers 0`` is the API alone (workers run as ``lookalike worker``)."""
    proc, port = _serve(gallery_dir, tmp_path / "home", "--workers", "0")
    try:
        health = _healthy(proc, port)
        assert health["workers"] == 0 and health["workers_ready"] == 0
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        if children.exists():
            assert children.read_text().split() == []  # no worker process was started
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0].decode()
    assert "0 workers" in out


def test_workers_0_means_none_and_unset_means_one_per_core() -> None:
    from lookalike.wiring import worker_count

    assert worker_count(Settings.from_env({"LOOKALIKE_WORKERS": "0"})) == 0
    assert worker_count(Settings(workers=0)) == 0
    assert worker_count(Settings(workers=3)) == 3
    assert worker_count(Settings.from_env({})) == (os.cpu_count() or 1)


def test_serve_without_gallery_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lookalike", "serve", "--gallery", str(tmp_path / "none"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "No gallery" in result.stderr


def test_serve_says_what_it_would_show_and_a_public_one_refuses_unlicensed_photos(
    gallery_dir: Path, tmp_path: Path
) -> None:
    """The test gallery's photos have no reuse licence ("licence unknown"): serve says it shows them; with
    LOOKALIKE_REQUIRE_REUSABLE it would show nothing, and says so instead of starting."""
    proc, port = _serve(gallery_dir, tmp_path / "home", LOOKALIKE_WORKERS="1")
    try:
        _healthy(proc, port)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    said = " ".join(out.decode().split())
    assert "photos have no reuse licence (licence unknown" in said and "will be shown" in said
    assert "LOOKALIKE_REQUIRE_REUSABLE=1" in said

    public = subprocess.run(
        [sys.executable, "-m", "lookalike", "serve", "--gallery", str(gallery_dir), "--port", str(free_port())],
        env={**os.environ, "LOOKALIKE_HOME": str(tmp_path / "home"), "LOOKALIKE_REQUIRE_REUSABLE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert public.returncode != 0
    told = " ".join((public.stdout + public.stderr).split())
    assert "without a reuse licence" in told and "None of the gallery's" in told and "Traceback" not in told
