"""People taken out for good: a removal list that every build, download and search honours.

A person who asks to be taken out must stay out when the gallery is rebuilt or downloaded again, so
the list lives beside the galleries, not in one (``<home>/removals.txt`` by default, the setting
``removals``).  One entry per line: a Wikidata id (``Q42``) or a gallery person name (the folder name,
``Douglas_Adams``, compared with ``_``, spaces and case alike); ``#`` starts a comment (say who asked and
when), and so does anything after a Q-id.  A missing file is an empty list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.settings import Settings

_QID = re.compile(r"[Qq][1-9][0-9]*", re.ASCII)
_FOLDER_QID = re.compile(r"_(Q[1-9][0-9]*)$", re.ASCII)  # the downloader's folders: ``Douglas_Adams_Q42``


def entry_key(entry: str) -> str:
    """An entry as the list compares it: a Q-id (its first word; the rest is a comment) in upper case, or a
    person name with ``_`` and spaces alike and case ignored."""
    words = entry.split()
    if words and is_qid(words[0]):
        return words[0].upper()
    return plain_name(entry)


def plain_name(name: str) -> str:
    """``Douglas_Adams``, ``douglas  adams`` -> ``douglas adams``: folder and display names compared alike."""
    return " ".join(name.replace("_", " ").split()).casefold()


@dataclass(frozen=True)
class Removal:
    """One entry of the list as written (a Q-id in upper case, or a name) and its comment."""

    entry: str
    comment: str


@dataclass(frozen=True)
class RemovalListing:
    """The list, as ``gallery removals --json`` shows it."""

    removals: str  # the file's path
    entries: list[Removal]


@dataclass(frozen=True)
class RemovalList:
    entries: frozenset[str] = field(default_factory=frozenset)  # Q-ids (upper case) and person names
    path: Path | None = None

    @classmethod
    def load(cls, path: Path) -> RemovalList:
        try:
            text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (an editor's) is not part of an entry
        except FileNotFoundError:
            return cls(frozenset(), path)
        entries = {entry_key(line.split("#", 1)[0]) for line in text.splitlines()}
        return cls(frozenset(e for e in entries if e), path)

    @classmethod
    def of(cls, settings: Settings) -> RemovalList:
        return cls.load(settings.removals_path())

    def __bool__(self) -> bool:
        return bool(self.entries)

    def removes(self, person: str, wikidata: str | None = None) -> bool:
        """Is this person on the list, by gallery name (``_``, spaces and case alike) or by Wikidata id (the
        facts' id, an entity URL's, or else the one a downloaded folder's name ends with)?"""
        if plain_name(person) in self.entries:
            return True
        qid = wikidata.rstrip("/").rsplit("/", 1)[-1] if wikidata else None
        if not qid and (found := _FOLDER_QID.search(person)):
            qid = found.group(1)
        return qid is not None and is_qid(qid) and qid.upper() in self.entries

    def listed(self) -> list[Removal]:
        """Every entry with its comment, in the file's order (``Removal("Q42", "Douglas Adams: asked")``)."""
        return [Removal(e, c) for e, c in read_lines(self.path)] if self.path is not None else []


def is_qid(text: str) -> bool:
    """``Q42`` or ``q42``: a Wikidata item id."""
    return _QID.fullmatch(text.strip()) is not None


def read_lines(path: Path) -> list[tuple[str, str]]:
    """The file's entries and their comments (the first line of an entry listed twice)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return []
    out: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        entry, _, comment = line.partition("#")
        key = entry_key(entry)
        if key:
            written = key if is_qid(key) else entry.strip()
            out.setdefault(key, (written, comment.strip()))
    return list(out.values())


def append(path: Path, entry: str, comment: str) -> bool:
    """Add ``entry`` to the list at ``path`` (the file and its folder are created if missing), keeping
    the lines already there; False if it was listed already.  ``comment`` is kept on one line."""
    if not entry.strip() or "#" in entry or len(entry.splitlines()) != 1:
        raise ValueError(f"not a removal list entry: {entry!r}")
    entry = entry.strip()
    if is_qid(entry):
        entry = entry.upper()
    if entry_key(entry) in RemovalList.load(path).entries:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_bytes() if path.is_file() else b""
    comment = " ".join(comment.split())
    line = f"{entry}  # {comment}\n" if comment else f"{entry}\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(("\n" if existing and not existing.endswith(b"\n") else "") + line)
    return True
