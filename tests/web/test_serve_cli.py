"""``lookalike serve`` starts the app with its workers from flags and environment variables."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import free_port


def test_serve_command(gallery_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "LOOKALIKE_HOME": str(tmp_path / "home"), "LOOKALIKE_WORKERS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lookalike", "serve", "--gallery", str(gallery_dir), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
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
        assert health is not None and health.status_code == 200, proc.stderr.read1().decode() if proc.poll() else ""
        assert health.json()["workers"] == 1 and health.json()["workers_ready"] == 1
        assert (tmp_path / "home" / "secret").is_file()
    finally:
        proc.terminate()
        proc.wait(20)


def test_serve_without_gallery_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lookalike", "serve", "--gallery", str(tmp_path / "none"), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "No gallery" in result.stderr
