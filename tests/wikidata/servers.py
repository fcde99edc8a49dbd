"""Stand-ins of the Wikidata Query Service, the Commons API and Commons' thumbnail server, on 127.0.0.1.

Real HTTP servers (``http.server`` in a thread, one thread per connection) that count what they receive:
requests by path, the most in flight at once, every User-Agent, every Commons batch's titles.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pyoxigraph

from lookalike.bench.server import free_port
from tests.wikidata import world
from tests.wikidata.world import Made


class StandIn:
    """One server: ``handle(handler, method, path, query)`` answers; counts and traces every request."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: Counter[str] = Counter()
        self.user_agents: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                stand_in._dispatch(self, "GET")

            def do_POST(self) -> None:
                stand_in._dispatch(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        with self.lock:
            self.requests[unquote(parts.path)] += 1
            self.user_agents.append(h.headers.get("User-Agent", ""))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            query = parse_qs(parts.query)
            if method == "POST":
                length = int(h.headers.get("Content-Length") or 0)
                body = h.rfile.read(length).decode()
                if h.headers.get("Content-Type", "").startswith("application/sparql-query"):
                    query["query"] = [body]
                else:
                    query.update(parse_qs(body))
            self.handle(h, method, unquote(parts.path), {k: v[0] for k, v in query.items()})
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout): as a real server sees it
            h.close_connection = True
        finally:
            with self.lock:
                self.in_flight -= 1

    def handle(self, h: BaseHTTPRequestHandler, method: str, path: str, query: dict[str, str]) -> None:
        raise NotImplementedError

    @property
    def total(self) -> int:
        return sum(self.requests.values())


def send(h: BaseHTTPRequestHandler, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    h.send_header("Content-Type", kind)
    h.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(body)


class Sparql(StandIn):
    """A SPARQL 1.1 Protocol endpoint over pyoxigraph; ``fail_first`` answers 429 + Retry-After first."""

    def __init__(self, ttl: str, fail_first: bool = True, delay: float = 0.05) -> None:
        super().__init__("sparql")
        self.store = pyoxigraph.Store()
        self.store.load(ttl.encode(), format=pyoxigraph.RdfFormat.TURTLE)
        self.fail_first = fail_first
        self.delay = delay  # each answer takes this long, so overlapping queries would show
        self.queries: list[str] = []

    def handle(self, h: BaseHTTPRequestHandler, method: str, path: str, query: dict[str, str]) -> None:
        if self.fail_first:
            self.fail_first = False
            send(h, 429, b"Too many requests", "text/plain", {"Retry-After": "1"})
            return
        text = query.get("query")
        if path != "/sparql" or not text:
            send(h, 400, b"no query", "text/plain")
            return
        self.queries.append(text)
        time.sleep(self.delay)
        try:
            result = self.store.query(text)
        except (SyntaxError, ValueError, OSError) as exc:
            send(h, 400, str(exc).encode(), "text/plain")
            return
        send(h, 200, result.serialize(format=pyoxigraph.QueryResultsFormat.JSON), "application/sparql-results+json")


def normalise(title: str) -> str:
    """MediaWiki's title normalisation of the File namespace (underscores, Image: alias, first letter)."""
    ns, _, name = title.partition(":")
    name = name.replace("_", " ").strip()
    return "File:" + name[:1].upper() + name[1:] if ns.lower() in ("file", "image") else title


class Commons(StandIn):
    """``api.php`` answering ``action=query&prop=imageinfo&iiprop=url|extmetadata`` (formatversion 1 and 2)."""

    def __init__(self, people: list[Made], files_url: str, unavailable_first: bool = True) -> None:
        super().__init__("commons")
        self.by_title = {p.title: p for p in people}
        self.files_url = files_url
        self.unavailable_first = unavailable_first
        self.batches: list[list[str]] = []

    def handle(self, h: BaseHTTPRequestHandler, method: str, path: str, query: dict[str, str]) -> None:
        if self.unavailable_first:
            self.unavailable_first = False
            send(h, 503, b"Service Unavailable", "text/html", {"Retry-After": "2"})
            return
        if path != "/w/api.php" or query.get("action") != "query" or query.get("prop") != "imageinfo":
            send(h, 400, b'{"error": {"code": "badparams"}}', "application/json")
            return
        titles = query.get("titles", "").split("|")
        self.batches.append(titles)
        if len(titles) > 50:
            body = {"error": {"code": "toomanyvalues", "info": 'Too many values supplied for parameter "titles".'}}
            send(h, 200, json.dumps(body).encode(), "application/json")
            return
        v2 = query.get("formatversion") == "2"
        answer = self.answer(titles, int(query.get("iiurlwidth") or 800), v2)
        send(h, 200, json.dumps(answer).encode(), "application/json; charset=utf-8")

    def answer(self, titles: list[str], width: int, v2: bool) -> dict[str, Any]:
        normalized = [{"from": t, "to": normalise(t)} for t in titles if normalise(t) != t]
        if v2:
            for n in normalized:
                n["fromencoded"] = False
        pages: list[dict[str, Any]] = []
        for i, title in enumerate(dict.fromkeys(normalise(t) for t in titles)):
            made = self.by_title.get(title)
            if made is None or made.index == world.DELETED:
                pages.append({"ns": 6, "title": title, "missing": True if v2 else "", "known": True if v2 else ""})
                if not v2:
                    pages[-1]["pageid"] = -(i + 1)
                continue
            pages.append(self.page(made, width, v2))
        query: dict[str, Any] = {
            "pages": pages if v2 else {str(p.get("pageid", -1 - i)): p for i, p in enumerate(pages)}
        }
        if normalized:
            query["normalized"] = normalized
        return {"batchcomplete": True if v2 else "", "query": query}

    def page(self, made: Made, width: int, v2: bool) -> dict[str, Any]:
        name = made.title.split(":", 1)[1]
        enc = quote(name.replace(" ", "_"))
        hidden = {"hidden": True} if v2 else {"hidden": ""}

        def meta(value: str) -> dict[str, Any]:
            return {"value": value, "source": "commons-desc-page", **hidden}

        artist = (
            world.HOSTILE
            if made.index == world.HOSTILE_ARTIST
            else f'<a href="//commons.wikimedia.org/wiki/User:P{made.index}">Photographer {made.index}</a>'
        )
        ext = {
            "Artist": meta(artist),
            "Credit": meta('<span class="int-own-work">Own work</span>'),
            "AttributionRequired": meta("false" if made.licence in ("Public domain", "CC0") else "true"),
        }
        if made.licence is not None:
            ext["LicenseShortName"] = meta(made.licence)
            ext["UsageTerms"] = meta(made.licence)
            ext["LicenseUrl"] = meta("https://creativecommons.org/licenses/by-sa/4.0")
        info = {
            "thumburl": f"{self.files_url}/thumb/{made.index}/{width}px-{enc}",
            "thumbwidth": width,
            "thumbheight": width,
            "url": f"{self.files_url}/full/{made.index}/{enc}",
            "descriptionurl": f"https://commons.wikimedia.org/wiki/File:{enc}",
            "descriptionshorturl": f"https://commons.wikimedia.org/w/index.php?curid={1000 + made.index}",
            "extmetadata": ext,
        }
        return {
            "pageid": 1000 + made.index,
            "ns": 6,
            "title": made.title,
            "imagerepository": "local",
            "imageinfo": [info],
        }


class Files(StandIn):
    """The thumbnails: the real photos; the first answer for some files is a 429, a 503, slow or truncated
    (unless ``troubles`` is false).  Each answer takes ``delay`` seconds."""

    def __init__(
        self, people: list[Made], slow_seconds: float = 0.6, delay: float = 0.05, troubles: bool = True
    ) -> None:
        super().__init__("files")
        self.by_index = {p.index: p for p in people}
        self.slow_seconds = slow_seconds
        self.delay = delay  # long enough for concurrent downloads to overlap
        self.troubled: set[int] = set() if troubles else set(self.by_index)  # the first answer was given
        self.on_request: Callable[[int], None] | None = None

    def handle(self, h: BaseHTTPRequestHandler, method: str, path: str, query: dict[str, str]) -> None:
        parts = path.strip("/").split("/")
        made = self.by_index.get(int(parts[1])) if len(parts) >= 3 and parts[1].isdigit() else None
        if made is None:
            send(h, 404, b"not found", "text/plain")
            return
        data = Path(made.photo).read_bytes()
        first = made.index not in self.troubled
        self.troubled.add(made.index)
        time.sleep(self.delay)
        if made.index == world.BROKEN:  # always: a consistent but cut-off file (decode fails)
            send(h, 200, data[: len(data) // 2], "image/jpeg")
        elif first and made.index == world.RATE_LIMITED:
            send(h, 429, b"slow down", "text/plain", {"Retry-After": "3"})
        elif first and made.index == world.UNAVAILABLE:
            send(h, 503, b"busy", "text/plain")
        elif first and made.index == world.SLOW:
            time.sleep(self.slow_seconds)
            send(h, 200, data, "image/jpeg")
        elif first and made.index == world.TRUNCATED_ONCE:  # declares the whole file, sends half, hangs up
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            h.close_connection = True
        else:
            send(h, 200, data, "image/jpeg")
