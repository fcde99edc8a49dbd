"""End to end in real headless Chromium (Debian's ``chromium`` package, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

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


# -- a gallery of famous people (the made-up Wikidata world): credits, descriptions, filters -------------


@pytest.fixture(scope="module")
def famous_people(famous_facts: list[Any]) -> dict[str, Any]:
    """Display name -> the person's facts, as the gallery holds them."""
    return {f.name: f for f in famous_facts}


def other_photo(data: Path, facts: Any) -> Path:
    from tests.wikidata.gallery import another_photo

    return another_photo(data, facts.person)


def card_names(page) -> list[str]:
    return page.locator(".card .name").all_inner_texts()


def test_a_card_shows_description_wikipedia_link_and_credit(
    browser, famous_server: Server, famous_people: dict[str, Any], data: Path, artifacts: Path
) -> None:
    her = next(f for name, f in sorted(famous_people.items()) if f.sex == "female")
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.goto(famous_server.url + "/")
    page.set_input_files("#file", str(other_photo(data, her)))
    page.wait_for_selector(".card")
    page.wait_for_function(THUMBNAILS_LOADED)
    first = page.locator(".card").first
    sync_api.expect(first.locator(".name")).to_have_text(her.name)  # the name, not the folder's "Name_Q123"
    wiki = first.locator(".name a")
    assert wiki.get_attribute("href") == her.wikipedia and wiki.get_attribute("rel") == "noopener noreferrer nofollow"
    sync_api.expect(first.locator(".about")).to_have_text(her.description)
    credit = first.locator(".credit")
    sync_api.expect(credit).to_contain_text("Photo: ")
    links = {a.inner_text(): a.get_attribute("href") for a in credit.locator("a").all()}
    assert links["source"].startswith("https://commons.wikimedia.org/wiki/File:")
    licence = [text for text in links if text != "source"]
    if licence:  # public domain has no licence page; every CC licence links to its deed
        assert links[licence[0]].startswith(("https://", "http://"))
    for card in page.locator(".card").all():  # every card credited, and placed among pairs of strangers
        assert card.locator(".credit").inner_text().startswith("Photo: ")
        among = card.locator(".strangers").inner_text()
        assert among.startswith(("more alike than", "less alike than")) and "strangers" in among, among
    page.screenshot(path=str(artifacts / "web-famous-cards.png"), full_page=True)
    context.close()


def test_hostile_credit_reaches_the_page_as_text(
    browser, start_server, famous_gallery: Path, famous_people: dict[str, Any], data: Path, tmp_path: Path
) -> None:
    """A gallery whose author, description and links were never cleaned (an old tool, a hand edit): the page
    shows them as text; no script runs, no tracking image loads, no ``javascript:`` link is made."""
    import sqlite3

    from PIL import Image
    from tests.wikidata.world import HOSTILE

    her = next(f for name, f in sorted(famous_people.items()) if f.sex == "female")
    gallery = tmp_path / "hostile-gallery"
    shutil.copytree(famous_gallery, gallery)
    with sqlite3.connect(gallery / "gallery.sqlite") as db:
        db.execute(
            "UPDATE photos SET author = ?, licence_url = 'javascript:alert(2)', source_url = ' javascript:alert(3)'"
            " WHERE person = ?",
            (HOSTILE, her.person),
        )
        db.execute(
            "UPDATE people SET description = '<img src=x onerror=\"window.owned=1\">',"
            " wikipedia = 'javascript:alert(4)' WHERE person = ?",
            (her.person,),
        )
    server = start_server(workers=1, gallery=gallery)
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server.url + "/")
    page.set_input_files("#file", str(other_photo(data, her)))
    page.wait_for_selector(".card")
    page.wait_for_function(THUMBNAILS_LOADED)
    first = page.locator(".card").first
    sync_api.expect(first.locator(".name")).to_have_text(her.name)
    assert first.locator(".name a").count() == 0  # a javascript: article link is no link
    sync_api.expect(first.locator(".about")).to_have_text('<img src=x onerror="window.owned=1">')
    sync_api.expect(first.locator(".credit")).to_contain_text('<script>alert("owned")</script>')
    faces = page.locator("#faces")
    assert faces.locator("script").count() == 0 and faces.locator("b").count() == 0
    assert faces.locator("img").count() == page.locator(".card").count()  # the thumbnails and nothing else
    hrefs = [a.get_attribute("href") or "" for a in faces.locator("a").all()]
    assert not [h for h in hrefs if not h.startswith(("https://", "http://"))], hrefs
    assert first.locator(".credit a").count() == 0  # neither the licence nor the source was a web address
    panel = page.locator("#face-0 .why-panel").first  # the aligned pair and its card to share: text too
    sync_api.expect(panel.locator("h4")).to_have_text(f"You and {her.name}")
    with page.expect_download() as download:
        panel.locator("button.share").click()
    card = Image.open(download.value.path())
    card.load()
    assert card.text["Description"].startswith(f"Photo: {HOSTILE}")  # written as it is, links dropped
    assert "javascript" not in card.text["Description"].removeprefix(f"Photo: {HOSTILE}")
    page.wait_for_timeout(300)
    assert dialogs == [] and page.evaluate("() => window.owned") is None
    assert not [u for u in requests if "tracker.example" in u or u.endswith("/x")]
    context.close()


def test_filters_on_the_page_change_the_results_and_every_result_passes(
    browser, famous_server: Server, famous_people: dict[str, Any], data: Path, artifacts: Path
) -> None:
    her = next(f for name, f in sorted(famous_people.items()) if f.sex == "female")
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(famous_server.url + "/")
    page.locator("#whom summary").click()
    page.get_by_label("Men", exact=True).check()
    sync_api.expect(page.locator("#whom-summary")).to_have_text("men")
    page.set_input_files("#file", str(other_photo(data, her)))
    page.wait_for_selector(".card")
    men = card_names(page)
    assert men and all(famous_people[name].sex == "male" for name in men)
    # Who the face *is* is answered from everyone, and named as the gallery names her (not "Name_Q123").
    sync_api.expect(page.locator(".face h3").first).to_contain_text(f"this is {her.name}")
    assert (
        "_Q9" not in page.locator(".face h3").first.inner_text()
        and "Q9" not in page.locator(".face h3").first.inner_text()
    )
    men_count = sum(f.sex == "male" for f in famous_people.values())
    sync_api.expect(page.locator("#caption")).to_contain_text(
        f"Compared with {men_count} of {len(famous_people)} people (men)"
    )

    # New choices: the same photo compared again, from the page's own copy.
    page.get_by_label("Women", exact=True).check()
    page.get_by_label("Born after").fill("1955")
    again = page.locator("#again")
    sync_api.expect(again).to_be_visible()
    again.click()
    sync_api.expect(page.locator("#caption")).to_contain_text("(women, born after 1955)")
    page.wait_for_selector(".card")
    women = card_names(page)
    assert women and women != men
    assert all(famous_people[n].sex == "female" and famous_people[n].birth_year > 1955 for n in women)
    assert women[0] == her.name or famous_people[her.name].birth_year <= 1955
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(artifacts / "web-famous-filters-phone.png"), full_page=True)

    # Choices nobody can be born in are refused on the page, before the photo is uploaded.
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if "/api/uploads" in r.url else None)
    page.get_by_label("Born before").fill("1956")
    page.set_input_files("#file", str(other_photo(data, her)))
    sync_api.expect(page.locator("#message")).to_contain_text("Nobody is born after 1955 and before 1956")
    assert uploads == []
    page.get_by_label("Born before").fill("")

    # The choices are remembered; a choice nobody passes says so.
    page.reload()
    sync_api.expect(page.locator("#whom-summary")).to_have_text("women, born after 1955")
    page.locator("#whom summary").click()
    page.get_by_label("Born after").fill("1990")  # the made-up world's people are born 1950-1995
    page.set_input_files("#file", str(other_photo(data, her)))
    sync_api.expect(page.locator("#message")).to_contain_text("Nobody in the gallery fits these choices")
    assert page.locator(".card").count() == 0
    context.close()


def test_no_filters_are_offered_where_the_gallery_knows_nothing_of_its_people(small_page) -> None:
    """The test gallery (folders of photos, no facts): a filter would leave nobody, so none is offered."""
    sync_api.expect(small_page.locator("#whom")).to_be_hidden()
    assert small_page.evaluate("() => fetch('/config.json').then(r => r.json())")["filters"] is False


def test_a_group_photo_shows_one_face_at_a_time_chosen_by_box_list_or_keyboard(
    page, data: Path, tmp_path: Path, artifacts: Path
) -> None:
    """A photo of 20 faces (LFW photos side by side, made here at run time): one face's lookalikes at a
    time, the largest first; its box or the face list chooses another, and so do the arrow keys."""
    from PIL import Image

    folders = sorted(p for p in (data / "lfw").iterdir() if p.is_dir() and not p.name.startswith("_"))[:20]
    sheet = Image.new("RGB", (5 * 250, 4 * 250), (255, 255, 255))
    for i, folder in enumerate(folders):
        face = Image.open(sorted(folder.glob("*.jpg"))[0]).convert("RGB")
        if i == 7:
            face = face.resize((250, 250)).crop((25, 25, 225, 225)).resize((250, 250))  # one face larger than the rest
        sheet.paste(face, ((i % 5) * 250, (i // 5) * 250))
    group = tmp_path / "group.jpg"
    sheet.save(group, quality=92)

    page.set_input_files("#file", str(group))
    page.wait_for_selector(".card")
    tabs = page.locator("#picker [role=tab]")
    n = tabs.count()
    assert n >= 15 and page.locator(".face").count() == n and page.locator(".box").count() == n
    sync_api.expect(page.locator(".face:visible")).to_have_count(1)  # one face's cards at a time
    assert tabs.nth(0).get_attribute("aria-selected") == "true"
    boxes = page.evaluate("() => [...document.querySelectorAll('.box')].map(b => b.offsetWidth * b.offsetHeight)")
    assert boxes[0] == max(boxes)  # the first shown is the largest
    height = page.evaluate("() => document.documentElement.scrollHeight")
    assert height < 2600, height  # was ~7,000 px with every face's cards

    page.locator(".box").nth(4).click()  # a box chooses its face
    sync_api.expect(tabs.nth(4)).to_have_attribute("aria-selected", "true")
    sync_api.expect(page.locator("#face-4")).to_be_visible()
    sync_api.expect(page.locator(".box.selected")).to_have_count(1)
    tabs.nth(4).focus()
    page.keyboard.press("ArrowRight")  # and the keyboard, in the face list
    sync_api.expect(tabs.nth(5)).to_have_attribute("aria-selected", "true")
    sync_api.expect(tabs.nth(5)).to_be_focused()
    sync_api.expect(page.locator("#face-5")).to_be_visible()
    assert page.locator("#face-5").get_attribute("aria-labelledby") == "face-tab-5"
    page.keyboard.press("End")
    sync_api.expect(tabs.nth(n - 1)).to_have_attribute("aria-selected", "true")
    page.screenshot(path=str(artifacts / "web-group-picker.png"), full_page=True)


def test_a_blurred_face_says_so_on_its_card_section(small_page, data: Path, tmp_path: Path, artifacts: Path) -> None:
    """The two people's photo blurred (made here): each face's section says, in words, what would do better."""
    import cv2
    from tests.conftest import jpeg_bytes, read_rgb

    page = small_page
    blurred = tmp_path / "blurred.jpg"
    image = read_rgb(data / "group" / "face_recognition__two_people.jpg")
    blurred.write_bytes(jpeg_bytes(cv2.GaussianBlur(image, (0, 0), 6)))
    page.set_input_files("#file", str(blurred))
    page.wait_for_selector(".face .card")
    hints = page.locator(".face .hint")
    sync_api.expect(hints).to_have_count(2)
    for hint in hints.all():
        sync_api.expect(hint).to_have_text("This face is blurred: a sharper photo gives better lookalikes.")
    assert page.evaluate("() => window.__csp") == []
    page.screenshot(path=str(artifacts / "web-quality-hint.png"), full_page=True)

    page.set_input_files("#file", str(data / "group" / "face_recognition__two_people.jpg"))  # sharp: no hint
    page.wait_for_selector(".face .card")
    sync_api.expect(page.locator(".face")).to_have_count(2)
    assert page.locator(".face .hint").count() == 0


@pytest.fixture(scope="module")
def five_server(start_server, small_gallery: Path) -> Server:
    """small/face_recognition and small/five_celeb (several photos of each person)."""
    return start_server(workers=1, gallery=small_gallery)


@pytest.fixture
def five_page(browser, five_server: Server):
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(five_server.url + "/")
    yield page
    context.close()


def uploads_waiting(server: Server) -> list[str]:
    uploads = server.settings.home / "storage" / "uploads"
    return sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []


def test_several_photos_of_me_are_matched_as_one_face_and_a_mix_is_refused(
    five_page, five_server: Server, data: Path, artifacts: Path
) -> None:
    page = five_page
    five = data / "small" / "five_celeb"
    ben = sorted((five / "Ben_Affleck").glob("*.jpg"))[:3]
    label = page.get_by_label("These are all me (2-5 photos)")  # the input, found by its label
    label.set_input_files([str(p) for p in ben])
    page.wait_for_selector(".face .identity")
    sync_api.expect(page.locator(".face")).to_have_count(1)  # one face: the combined query
    sync_api.expect(page.locator("#shots li")).to_have_count(3)
    assert page.locator("#shots img").evaluate_all("imgs => imgs.map(i => i.alt)") == [
        f"Photo {i + 1}: {p.name}" for i, p in enumerate(ben)
    ]
    assert "You, from 3 photos" in page.locator(".face h3").inner_text()
    assert "this is Ben Affleck" in page.locator(".face h3").inner_text()
    sync_api.expect(page.locator("#caption")).to_contain_text("Your 3 photos, combined into one face")
    sync_api.expect(page.locator("#steps li.done")).to_have_count(5)
    assert page.locator("#message").is_hidden()
    page.wait_for_function(THUMBNAILS_LOADED)
    assert page.evaluate("window.__csp") == []
    assert uploads_waiting(five_server) == []  # each photo went up on its own and is gone once matched
    page.screenshot(path=str(artifacts / "web-several-photos.png"), full_page=True)

    madonna = sorted((five / "Madonna").glob("*.jpg"))[0]
    label.set_input_files([str(ben[0]), str(ben[1]), str(madonna)])
    message = page.locator("#message")
    sync_api.expect(message).to_contain_text("photo 3 looks like someone else")
    sync_api.expect(page.locator("#shots li.odd")).to_have_count(1)
    sync_api.expect(page.locator("#shots li.odd")).to_contain_text("Photo 3: someone else?")
    sync_api.expect(page.locator("#steps li.failed")).to_have_count(1)
    assert page.locator(".face").count() == 0
    assert uploads_waiting(five_server) == []
    page.screenshot(path=str(artifacts / "web-several-photos-refused.png"), full_page=True)


def test_one_photo_among_several_is_not_enough(five_page, data: Path) -> None:
    page = five_page
    photo = sorted((data / "small" / "five_celeb" / "Ben_Affleck").glob("*.jpg"))[0]
    page.set_input_files("#files", str(photo))
    sync_api.expect(page.locator("#message")).to_contain_text("Choose 2 to 5 photos of yourself")
    assert page.locator("#progress").is_hidden()


def test_the_several_photos_input_is_reached_by_keyboard(five_page) -> None:
    page = five_page
    page.locator("#file").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "files"
    assert page.evaluate("document.activeElement.multiple") is True
