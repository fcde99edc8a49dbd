"""The famous-people photo set: Wikidata's most-linked people with a freely licensed Commons portrait.

:func:`download_wikidata` is the one entry point (the CLI's ``gallery download wikidata`` calls it)::

    download_wikidata(out, top, settings, *, min_sitelinks=1, occupation=None, living=False,
                      language="en", width=800, progress=None) -> DownloadReport

For the ``top`` people in sitelink order who have a reusable portrait: the query service gives the
people (``gallery/wikidata.py``, band by band, one request at a time), Commons gives each portrait's
thumbnail URL, licence and credit in batches of at most 50 titles (``gallery/commons.py``), the
reusable ones are downloaded (at most ``concurrency`` at a time, each checked: size, Content-Length,
type, whole decode; ``gallery/polite.py``) into ``OUT/<Person_Dir>/<file>``, and ``OUT/provenance.jsonl``
gets a person line and a photo line for each.  Image URLs come only from the API's answers.

Skipped people and photos go to ``OUT/skipped.jsonl`` (one JSON object a line: ``wikidata``, ``name``,
``title``, ``reason``, ``detail``) and to the report.  Reasons: ``non_free``, ``nc_nd``,
``unknown_licence``, ``gfdl_only`` (the licence does not allow reuse with a credit line),
``missing_file`` (deleted or never on Commons), ``broken_download`` (truncated, not a photo, or the
server gave up).  All but ``broken_download`` are remembered: a later run does not ask again about
the same file for the same person (delete ``skipped.jsonl`` to ask again).

People on the removal list (:mod:`lookalike.gallery.removals`, by Q-id or folder name) are left out
before Commons is asked about them: nothing is fetched or recorded for them, the next people fill the
``top``, and the report counts them (``removed_by_list``).  Photos and lines an earlier run left of a
person since listed are deleted (:func:`forget`).

Resumable: the photo lines already in ``provenance.jsonl`` whose file is there with the recorded
SHA-256 are not fetched again (neither Commons nor the file); a run killed halfway loses at most the
photos it was downloading.  Each photo is written (to a hidden ``.<file>.part``, then renamed) and
recorded as soon as it and the photos ranked before it have arrived, so what a killed run had
downloaded is kept.  A kill can leave a cut last line in ``provenance.jsonl`` or ``skipped.jsonl``
and ``.part`` files: the next run removes them before it reads or appends anything.  Re-running asks
the query service again (the ranking changes) and adds whoever is new in the top ``top``; a person
whose facts changed gets a new person line (the later line wins, as the contract says).

The provenance contract (the interface with ``gallery build``), as agreed:

# The provenance sidecar of a downloaded photo set (the contract between the downloader and `gallery build`)

A photo set is a folder in the layout `gallery build` already reads: `SET/<Person_Dir>/<photo files>`.
A downloader that knows where photos came from writes, at the root of the set, `SET/provenance.jsonl`:
one JSON object per line, UTF-8, appended as it goes (so a killed run keeps what it wrote; a later
line for the same key replaces an earlier one). Two kinds of line:

{"kind": "set", "set": "wikidata", "title": "Wikidata + Wikimedia Commons", "source_url": "https://www.wikidata.org/"}

{"kind": "person", "dir": "<Person_Dir>", "name": "Ada Lovelace", "wikidata": "Q7259",
 "description": "English mathematician", "sex": "female" | "male" | "other" | null,
 "birth_year": 1815 | null, "death_year": 1852 | null, "occupations": ["mathematician", ...],
 "country": "United Kingdom" | null, "wikipedia": "https://en.wikipedia.org/wiki/Ada_Lovelace" | null,
 "sitelinks": 120 | null}

{"kind": "photo", "path": "<Person_Dir>/<file>", "source_url": "https://commons.wikimedia.org/wiki/File:...",
 "licence": "CC BY-SA 4.0", "licence_url": "https://creativecommons.org/licenses/by-sa/4.0" | null,
 "author": "plain text" | null, "credit": "plain text" | null, "attribution_required": true | false | null,
 "reusable": true | false,            # the licence allows reuse with credit (public domain, CC0, CC BY, CC BY-SA, ...)
 "sha256": "<hex of the file's bytes>", "bytes": 12345}

All text values are PLAIN TEXT (HTML from Commons is converted to text by the downloader, never stored as HTML).
`sex` values are normalised from Wikidata's P21 items (Q6581072 female, Q6581097 male, others -> "other").
`occupations` are English labels. Unknown -> null. Person_Dir is the folder name (e.g. "Ada_Lovelace_Q7259").
Sets without provenance.jsonl (LFW, celeb_mini) get defaults by set name when built:
LFW -> licence "LFW: research use" (reusable false), celeb_mini -> "licence unknown" (reusable false).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lookalike.checksums import sha256_file
from lookalike.gallery.commons import (
    MAX_TITLES,
    CommonsFile,
    canonical_title,
    fetch_files,
    title_from_description_url,
)
from lookalike.gallery.polite import Fetched, FetchError, PoliteClient, require_contact
from lookalike.gallery.provenance import SIDECAR, SKIP_LOG
from lookalike.gallery.removals import RemovalList
from lookalike.gallery.wikidata import PAGE_SIZE, Person, QueryOptions, iter_people
from lookalike.media import PHOTO_SUFFIXES
from lookalike.settings import Settings

PROVENANCE = SIDECAR
SKIPPED = SKIP_LOG
SET_LINE = {
    "kind": "set",
    "set": "wikidata",
    "title": "Wikidata + Wikimedia Commons",
    "source_url": "https://www.wikidata.org/",
}
#: Skip reasons that a re-run trusts (the file or its licence, not the network, was the cause).
PERMANENT = frozenset({"non_free", "nc_nd", "unknown_licence", "gfdl_only", "missing_file", "no_portrait"})


@dataclass(frozen=True)
class Skip:
    wikidata: str
    name: str
    title: str | None
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class RequestCounts:
    sparql: int
    commons: int
    files: int


@dataclass(frozen=True)
class ProgressEvent:
    action: str  # "downloaded", "kept" (had it already) or "skipped"
    person: str  # Person_Dir
    kept: int
    top: int


@dataclass
class DownloadReport:
    out: Path
    people: list[str] = field(default_factory=list)  # Person_Dir of everyone kept, in sitelink order
    downloaded: int = 0  # photos fetched by this run
    already_had: int = 0  # photos found whole from an earlier run
    skipped: list[Skip] = field(default_factory=list)
    removed_by_list: int = 0  # people of the ranking left out because they are on the removal list
    requests: RequestCounts = RequestCounts(0, 0, 0)

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(s.reason for s in self.skipped))


@dataclass(frozen=True)
class StoredPhoto:
    path: str
    title: str
    sha256: str


@dataclass
class State:
    """What an earlier run left in OUT: provenance lines (the last per key) and remembered skips."""

    out: Path
    has_set: bool = False
    persons: dict[str, dict[str, Any]] = field(default_factory=dict)  # by dir
    photos: dict[str, StoredPhoto] = field(default_factory=dict)  # by dir (one portrait per person)
    skips: dict[tuple[str, str], str] = field(default_factory=dict)  # (qid, title) -> permanent reason

    @classmethod
    def load(cls, out: Path) -> State:
        """Read what an earlier run left, first tidying what a kill may have left half done."""
        state = cls(out)
        for name in (PROVENANCE, SKIPPED):
            repair_last_line(out / name)
        for part in out.glob("*/.*.part"):
            part.unlink(missing_ok=True)
        for line in _read_lines(out / PROVENANCE):
            if line.get("kind") == "set":
                state.has_set = True
            elif line.get("kind") == "person" and isinstance(line.get("dir"), str):
                state.persons[line["dir"]] = line
            elif line.get("kind") == "photo" and isinstance(line.get("path"), str):
                folder = line["path"].split("/", 1)[0]
                title = title_from_description_url(str(line.get("source_url") or ""))
                state.photos[folder] = StoredPhoto(line["path"], title, str(line.get("sha256") or ""))
        for line in _read_lines(out / SKIPPED):
            if line.get("reason") in PERMANENT and line.get("title"):
                state.skips[(str(line.get("wikidata")), str(line["title"]))] = str(line["reason"])
        return state

    def has_photo(self, person: Person) -> bool:
        stored = self.photos.get(person.dir_name)
        if stored is None or person.image is None or stored.title != canonical_title(person.image):
            return False
        file = self.out / stored.path
        return file.is_file() and sha256_file(file) == stored.sha256

    def append(self, name: str, line: dict[str, Any]) -> None:
        with open(self.out / name, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())


def repair_last_line(path: Path) -> None:
    """End ``path`` with a whole line: a last line without its newline (a write cut short by a kill or a
    full disk) gets its newline if it is a whole JSON object, else it is cut off.  Without this the next
    appended line would be glued to the fragment, and lost with it."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    start = data.rfind(b"\n") + 1
    try:
        whole = isinstance(json.loads(data[start:]), dict)
    except ValueError:  # not JSON, or a character cut in half
        whole = False
    with open(path, "r+b") as f:
        if whole:
            f.seek(len(data))
            f.write(b"\n")
        else:
            f.truncate(start)
        f.flush()
        os.fsync(f.fileno())


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    for raw in path.read_bytes().splitlines():
        try:
            line = json.loads(raw)
        except ValueError:  # a line cut short (a character cut in half included)
            continue
        if isinstance(line, dict):
            yield line


def person_line(person: Person) -> dict[str, Any]:
    return {
        "kind": "person",
        "dir": person.dir_name,
        "name": person.name,
        "wikidata": person.qid,
        "description": person.description,
        "sex": person.sex,
        "birth_year": person.birth_year,
        "death_year": person.death_year,
        "occupations": list(person.occupations),
        "country": person.country,
        "wikipedia": person.wikipedia,
        "sitelinks": person.sitelinks,
    }


def photo_line(path: str, file: CommonsFile, fetched: Fetched) -> dict[str, Any]:
    assert file.licence is not None
    return {
        "kind": "photo",
        "path": path,
        "source_url": file.description_url,
        "licence": file.licence.name,
        "licence_url": file.licence.url,
        "author": file.author,
        "credit": file.credit or file.attribution,
        "attribution_required": file.attribution_required,
        "reusable": file.licence.reusable,
        "sha256": fetched.sha256,
        "bytes": len(fetched.data),
    }


def file_name(title: str, thumb_url: str) -> str:
    """``File:Zoë O'Brien.jpg`` + its thumbnail's URL -> ``Zoë_O_Brien.jpg`` (the thumbnail's own type)."""
    name = canonical_title(title).split(":", 1)[1]
    thumb_suffix = Path(urlsplit(thumb_url).path).suffix.lower()
    if thumb_suffix not in PHOTO_SUFFIXES:
        thumb_suffix = ".jpg"
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix.lower() == thumb_suffix else name
    safe = re.sub(r"[^\w.-]+", "_", stem, flags=re.UNICODE).strip("._") or "photo"
    return safe[:120] + thumb_suffix


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")  # hidden: never taken for a photo, removed by the next run
    part.write_bytes(data)
    os.replace(part, path)


@dataclass
class _Run:
    state: State
    client: PoliteClient
    settings: Settings
    top: int
    width: int
    concurrency: int
    formatversion: int
    progress: Callable[[ProgressEvent], None] | None
    report: DownloadReport
    removals: RemovalList

    def emit(self, action: str, person: Person) -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(action, person.dir_name, len(self.report.people), self.top))

    def skip(self, person: Person, reason: str, detail: str = "", remembered: bool = False) -> None:
        entry = Skip(person.qid, person.name, person.image, reason, detail)
        self.report.skipped.append(entry)
        if not remembered:
            self.state.append(
                SKIPPED, {k: getattr(entry, k) for k in ("wikidata", "name", "title", "reason", "detail")}
            )
        self.emit("skipped", person)

    def keep(self, person: Person) -> None:
        self.report.people.append(person.dir_name)
        line = person_line(person)
        if self.state.persons.get(person.dir_name) != line:  # new, or its facts changed: the later line wins
            self.state.append(PROVENANCE, line)
            self.state.persons[person.dir_name] = line

    def triage(self, person: Person) -> bool:
        """Settle a person without the network if possible; True: they still need Commons and a download."""
        if self.removals.removes(person.dir_name, person.qid):
            self.report.removed_by_list += 1
            return False
        if person.image is None:
            self.skip(person, "no_portrait")
            return False
        if self.state.has_photo(person):
            self.keep(person)
            self.report.already_had += 1
            self.emit("kept", person)
            return False
        reason = self.state.skips.get((person.qid, canonical_title(person.image)))
        if reason is not None:
            self.skip(person, reason, "remembered from an earlier run", remembered=True)
            return False
        return True

    def batch(self, people: list[Person]) -> None:
        """Commons for the titles, then the reusable thumbnails (concurrently); each person is settled (file
        and lines written) in rank order as soon as their photo and those ranked before it have arrived."""
        titles = list(dict.fromkeys(canonical_title(p.image or "") for p in people))
        files = fetch_files(
            self.client, self.settings.commons_api_url, titles, self.width, formatversion=self.formatversion
        )
        wanted: dict[str, str] = {}  # thumbnail URL -> title (one download for a photo two people share)
        for title in titles:
            f = files[title]
            if not f.missing and f.licence is not None and f.licence.reusable and f.thumb_url:
                wanted.setdefault(f.thumb_url, title)
        urls = list(wanted)
        results: dict[str, Fetched | FetchError] = {}
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            arriving = zip(urls, pool.map(self.fetch_one, urls))  # in the order asked: the rank order
            for person in people:
                file = files[canonical_title(person.image or "")]
                while file.thumb_url in wanted and file.thumb_url not in results:
                    url, got = next(arriving)
                    results[url] = got
                self.settle(person, file, results)
        finally:  # stopped early (an error, Ctrl-C): the downloads not started yet are not started
            pool.shutdown(wait=True, cancel_futures=True)

    def fetch_one(self, url: str) -> Fetched | FetchError:
        try:
            return self.client.download(url, self.settings.max_upload_bytes)
        except FetchError as exc:
            return exc

    def settle(self, person: Person, file: CommonsFile, results: dict[str, Fetched | FetchError]) -> None:
        if file.missing:
            self.skip(person, "missing_file", "not on Commons (deleted or never uploaded)")
            return
        if file.licence is None or not file.licence.reusable:
            licence = file.licence.name if file.licence else ""
            self.skip(person, file.licence.reason if file.licence else "unknown_licence", licence or "no licence given")
            return
        got = results.get(file.thumb_url or "")
        if not isinstance(got, Fetched):
            self.skip(person, "broken_download", got.message if got is not None else "no thumbnail URL")
            return
        path = f"{person.dir_name}/{file_name(file.title, got.url)}"
        _write_atomic(self.state.out / path, got.data)
        self.keep(person)
        line = photo_line(path, file, got)
        self.state.append(PROVENANCE, line)
        self.state.photos[person.dir_name] = StoredPhoto(path, file.title, got.sha256)
        self.report.downloaded += 1
        self.emit("downloaded", person)

    def run(self, people: Iterator[Person]) -> None:
        seen: set[str] = set()
        while len(self.report.people) < self.top:
            pending: list[Person] = []
            for person in people:
                if person.qid in seen:
                    continue
                seen.add(person.qid)
                if self.triage(person):
                    pending.append(person)
                if len(pending) >= min(MAX_TITLES, self.top - len(self.report.people)):
                    break
            if not pending:
                return
            self.batch(pending)


def download_wikidata(
    out: Path,
    top: int,
    settings: Settings,
    *,
    min_sitelinks: int = 1,
    occupation: str | None = None,
    living: bool = False,
    language: str = "en",
    width: int = 800,
    progress: Callable[[ProgressEvent], None] | None = None,
    concurrency: int = 4,
    page_size: int = PAGE_SIZE,
    formatversion: int = 2,
    client: PoliteClient | None = None,
) -> DownloadReport:
    """Download the ``top`` most-linked people with a reusable portrait into the photo set ``out``
    (see the module docstring).  ``client`` lets a caller (a test) choose the sleep and the timeout."""
    require_contact(settings, [settings.wikidata_sparql_url, settings.commons_api_url])
    out.mkdir(parents=True, exist_ok=True)
    removals = RemovalList.of(settings)
    listed = [d for d, line in State.load(out).persons.items() if removals.removes(d, line.get("wikidata"))]
    forget(out, listed)
    state = State.load(out)
    if not state.has_set:
        state.append(PROVENANCE, SET_LINE)
    options = QueryOptions(min_sitelinks, occupation, living, language, page_size)
    own = client is None
    client = client or PoliteClient(settings, concurrency=concurrency)
    report = DownloadReport(out)
    run = _Run(state, client, settings, top, width, concurrency, formatversion, progress, report, removals)
    try:
        run.run(iter_people(client, settings.wikidata_sparql_url, options))
    finally:
        report.requests = RequestCounts(client.requests["sparql"], client.requests["commons"], client.requests["file"])
        if own:
            client.close()
    return report


def wikidata_set(settings: Settings) -> Path:
    """Where ``gallery download wikidata`` keeps the photo set (its folder name is its provenance set name)."""
    return settings.home / "downloads" / "wikidata"


def downloaded_people(out: Path) -> dict[str, dict[str, Any]]:
    """The person lines of the set at ``out`` (the last per folder), by folder."""
    return State.load(out).persons


def forget(out: Path, folders: list[str]) -> int:
    """Delete these people's photos from the set at ``out`` and their lines from its ``provenance.jsonl``
    (so a later run does not count them as had); returns the photo files deleted."""
    wanted = {f for f in folders if f and "/" not in f and f not in (".", "..")}
    if not wanted:
        return 0
    deleted = 0
    for folder in sorted(wanted):
        path = out / folder
        if path.is_dir():
            files = [f for f in path.iterdir() if f.is_file()]
            for file in files:
                file.unlink()
            deleted += len(files)
            shutil.rmtree(path)
    sidecar = out / PROVENANCE
    if sidecar.is_file():
        lines = sidecar.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [raw for raw in lines if _folder(raw) not in wanted]
        _write_atomic(sidecar, "".join(kept).encode("utf-8"))
    return deleted


def _folder(raw: str) -> str | None:
    """The person folder a provenance line is about (None: the set line, or not a line)."""
    try:
        line = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(line, dict):
        return None
    if line.get("kind") == "person":
        return str(line.get("dir"))
    if line.get("kind") == "photo":
        return str(line.get("path") or "").split("/", 1)[0]
    return None
