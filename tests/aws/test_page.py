"""The page in real Chromium against the emulated AWS: the page served as CloudFront serves it, the
upload straight to S3, live events over the WebSocket API, the result with thumbnails from the
gallery bucket."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws.system import System, running_system

CHROMIUM = os.environ.get("LOOKALIKE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.data,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python package) is not installed")


@pytest.fixture(scope="module")
def system(ministack_endpoint, small_gallery: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running_system(ministack_endpoint, tmp_path_factory.mktemp("aws-page"), small_gallery, page=True) as system:
        system.start_worker()
        yield system


def test_the_page_on_aws_names_obama_and_biden_with_live_progress(system: System, data: Path) -> None:
    artifacts = Path(os.environ.get("LOOKALIKE_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.set_default_timeout(90_000)
        frames: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
        page.goto(system.page_url)
        page.set_input_files("#file", str(data / "group" / "face_recognition__two_people.jpg"))
        page.wait_for_selector(".face .identity")
        text = page.locator("#faces").inner_text()
        assert "this is Barack Obama" in text and "this is Joseph Biden" in text
        sync_api.expect(page.locator(".box")).to_have_count(2)
        sync_api.expect(page.locator("#steps li.done")).to_have_count(5)
        cards = page.locator(".card img")  # loaded lazily: each as a person scrolls to it
        for i in range(cards.count()):
            cards.nth(i).scroll_into_view_if_needed()
        page.wait_for_function(
            "[...document.querySelectorAll('.card img')].every(i => i.complete && i.naturalWidth > 0)"
        )
        page.screenshot(path=str(artifacts / "aws-two-people.png"), full_page=True)
        browser.close()
    events = [json.loads(frame)["event"] for frame in frames]
    assert events == ["queued", "processing", "faces_found", "matched"]  # live, in order, through the API
