"""Fixtures for the web app: a small real gallery, real uvicorn servers on 127.0.0.1, a WebSocket client."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from lookalike.bench.server import free_port
from lookalike.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    path = Settings.from_env().data_dir
    return path if path.is_absolute() else (ROOT / path).resolve()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything that needs the face photos (directly or through the gallery) is marked ``data``."""
    here = Path(__file__).parent
    needs = {"data", "gallery_dir", "start_server", "two_people", "famous_gallery"}
    for item in items:
        if here in Path(item.path).parents and needs & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)


@pytest.fixture(scope="session")
def data() -> Path:
    path = data_dir()
    if not (path / "small" / "face_recognition").is_dir():
        pytest.skip(f"face photos not found at {path} (set LOOKALIKE_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def two_people(data: Path) -> bytes:
    return (data / "group" / "face_recognition__two_people.jpg").read_bytes()


@pytest.fixture(scope="session")
def gallery_dir(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gallery of the six people of ``small/face_recognition`` (Barack_Obama and Joseph_Biden among them)."""
    from lookalike.gallery.build import build_gallery, scan_sources
    from lookalike.gallery.store import Gallery

    out = tmp_path_factory.mktemp("gallery")
    photos, _ = scan_sources([data / "small" / "face_recognition"])
    with Gallery.create(out) as g:
        build_gallery(g, photos, Settings(gallery=out), workers=2)
        assert g.counts()["faces"] > 0
    return out


@pytest.fixture(scope="session")
def lfw_gallery(data: Path, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All of LFW plus ``small/face_recognition`` (LFW has no Barack_Obama): the gallery people really use.

    Built once into pytest's cache directory and updated (not rebuilt) on later runs: the build is
    resumable, so a second run only checks the photos' sizes and dates.
    """
    from lookalike.engine.engine import embedding_id
    from lookalike.errors import GalleryError
    from lookalike.gallery.build import build_gallery, scan_sources
    from lookalike.gallery.store import Gallery

    try:
        out = Path(request.config.cache.mkdir("lfw-gallery"))  # type: ignore[union-attr]
    except AttributeError:  # the cache plugin is off
        out = tmp_path_factory.mktemp("lfw-gallery")
    photos, _ = scan_sources([data / "lfw", data / "small" / "face_recognition"])
    if (out / "gallery.sqlite").exists():
        try:
            with Gallery.open(out) as cached:
                cached.check_embedding(embedding_id(Settings()))
        except GalleryError:  # cached by an older version of the engine: start again
            shutil.rmtree(out)
            out.mkdir()
    with Gallery.create(out) as g:
        build_gallery(g, photos, Settings(gallery=out))
        assert g.has_person("Barack_Obama") and g.has_person("Joseph_Biden") and g.counts()["people"] > 5000
    return out


@pytest.fixture(scope="session")
def famous_gallery(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 16 most famous people of the made-up Wikidata world (tests/wikidata): real celeb_mini photos
    with made-up Q-ids, facts and Commons credits (one ``Artist`` hostile HTML), downloaded from the
    stand-ins and built, as ``gallery download wikidata --top 16`` would."""
    pytest.importorskip("pyoxigraph", reason="pyoxigraph (the dev extra) runs the SPARQL stand-in")
    from tests.wikidata.gallery import build_famous_gallery

    base = tmp_path_factory.mktemp("famous")
    build_famous_gallery(data, base / "home", base / "gallery", 16)
    return base / "gallery"


@pytest.fixture(scope="module")
def famous_server(start_server: Callable[..., Server], famous_gallery: Path) -> Server:
    """A server (one worker) of the famous gallery."""
    return start_server(workers=1, gallery=famous_gallery)


@pytest.fixture(scope="session")
def famous_facts(famous_gallery: Path) -> list[Any]:
    """The famous gallery's people's facts (``PersonFacts``), by folder name."""
    from lookalike.gallery.store import Gallery

    with Gallery.open(famous_gallery) as g:
        return sorted(g.person_facts().values(), key=lambda f: f.person)


def blank_png(width: int = 64, height: int = 64) -> bytes:
    """A picture with no face in it, made here (not derived from any photo)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (120, 160, 200)).save(buf, "PNG")
    return buf.getvalue()


@dataclass
class Server:
    url: str
    settings: Settings
    app: Any

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def presign(self, content_type: str | None = "image/jpeg") -> dict[str, Any]:
        with self.client() as c:
            r = c.post("/api/uploads", json={"content_type": content_type})
        assert r.status_code == 201, r.text
        return r.json()

    def upload(
        self,
        data: bytes,
        content_type: str = "image/jpeg",
        presigned: dict[str, Any] | None = None,
        fields: dict[str, str] | None = None,
    ) -> httpx.Response:
        p = presigned or self.presign(content_type)
        with self.client() as c:
            return c.post(
                p["url"],
                data=fields if fields is not None else p["fields"],
                files={"file": ("photo", data, content_type)},
            )

    def uploaded_key(self, data: bytes, content_type: str = "image/jpeg") -> str:
        p = self.presign(content_type)
        r = self.upload(data, content_type, presigned=p)
        assert r.status_code == 204, r.text
        return str(p["key"])


@pytest.fixture(scope="module")
def start_server(gallery_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Start real uvicorn servers (in threads; workers are real processes) with settings overrides."""
    import uvicorn

    from lookalike.web.app import create_app, server_config

    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(workers: int = 0, **overrides: Any) -> Server:
        port = free_port()
        base = dict(
            home=tmp_path_factory.mktemp("home"),
            gallery=gallery_dir,
            port=port,
            host="127.0.0.1",
            rate_limit_per_minute=100_000,
            workers=max(workers, 1),
        )
        settings = Settings().replace(**{**base, **overrides})
        app = create_app(settings, workers=workers)
        server = uvicorn.Server(server_config(app, settings))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:  # readiness: the app answers and its workers have loaded the engine
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the server did not become ready")
            time.sleep(0.1)
        return Server(url, settings, app)

    yield start
    for server, _ in running:
        server.should_exit = True
    for _, thread in running:
        thread.join(15)


class WS:
    """A small synchronous WebSocket client (websockets' sync API), with a default timeout per event."""

    def __init__(self, url: str, timeout: float = 60) -> None:
        from websockets.sync.client import connect

        self.conn = connect(url, open_timeout=10, max_size=2**24).__enter__()
        self.timeout = timeout
        self.hello = self.recv()
        assert self.hello["event"] == "hello"

    def send(self, message: Any) -> None:
        self.conn.send(message if isinstance(message, str) else json.dumps(message))

    def recv(self, timeout: float | None = None) -> dict[str, Any]:
        return dict(json.loads(self.conn.recv(timeout=timeout or self.timeout)))

    def until(self, *events: str, timeout: float | None = None) -> list[dict[str, Any]]:
        """Receive events up to and including the first whose name is in ``events``."""
        seen = []
        while True:
            event = self.recv(timeout)
            seen.append(event)
            if event["event"] in events:
                return seen

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()

    def __enter__(self) -> WS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
