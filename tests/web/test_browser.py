"""End to end in real headless Chromium (Debian's ``chromium`` package, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, Server

CHROMIUM = os.environ.get("LOOKALIKE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]

THUMBNAILS_LOADED = "() => [...document.querySelectorAll('.card img')].every(i => i.complete && i.naturalWidth > 0)"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python package) is not installed")


@pytest.fixture(scope="module")
def artifacts() -> Path:
    path = Path(os.environ.get("LOOKALIKE_ARTIFACTS", ROOT / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def server(start_server, lfw_gallery: Path) -> Server:
    """The page against a gallery of all of LFW (5,700+ people), as a real user gets it."""
    return start_server(workers=1, gallery=lfw_gallery)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server: Server):
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(server.url + "/")
    yield page
    context.close()


def test_two_faces_boxed_and_named(page, data: Path, artifacts: Path) -> None:
    page.set_input_files("#file", str(data / "group" / "face_recognition__two_people.jpg"))
    page.wait_for_selector(".face .identity")
    sync_api.expect(page.locator(".box")).to_have_count(2)
    sync_api.expect(page.locator(".face")).to_have_count(2)
    text = page.locator("#faces").inner_text()
    assert "this is Barack Obama" in text and "this is Joseph Biden" in text
    sync_api.expect(page.locator("#steps li.done")).to_have_count(5)
    assert page.locator("#message").is_hidden()
    # Thumbnails actually loaded.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.card img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    page.screenshot(path=str(artifacts / "web-two-people.png"), full_page=True)


def test_phone_layout(browser, server: Server, data: Path, artifacts: Path) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.goto(server.url + "/")
    page.set_input_files("#file", str(data / "group" / "face_recognition__two_people.jpg"))
    page.wait_for_selector(".face .identity", timeout=60_000)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390  # nothing sticks out sideways
    page.screenshot(path=str(artifacts / "web-phone.png"), full_page=True)
    context.close()


def test_not_an_image_shows_a_clear_message(page, tmp_path: Path) -> None:
    fake = tmp_path / "holiday.jpg"  # named like a photo, but it is text: only the decoder can tell
    fake.write_text("this is not a photo\n" * 20)
    page.set_input_files("#file", str(fake))
    message = page.locator("#message")
    sync_api.expect(message).to_be_visible()
    sync_api.expect(message).to_contain_text("not a photo we can read")
    assert page.locator(".box").count() == 0


def test_text_file_refused_before_upload(page, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    page.set_input_files("#file", str(notes))
    sync_api.expect(page.locator("#message")).to_contain_text("not a photo we can read")
    sync_api.expect(page.locator("#steps li.failed")).to_have_count(1)


def test_no_face_message(page, tmp_path: Path) -> None:
    from conftest import blank_png

    blank = tmp_path / "sky.png"
    blank.write_bytes(blank_png(200, 150))
    page.set_input_files("#file", str(blank))
    sync_api.expect(page.locator("#message")).to_contain_text("No face found")


def test_accessible_labels(page) -> None:
    assert page.get_by_label("Choose a photo").count() == 1
    assert page.locator("#message[role=alert]").count() == 1
    assert page.locator("#steps[aria-live]").count() == 1
    assert "deleted" in page.locator("#privacy").inner_text()


def test_network_loss_reconnects_and_resumes(page, server: Server, data: Path) -> None:
    """The socket is cut right after the job is queued; the page reconnects, resumes and shows the result."""
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws))
    page.evaluate("""() => {
        const original = window.WebSocket.prototype.send;
        let cut = false;
        window.WebSocket.prototype.send = function (data) {
            original.call(this, data);
            if (!cut && JSON.parse(data).action === 'match') { cut = true; this.close(); }
        };
    }""")
    page.set_input_files("#file", str(data / "group" / "face_recognition__two_people.jpg"))
    page.wait_for_selector(".face .identity")
    sync_api.expect(page.locator(".face")).to_have_count(2)
    assert any(s.is_closed() for s in sockets) and not sockets[-1].is_closed()  # cut, then a new one


def test_webcam_capture(page) -> None:
    """Chromium's fake camera (a test pattern, no face) goes through the same flow as a file."""
    page.get_by_role("button", name="Use the camera").click()
    sync_api.expect(page.locator("#webcam")).to_be_visible()
    page.wait_for_function("() => document.getElementById('video').videoWidth > 0")
    page.get_by_role("button", name="Take the photo").click()
    sync_api.expect(page.locator("#message")).to_contain_text("No face found")
    sync_api.expect(page.locator("#webcam")).to_be_hidden()


def test_too_large_shows_a_clear_message(browser, start_server, data: Path) -> None:
    small = start_server(workers=0, max_upload_bytes=100_000)
    context = browser.new_context()
    page = context.new_page()
    page.goto(small.url + "/")
    page.set_input_files("#file", str(data / "group" / "face_recognition__two_people.jpg"))
    sync_api.expect(page.locator("#message")).to_contain_text("too large")
    sync_api.expect(page.locator("#message")).to_contain_text("98 KB")
    assert not any((small.settings.home / "storage" / "uploads").rglob("*-*"))  # nothing was uploaded
    context.close()


# -- the page under its Content-Security-Policy, against the small gallery (quick to build) ---------

WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI)
);
"""


@pytest.fixture(scope="module")
def small_server(start_server) -> Server:
    return start_server(workers=1)


@pytest.fixture
def small_page(browser, small_server: Server):
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(small_server.url + "/")
    yield page
    context.close()


def test_page_works_under_its_content_security_policy(small_page, data: Path) -> None:
    page = small_page
    page.set_input_files("#file", str(data / "group" / "face_recognition__two_people.jpg"))
    page.wait_for_selector(".face .identity")
    sync_api.expect(page.locator(".box")).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.card img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator(".box").first.evaluate("b => getComputedStyle(b).position") == "absolute"  # styles apply
    page.get_by_role("button", name="Use the camera").click()
    page.wait_for_function("() => document.getElementById('video').videoWidth > 0")
    page.get_by_role("button", name="Take the photo").click()
    sync_api.expect(page.locator("#message")).to_contain_text("No face found")
    assert page.evaluate("() => window.__csp") == []


def test_page_cannot_be_framed(browser, small_server: Server) -> None:
    context = browser.new_context()
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    page.set_content(f'<iframe src="{small_server.url}/" width="400" height="300"></iframe>')
    page.wait_for_timeout(1500)
    framed = page.frames[1] if len(page.frames) > 1 else None
    assert framed is None or framed.query_selector("#file") is None
    assert any("frame-ancestors" in m for m in messages), messages
    context.close()


CUT_AFTER_QUEUED = """
const Real = window.WebSocket;
let cut = false;
window.__sent = [];
window.WebSocket = class extends Real {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', (e) => {
      if (!cut && JSON.parse(e.data).event === 'queued') { cut = true; this.close(); }
    });
  }
  send(data) { window.__sent.push(JSON.parse(data)); super.send(data); }
};
"""


def test_reconnect_resumes_with_the_resume_token(browser, small_server: Server, data: Path) -> None:
    """The socket is cut right after "queued"; the page reconnects and resumes with the job's token."""
    context = browser.new_context()
    context.add_init_script(WATCH_CSP + CUT_AFTER_QUEUED)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(small_server.url + "/")
    page.set_input_files("#file", str(data / "group" / "face_recognition__two_people.jpg"))
    page.wait_for_selector(".face .identity")
    sync_api.expect(page.locator(".face")).to_have_count(2)
    resumes = [m for m in page.evaluate("() => window.__sent") if m["action"] == "resume"]
    assert resumes and resumes[0]["token"] and resumes[0]["job"]
    assert page.evaluate("() => window.__csp") == []
    context.close()


def test_api_docs_work_under_their_own_policy(browser, small_server: Server) -> None:
    context = browser.new_context()
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    page.goto(small_server.url + "/docs")
    page.wait_for_selector("#swagger-ui .swagger-ui", timeout=30_000)  # Swagger UI's script ran and rendered
    page.wait_for_timeout(1000)
    assert page.evaluate("() => window.__csp") == []
    context.close()


def test_page_connects_again_after_an_idle_close(browser, start_server, data: Path) -> None:
    """The server closes an idle socket (4408); the page opens a new one when a photo is chosen."""
    idle = start_server(workers=1, ws_idle_seconds=1)
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws))
    page.goto(idle.url + "/")
    page.wait_for_timeout(3000)
    assert len(sockets) == 1 and sockets[0].is_closed()  # closed for idleness, and not reopened meanwhile
    page.set_input_files("#file", str(data / "group" / "face_recognition__two_people.jpg"))
    page.wait_for_selector(".face .identity")
    assert len(sockets) == 2
    context.close()
