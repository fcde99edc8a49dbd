"""Why you look alike, and a card to share, in real headless Chromium (see test_browser.py): the aligned
pair (the user's face cut in the page from the photo it holds), the part bars and their sentence, the
heat map toggle, and the share card as a PNG with its name and credit in its own metadata."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_browser import ARGS, CHROMIUM, artifacts, browser, other_photo, sync_api  # noqa: F401

from conftest import Server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]

PART_WORDS = ["eyes", "eyebrows", "nose", "mouth", "face shape"]
PANEL_DRAWN = (
    "() => { const p = document.querySelector('.face:not([hidden]) .why-panel');"
    " return p && p.querySelector('canvas.mine').dataset.drawn && p.querySelector('canvas.theirs').dataset.drawn; }"
)


def someone(famous_facts: list[Any]) -> Any:
    return next(f for f in famous_facts if f.sex == "female")


def open_page(browser, server: Server, **context: Any) -> tuple[Any, Any, list[dict[str, Any]]]:  # noqa: F811
    """A page of ``server`` that records the WebSocket messages it sends and receives."""
    ctx = browser.new_context(**({"viewport": {"width": 1000, "height": 900}} | context))
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    frames: list[dict[str, Any]] = []

    def follow(ws: Any) -> None:
        ws.on("framesent", lambda payload: frames.append({"sent": json.loads(payload)}))
        ws.on("framereceived", lambda payload: frames.append({"received": json.loads(payload)}))

    page.on("websocket", follow)
    page.goto(server.url + "/")
    return ctx, page, frames


def match(page: Any, photo: Path, frames: list[dict[str, Any]]) -> dict[str, Any]:
    """Choose ``photo``; the result the page was sent, once its first aligned pair is drawn."""
    page.set_input_files("#file", str(photo))
    page.wait_for_function(PANEL_DRAWN)
    (result,) = [f["received"]["result"] for f in frames if f.get("received", {}).get("event") == "matched"]
    return result


def canvas_pixels(locator: Any) -> np.ndarray:
    from PIL import Image

    url = locator.evaluate("c => c.toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))


def server_aligned_face(photo: Path, matrix: list[list[float]]) -> np.ndarray:
    """The server's aligned face of ``photo`` (``canonical_face``), on the 5 points the result's matrix
    was made from (the template taken back into the photo)."""
    from tests.conftest import read_rgb

    from lookalike.engine.align import CANONICAL_TEMPLATE, canonical_face

    m = np.array(matrix, dtype=np.float64)
    points = (CANONICAL_TEMPLATE - m[:, 2]) @ np.linalg.inv(m[:, :2]).T
    face, _ = canonical_face(read_rgb(photo), points)
    return face


def test_the_aligned_pair_which_parts_agree_and_where(
    browser,  # noqa: F811
    famous_server: Server,
    famous_facts: list[Any],
    data: Path,
    artifacts: Path,  # noqa: F811
) -> None:
    her = someone(famous_facts)
    photo = other_photo(data, her)
    ctx, page, frames = open_page(browser, famous_server)
    result = match(page, photo, frames)
    sent = [f["sent"] for f in frames if "sent" in f and f["sent"].get("action") == "match"]
    assert sent and all(m["explain"] is True for m in sent)  # the page asks why
    face = result["faces"][0]
    assert face["aligned"]["size"] == 184 and face["matches"][0]["aligned"]  # a freshly built gallery has them

    panels = page.locator("#face-0 .why-panel")
    assert panels.count() == min(3, len(face["matches"]))
    first = panels.first
    sync_api.expect(first.locator("h4")).to_have_text(f"You and {face['matches'][0]['display_name']}")
    mine = canvas_pixels(first.locator("canvas.mine"))
    assert mine.shape == (184, 184, 4) and mine[..., :3].std() > 20  # not blank
    expected = server_aligned_face(photo, face["aligned"]["matrix"])
    difference = np.abs(mine[..., :3].astype(float) - expected.astype(float)).mean()
    assert difference < 10, difference  # the eye line where the template puts it, as the server cuts it
    assert first.locator("canvas.theirs").get_attribute("data-drawn") == "aligned"
    assert canvas_pixels(first.locator("canvas.theirs"))[..., :3].std() > 20
    assert first.locator("canvas.mine").get_attribute("aria-label") == "Face 1 of your photo, aligned"

    why = face["matches"][0]["why"]
    rows = first.locator(".parts li")
    assert rows.locator(".part").all_inner_texts() == PART_WORDS
    for row, part in zip(rows.all(), ["eyes", "brows", "nose", "mouth", "shape"], strict=True):
        kind = "alike" if why["parts"][part] >= 0 else "different"
        assert row.get_attribute("class") == kind
        assert row.locator(".sign").inner_text() == ("+ alike" if kind == "alike" else "− different")
    largest = max(abs(v) for v in why["parts"].values())
    widths = rows.locator(".fill").evaluate_all("els => els.map(e => e.getBoundingClientRect().width)")
    track = rows.first.locator(".track").evaluate("e => e.getBoundingClientRect().width")
    assert max(widths) == pytest.approx(track / 2, abs=1.5) and largest > 0  # scaled to the largest score
    sentence = first.locator(".why-sentence").inner_text()
    assert sentence.startswith(("Alike most in the ", "No one part")) and sentence.endswith("."), sentence
    best = why["ranking"][0]
    if why["parts"][best] > 0:
        word = PART_WORDS[["eyes", "brows", "nose", "mouth", "shape"].index(best)]
        assert sentence.startswith(f"Alike most in the {word}"), (sentence, why)
    assert first.locator(".parts").get_attribute("aria-hidden") == "true"  # the sentence is what is read

    where = first.get_by_role("button", name="Show where")
    assert where.get_attribute("aria-pressed") == "false"
    assert first.locator("canvas.heat:visible").count() == 0
    where.focus()
    page.keyboard.press("Enter")  # the keyboard works it
    sync_api.expect(where).to_have_attribute("aria-pressed", "true")
    sync_api.expect(first.locator("canvas.heat:visible")).to_have_count(2)
    heat = canvas_pixels(first.locator("canvas.heat").first)
    assert heat[..., 3].max() > 60 and heat[..., 3].min() < heat[..., 3].max()  # drawn, not a flat wash
    page.screenshot(path=str(artifacts / "web-why-desktop.png"), full_page=True)
    page.keyboard.press("Space")
    sync_api.expect(where).to_have_attribute("aria-pressed", "false")
    sync_api.expect(first.locator("canvas.heat:visible")).to_have_count(0)
    ctx.close()


def test_the_pair_and_its_bars_on_a_phone(
    browser,  # noqa: F811
    famous_server: Server,
    famous_facts: list[Any],
    data: Path,
    artifacts: Path,  # noqa: F811
) -> None:
    phone = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
    ctx, page, frames = open_page(browser, famous_server, **phone)
    match(page, other_photo(data, someone(famous_facts)), frames)
    first = page.locator("#face-0 .why-panel").first
    sync_api.expect(first.locator(".parts li")).to_have_count(5)
    pair = first.locator(".pair canvas.aligned").evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.width, r.height, r.top]; })"
    )
    assert len(pair) == 2 and pair[0] == pytest.approx(pair[1], abs=1)  # side by side, the same size
    assert pair[0][0] > 100
    first.get_by_role("button", name="Show where").tap()
    sync_api.expect(first.locator("canvas.heat:visible")).to_have_count(2)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # nothing sticks out sideways
    first.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "web-why-phone.png"), full_page=True)
    ctx.close()


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The PNG's chunks (type, data), each CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks.append((kind, body))
        at += 12 + length
    return chunks


def check_card(data: bytes, name: str, credit: dict[str, Any], layout: dict[str, Any]) -> None:
    from PIL import Image

    kinds = [kind for kind, _ in png_chunks(data)]
    assert kinds[0] == b"IHDR" and kinds[1 : 1 + kinds.count(b"tEXt") + kinds.count(b"iTXt")] != []
    card = Image.open(io.BytesIO(data))
    card.load()
    assert card.size == (1200, 630)
    assert card.text["Title"] == f"lookalike: {name}" and card.text["Software"] == "lookalike"
    assert card.text["Description"].startswith("Photo: ")
    if credit.get("author"):
        assert credit["author"] in card.text["Description"]
    pixels = np.asarray(card.convert("L"), dtype=float)
    assert pixels.std() > 20  # not blank
    box = layout["name"]
    where = pixels[box["y"] : box["y"] + box["lineHeight"], box["x"] : box["x"] + box["width"]]
    assert (where < 90).sum() > 300, "no ink where the name is drawn"
    for at in layout["faces"]:  # both faces drawn
        face = pixels[at["y"] : at["y"] + layout["face"], at["x"] : at["x"] + layout["face"]]
        assert face.std() > 20


def test_a_card_to_share_downloads_as_a_png_holding_name_and_credit(
    browser,  # noqa: F811
    famous_server: Server,
    famous_facts: list[Any],
    data: Path,
    artifacts: Path,  # noqa: F811
) -> None:
    ctx, page, frames = open_page(browser, famous_server)
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" else None)
    result = match(page, other_photo(data, someone(famous_facts)), frames)
    lookalike = result["faces"][0]["matches"][0]
    layout = page.evaluate("() => CARD")
    posted = len(uploads)
    first = page.locator("#face-0 .why-panel").first
    share = first.get_by_role("button", name=f"Share a card of you and {lookalike['display_name']}")
    with page.expect_download() as info:
        share.click()
    download = info.value
    assert download.suggested_filename.startswith("lookalike-") and download.suggested_filename.endswith(".png")
    saved = artifacts / "web-share-card.png"
    download.save_as(saved)
    check_card(saved.read_bytes(), lookalike["display_name"], lookalike.get("credit") or {}, layout)
    sync_api.expect(page.locator("#status")).to_contain_text("The card is saved as lookalike-")
    assert len(uploads) == posted  # nothing was sent anywhere for it

    # Where the browser can share files, the card goes to the share sheet instead.
    page.evaluate("""() => {
        window.__shared = null;
        navigator.canShare = (data) => Array.isArray(data.files) && data.files.length === 1;
        navigator.share = async (data) => {
            const file = data.files[0];
            const bytes = Array.from(new Uint8Array(await file.arrayBuffer()));
            window.__shared = { name: file.name, type: file.type, title: data.title, bytes };
        };
    }""")
    share.click()
    page.wait_for_function("() => window.__shared !== null")
    shared = page.evaluate("() => window.__shared")
    assert shared["type"] == "image/png" and shared["name"] == download.suggested_filename
    assert shared["title"] == f"lookalike: {lookalike['display_name']}"
    check_card(bytes(shared["bytes"]), lookalike["display_name"], lookalike.get("credit") or {}, layout)
    ctx.close()
