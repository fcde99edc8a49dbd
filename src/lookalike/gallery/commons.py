"""Wikimedia Commons: a portrait's thumbnail URL, licence and credit, from the MediaWiki API.

One request asks about up to :data:`MAX_TITLES` files::

    action=query&prop=imageinfo&iiprop=url|extmetadata&iiurlwidth=<w>&titles=File:A|File:B&format=json

Both answer shapes are read: ``formatversion=1`` (``pages`` an object keyed by page id, flags as
empty strings, ``-1``, ``-2``, ... for missing pages) and ``formatversion=2`` (``pages`` a list,
flags as booleans).  ``normalized`` maps the titles as sent to the titles as answered; a ``missing``
page (deleted, or never uploaded) is reported as such.  A ``continue`` block is followed.

Licences are classified by :func:`classify_licence`: public domain, CC0, CC BY, CC BY-SA (every version
and port), the Free Art License and "Attribution" are kept; NC and ND variants, fair use, non-free and
unknown licences are not, each with its reason.  ``Artist``, ``Attribution`` and ``Credit`` arrive as
HTML: :func:`plain_text` turns them into plain text with a real HTML parser (text only: no tag, no
attribute, no link, nothing of ``<script>``/``<style>``), so no HTML ever leaves this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, urlsplit

from lookalike.gallery.polite import FetchError, PoliteClient

#: The MediaWiki API's limit of titles per query for ordinary clients.
MAX_TITLES = 50
SPECIAL_FILEPATH = "/wiki/Special:FilePath/"


@dataclass(frozen=True)
class Licence:
    name: str  # LicenseShortName as given ("" when none)
    url: str | None
    reusable: bool
    reason: str | None  # why not, when not reusable ("non_free", "nc_nd", "unknown_licence", ...)


@dataclass(frozen=True)
class CommonsFile:
    """What Commons says of one file (``missing`` files have no thumbnail or licence)."""

    title: str  # as asked ("File:Zoë O'Brien.jpg")
    missing: bool
    thumb_url: str | None = None
    description_url: str | None = None
    licence: Licence | None = None
    author: str | None = None  # plain text from Artist
    attribution: str | None = None  # plain text from Attribution
    credit: str | None = None  # plain text from Credit
    attribution_required: bool | None = None
    usage_terms: str | None = None  # plain text


# ---------------------------------------------------------------------------------------------- titles


def title_from_filepath(iri: str) -> str:
    """``http://commons.wikimedia.org/wiki/Special:FilePath/Zo%C3%AB%20O%27Brien.jpg`` -> ``File:Zoë O'Brien.jpg``."""
    path = urlsplit(iri).path
    name = path.split(SPECIAL_FILEPATH, 1)[1] if SPECIAL_FILEPATH in path else path.rsplit("/", 1)[-1]
    return canonical_title("File:" + unquote(name))


def canonical_title(title: str) -> str:
    """A file title as MediaWiki writes it: ``File:`` prefix, spaces not underscores, first letter upper."""
    name = title.split(":", 1)[1] if title.lower().startswith(("file:", "image:")) else title
    name = re.sub(r"[_\s]+", " ", name).strip()
    return "File:" + name[:1].upper() + name[1:]


def title_from_description_url(url: str) -> str:
    """``https://commons.wikimedia.org/wiki/File:Zo%C3%AB_O%27Brien.jpg`` -> ``File:Zoë O'Brien.jpg``."""
    return canonical_title(unquote(urlsplit(url).path.rsplit("/wiki/", 1)[-1]))


# ---------------------------------------------------------------------------------------------- text


class _TextOnly(HTMLParser):
    SKIP = frozenset({"script", "style", "template", "noscript", "iframe", "object", "svg", "math", "head"})
    BREAK = frozenset({"br", "p", "div", "li", "tr", "td", "th"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BREAK:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BREAK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def plain_text(html: str | None) -> str | None:
    """HTML (or text) -> one line of plain text, or None when nothing is left.  Angle brackets that
    were written as entities are dropped too, and so is a ``javascript:`` scheme left in the text."""
    if not html:
        return None
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[<>]", "", text)
    text = re.sub(r"(?i)(?:java|vb)script\s*:", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text or None


# ---------------------------------------------------------------------------------------------- licences

_NON_FREE = re.compile(r"(?i)\b(fair[ _-]?use|non[ _-]?free|all rights reserved|copyrighted(?! free use))")
_NC_ND = re.compile(r"(?i)(?:\bcc\b|creative commons)[\w .-]*?\b(nc|nd|noncommercial|noderivs|noderivatives)\b")
_FREE = (
    re.compile(r"(?i)^(cc0|cc[ -]?zero|public domain|pd\b|pd-|no restrictions|no known copyright)"),
    re.compile(r"(?i)^(cc|creative commons)[ -]?(by|attribution)([ -]?(sa|share[ -]?alike))?\b"),
    re.compile(r"(?i)^(attribution|free art licen[cs]e|fal\b|lal\b|copyrighted free use)"),
)


def classify_licence(short_name: str | None, url: str | None, usage_terms: str | None = None) -> Licence:
    """Keep what allows reuse with credit; say why anything else is not kept."""
    name = plain_text(short_name) or ""
    probe = name or (plain_text(usage_terms) or "")
    if not probe:
        return Licence("", url, False, "unknown_licence")
    if _NON_FREE.search(probe):
        return Licence(name, url, False, "non_free")
    if _NC_ND.search(probe) or re.search(r"(?i)/licenses/by(-sa)?-(nc|nd)", url or ""):
        return Licence(name, url, False, "nc_nd")
    if re.match(r"(?i)^gfdl", probe) and not re.search(r"(?i)\bcc\b", probe):
        return Licence(name, url, False, "gfdl_only")  # the GFDL wants its full text with every copy
    if any(p.search(probe) for p in _FREE):
        return Licence(name or probe, url, True, None)
    return Licence(name, url, False, "unknown_licence")


# ---------------------------------------------------------------------------------------------- the API


def _meta(ext: dict[str, Any], key: str) -> str | None:
    entry = ext.get(key)
    if isinstance(entry, dict):
        value = entry.get("value")
        return None if value is None else str(value)
    return None


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("true", "1", "yes")


def _file_from_page(title: str, page: dict[str, Any]) -> CommonsFile:
    missing = page.get("missing") is not None and page.get("missing") is not False
    infos = page.get("imageinfo") or []
    if missing or not infos:
        return CommonsFile(title, missing=True)
    info = infos[0]
    ext = info.get("extmetadata") or {}
    licence = classify_licence(_meta(ext, "LicenseShortName"), _meta(ext, "LicenseUrl"), _meta(ext, "UsageTerms"))
    return CommonsFile(
        title,
        missing=False,
        thumb_url=info.get("thumburl") or info.get("url"),
        description_url=info.get("descriptionurl"),
        licence=licence,
        author=plain_text(_meta(ext, "Artist")),
        attribution=plain_text(_meta(ext, "Attribution")),
        credit=plain_text(_meta(ext, "Credit")),
        attribution_required=_flag(_meta(ext, "AttributionRequired")),
        usage_terms=plain_text(_meta(ext, "UsageTerms")),
    )


def parse_imageinfo(answer: dict[str, Any], asked: Iterable[str]) -> dict[str, CommonsFile]:
    """One API answer (formatversion 1 or 2) -> the files asked for, by the title as asked."""
    query = answer.get("query") or {}
    renamed = {n["from"]: n["to"] for n in query.get("normalized") or []}
    pages = query.get("pages") or []
    if isinstance(pages, dict):  # formatversion 1
        pages = list(pages.values())
    by_title = {p.get("title"): p for p in pages if isinstance(p, dict)}
    found: dict[str, CommonsFile] = {}
    for title in asked:
        page = by_title.get(renamed.get(title, title))
        if page is not None:
            found[title] = _file_from_page(title, page)
    return found


def _merge_pages(into: dict[str, Any], answer: dict[str, Any]) -> None:
    """Continued answers repeat pages with more imageinfo: keep the first that has it."""
    query = answer.get("query") or {}
    target = into.setdefault("query", {})
    target.setdefault("normalized", []).extend(query.get("normalized") or [])
    pages = query.get("pages") or []
    pages = list(pages.values()) if isinstance(pages, dict) else pages
    known = {p.get("title"): p for p in target.setdefault("pages", [])}
    for page in pages:
        old = known.get(page.get("title"))
        if old is None:
            target["pages"].append(page)
            known[page.get("title")] = page
        elif not old.get("imageinfo") and page.get("imageinfo"):
            old["imageinfo"] = page["imageinfo"]


def fetch_files(
    client: PoliteClient, api_url: str, titles: list[str], width: int, *, formatversion: int = 2
) -> dict[str, CommonsFile]:
    """Ask Commons about ``titles`` (at most MAX_TITLES a request), following ``continue``."""
    found: dict[str, CommonsFile] = {}
    titles = list(dict.fromkeys(titles))  # each title asked once
    for start in range(0, len(titles), MAX_TITLES):
        chunk = titles[start : start + MAX_TITLES]
        params = {
            "action": "query",
            "prop": "imageinfo",
            "iiprop": "url|extmetadata",
            "iiurlwidth": str(width),
            "titles": "|".join(chunk),
            "format": "json",
            "formatversion": str(formatversion),
        }
        merged: dict[str, Any] = {}
        cont: dict[str, str] = {}
        for _ in range(20):  # a continuation chain longer than this is a server bug
            answer = client.get_json("commons", api_url, params={**params, **cont})
            if not isinstance(answer, dict) or "error" in answer:
                raise FetchError(f"{api_url}: the API refused the query: {answer!r:.200}", code="bad_answer")
            _merge_pages(merged, answer)
            cont = answer.get("continue") or {}
            if not cont:
                break
        found.update(parse_imageinfo(merged, chunk))
        for title in chunk:  # a title the answer does not mention at all is as good as missing
            found.setdefault(title, CommonsFile(title, missing=True))
    return found
