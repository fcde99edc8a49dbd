"""People taken out for good: a removal list that every build, download and search honours.

A person who asks to be taken out must stay out when the gallery is rebuilt or downloaded again, so
the list lives beside the galleries, not in one (``<home>/removals.txt`` by default, the setting
``removals``).  One entry per line: a Wikidata id (``Q42``) or a gallery person name (the folder name,
``Douglas_Adams``); ``#`` starts a comment (say who asked and when).  A missing file is an empty list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lookalike.settings import Settings


def _key(entry: str) -> str:
    entry = entry.strip()
    return entry.upper() if is_qid(entry) else entry


@dataclass(frozen=True)
class RemovalList:
    entries: frozenset[str] = field(default_factory=frozenset)  # Q-ids (upper case) and person names
    path: Path | None = None

    @classmethod
    def load(cls, path: Path) -> RemovalList:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(frozenset(), path)
        entries = {_key(line.split("#", 1)[0]) for line in text.splitlines()}
        return cls(frozenset(e for e in entries if e), path)

    @classmethod
    def of(cls, settings: Settings) -> RemovalList:
        return cls.load(settings.removals_path())

    def __bool__(self) -> bool:
        return bool(self.entries)

    def removes(self, person: str, wikidata: str | None = None) -> bool:
        """Is this person on the list (by gallery name, or by Wikidata id when known)?"""
        return person in self.entries or (wikidata is not None and _key(wikidata) in self.entries)

    def listed(self) -> list[tuple[str, str]]:
        """Every entry with its comment, in the file's order: ``[("Q42", "Douglas Adams: asked, 2024-05-01")]``."""
        return read_lines(self.path) if self.path is not None else []


def is_qid(text: str) -> bool:
    """``Q42`` or ``q42``: a Wikidata item id."""
    text = text.strip()
    return len(text) > 1 and text[0] in "qQ" and text[1:].isdigit()


def read_lines(path: Path) -> list[tuple[str, str]]:
    """The file's entries and their comments (the first line of an entry listed twice)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out: dict[str, str] = {}
    for line in text.splitlines():
        entry, _, comment = line.partition("#")
        if _key(entry):
            out.setdefault(_key(entry), comment.strip())
    return list(out.items())


def append(path: Path, entry: str, comment: str) -> bool:
    """Add ``entry`` to the list at ``path`` (the file and its folder are created if missing), keeping
    the lines already there; False if it was listed already.  ``comment`` is kept on one line."""
    entry = _key(entry)
    if not entry or "#" in entry or "\n" in entry:
        raise ValueError(f"not a removal list entry: {entry!r}")
    if entry in RemovalList.load(path).entries:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_bytes() if path.is_file() else b""
    comment = " ".join(comment.split())
    line = f"{entry}  # {comment}\n" if comment else f"{entry}\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(("\n" if existing and not existing.endswith(b"\n") else "") + line)
    return True
