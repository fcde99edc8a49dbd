"""HTTP as the Wikimedia services ask for it: who we are, one query at a time, and patience when told to wait.

* **User-Agent**: ``lookalike/<version> (<contact>) httpx/<version>``, the form of Wikimedia's User-Agent
  policy.  The contact (``Settings.contact``, ``LOOKALIKE_CONTACT``) is an e-mail address or a URL the
  operators can reach.  Against the public services (any ``*.wikidata.org`` / ``*.wikimedia.org`` /
  ``*.wikipedia.org`` host) a run without one is refused before any request: anonymous scripted
  traffic is what those services block first.  Other hosts (a mirror, a test stand-in) are let in
  without it.
* **Retries**: a 429 or 503 waits what its ``Retry-After`` says (seconds or an HTTP date, capped at
  :data:`MAX_RETRY_AFTER`); other 5xx answers, timeouts and broken connections wait an exponential
  backoff with full jitter.  At most :data:`ATTEMPTS` tries.  ``sleep`` and ``rand`` are injectable.
* **Sequential SPARQL**: :meth:`PoliteClient.get_json` holds one lock per host, so two queries to
  the query service never run at once even if a caller uses threads.
* **Bounded downloads**: :meth:`PoliteClient.download` is meant to be called from a pool of at most
  ``concurrency`` threads; a semaphore enforces the bound whatever the pool.  Each file is checked:
  its declared and actual size against a bound, Content-Length against what arrived (a truncated
  answer is detected), its media type, and that the project's own decoder reads it whole.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import httpx

from lookalike.checksums import sha256_bytes
from lookalike.errors import ConfigurationError, ImageError, LookalikeError
from lookalike.media import MEDIA_TYPES
from lookalike.settings import Settings

#: Tries per request (the first one included).
ATTEMPTS = 5
#: The longest ``Retry-After`` obeyed; a server asking for more gets this much and then a retry.
MAX_RETRY_AFTER = 300.0
#: Backoff: the n-th retry waits a uniform random time in [0, BACKOFF_BASE * 2**n], at most BACKOFF_CAP.
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
#: Hosts of the public Wikimedia services (a contact is required there).
PUBLIC_SUFFIXES = ("wikidata.org", "wikimedia.org", "wikipedia.org")
RETRY_AFTER_STATUSES = frozenset({429, 503})


class FetchError(LookalikeError):
    """A request that failed for good (after its retries), or a downloaded file that is not a whole photo."""

    code = "fetch_failed"


@dataclass(frozen=True)
class Fetched:
    """A downloaded, checked file."""

    data: bytes
    sha256: str
    media_type: str
    url: str


def is_public(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return any(host == s or host.endswith("." + s) for s in PUBLIC_SUFFIXES)


def user_agent(contact: str) -> str:
    try:
        version = metadata.version("lookalike")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        version = "0"
    who = contact.strip() or "no contact given"
    return f"lookalike/{version} ({who}) httpx/{httpx.__version__}"


def require_contact(settings: Settings, urls: list[str]) -> None:
    """Refuse to talk to the public services without a contact (see the module docstring)."""
    if settings.contact.strip():
        return
    public = [u for u in urls if is_public(u)]
    if public:
        raise ConfigurationError(
            f"Set LOOKALIKE_CONTACT (an e-mail address or URL) before downloading from {public[0]}: "
            "Wikimedia asks every script to say who runs it, in its User-Agent.",
            code="contact_required",
        )


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header's wait in seconds (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    wait = when.timestamp() - (time.time() if now is None else now)
    return min(max(wait, 0.0), MAX_RETRY_AFTER)


class PoliteClient:
    """One httpx client for a run: counts its requests by kind, sleeps when told, never floods."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float = 30.0,
        concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.sleep = sleep
        self.rand = rand
        self.requests: Counter[str] = Counter()  # by kind: "sparql", "commons", "file"
        self.waits: list[float] = []  # every sleep asked for, in order
        self._host_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._count_guard = threading.Lock()
        self._slots = threading.BoundedSemaphore(concurrency)
        self.client = httpx.Client(
            headers={"User-Agent": user_agent(settings.contact)},
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _host_lock(self, url: str) -> threading.Lock:
        host = urlsplit(url).netloc
        with self._locks_guard:
            return self._host_locks.setdefault(host, threading.Lock())

    def _wait(self, seconds: float) -> None:
        with self._count_guard:
            self.waits.append(seconds)
        self.sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        return min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * self.rand()

    def send(self, kind: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request with the retry rules; the answer is read whole.  Raises FetchError when it fails."""
        last = "no attempt"
        for attempt in range(ATTEMPTS):
            with self._count_guard:
                self.requests[kind] += 1
            try:
                response = self.client.request(method, url, **kwargs)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}: {exc}"
                if attempt + 1 < ATTEMPTS:
                    self._wait(self._backoff(attempt))
                continue
            if response.status_code < 400:
                return response
            last = f"HTTP {response.status_code}"
            if response.status_code in RETRY_AFTER_STATUSES or response.status_code >= 500:
                if attempt + 1 < ATTEMPTS:
                    told = retry_after_seconds(response.headers.get("Retry-After"))
                    self._wait(told if told is not None else self._backoff(attempt))
                continue
            raise FetchError(f"{method} {url}: {last}", code="http_error")
        raise FetchError(f"{method} {url}: gave up after {ATTEMPTS} tries ({last})", code="gave_up")

    def get_json(self, kind: str, url: str, *, params: dict[str, str] | None = None, post: bool = False) -> Any:
        """A JSON answer; requests to one host run one at a time (no parallel queries)."""
        with self._host_lock(url):
            if post:
                response = self.send(kind, "POST", url, data=params, headers=_json_accept(kind))
            else:
                response = self.send(kind, "GET", url, params=params, headers=_json_accept(kind))
        try:
            return response.json()
        except ValueError as exc:
            raise FetchError(f"{url}: the answer is not JSON ({exc})", code="bad_answer") from None

    def download(self, url: str, max_bytes: int) -> Fetched:
        """Fetch a photo and check it (size, Content-Length, type, whole decode); FetchError otherwise."""
        with self._slots:
            response = self.send("file", "GET", url)
        return check_photo(response, max_bytes, self.settings)


def _json_accept(kind: str) -> dict[str, str]:
    if kind == "sparql":
        return {"Accept": "application/sparql-results+json"}
    return {"Accept": "application/json"}


def check_photo(response: httpx.Response, max_bytes: int, settings: Settings) -> Fetched:
    """The checks an upload gets, plus the ones a download needs (declared size, truncation)."""
    url = str(response.request.url)
    declared = response.headers.get("Content-Length")
    data = response.content
    if declared is not None and declared.isdigit():
        if int(declared) > max_bytes:
            raise FetchError(f"{url}: declares {declared} bytes, more than {max_bytes}", code="too_large")
        if int(declared) != len(data):
            raise FetchError(f"{url}: truncated ({len(data)} of {declared} bytes)", code="truncated")
    if len(data) > max_bytes:
        raise FetchError(f"{url}: {len(data)} bytes, more than {max_bytes}", code="too_large")
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media_type and media_type not in MEDIA_TYPES:
        raise FetchError(f"{url}: served as {media_type!r}, not a photo type", code="not_an_image")
    from lookalike.engine.decode import decode  # the decoder (Pillow) only when a photo is checked

    try:
        _, info = decode(data, settings)
    except ImageError as exc:
        raise FetchError(f"{url}: {exc.message}", code=exc.code) from None
    return Fetched(data, sha256_bytes(data), media_type or f"image/{info.format.lower()}", url)
