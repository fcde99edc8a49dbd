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
    return entry.upper() if entry[:1] in "qQ" and entry[1:].isdigit() else entry


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
