"""Take a person out for good (``lookalike gallery remove``): the removal list, the gallery, the downloads.

The person is named by a Wikidata id (``Q42``) or a gallery person name (the folder name, ``Douglas_Adams``,
or its display name, ``Douglas Adams``, in any case).  :func:`take_out`

1. adds an entry to the removal list (``settings.removals_path()``): the person's Wikidata id when it is
   known, else their folder name, with a comment ``<name>: <reason>, <UTC date>``; an entry already
   there is not added again, and the file's other lines are kept;
2. takes the person's faces, photos and facts out of the gallery now;
3. deletes their downloaded photos and provenance lines from the Wikidata set (so a later download
   does not count them as had; the downloader leaves them out anyway, as every build does).

A Wikidata id is listed even if nobody of that id is here yet (it keeps them out of later downloads);
a name found neither in the gallery nor in the downloads is refused (most likely a typo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lookalike.errors import GalleryError
from lookalike.gallery import removals
from lookalike.gallery.store import DB_NAME, Gallery, display_name
from lookalike.gallery.wikidata_download import downloaded_people, forget, wikidata_set
from lookalike.settings import Settings


@dataclass(frozen=True)
class TakeOutReport:
    """What :func:`take_out` did; ``gallery remove --json`` prints it."""

    person: str  # as asked
    removals: str  # the removal list's path
    listed: list[str] = field(default_factory=list)  # entries added to the list by this call
    already_listed: list[str] = field(default_factory=list)  # entries that were there before
    gallery: str | None = None  # the gallery looked in (None: there is none)
    people: list[str] = field(default_factory=list)  # gallery person names taken out
    faces: int = 0  # faces taken out of the gallery
    downloads: list[str] = field(default_factory=list)  # person folders deleted from the Wikidata set
    photos_deleted: int = 0  # downloaded photo files deleted


@dataclass(frozen=True)
class _Known:
    """A person folder found in the gallery or the downloads: its display name and Wikidata id."""

    folder: str
    name: str
    wikidata: str | None


def _matches(asked: str, known: _Known) -> bool:
    if removals.is_qid(asked):
        return known.wikidata is not None and known.wikidata.strip().upper() == asked.strip().upper()
    return removals.plain_name(asked) in (removals.plain_name(known.folder), removals.plain_name(known.name))


def _in_gallery(gallery: Gallery) -> list[_Known]:
    facts = gallery.person_facts()
    folders = set(gallery.people()) | {p.person for p in gallery.photos().values()} | set(facts)
    out = []
    for folder in sorted(folders):
        f = facts.get(folder)
        out.append(_Known(folder, f.name if f else display_name(folder), f.wikidata if f else None))
    return out


def _in_downloads(out: Path) -> list[_Known]:
    people = downloaded_people(out)
    return [
        _Known(folder, str(line.get("name") or display_name(folder)), line.get("wikidata") or None)
        for folder, line in sorted(people.items())
    ]


def _entries(asked: str, found: list[_Known], when: str, reason: str) -> dict[str, str]:
    """Removal list entries (Q-id, else folder name) and their comments."""

    def comment(name: str | None) -> str:
        said = f"{name}: {reason}" if name and reason else (name or reason)
        return f"{said}, {when}" if said else when

    if removals.is_qid(asked):
        return {asked.strip().upper(): comment(found[0].name if found else None)}
    out: dict[str, str] = {}
    for known in found:
        out.setdefault(known.wikidata.strip().upper() if known.wikidata else known.folder, comment(known.name))
    return out


def take_out(
    person: str, settings: Settings, *, reason: str = "", for_good: bool = True, now: datetime | None = None
) -> TakeOutReport:
    """Take ``person`` out (see the module docstring); with ``for_good=False`` only out of the gallery (no
    list entry, downloads kept: a later build adds them back)."""
    path = settings.gallery_path()
    gallery = Gallery.open(path) if (path / DB_NAME).is_file() else None
    try:
        in_gallery = [k for k in _in_gallery(gallery) if _matches(person, k)] if gallery else []
        in_downloads = [k for k in _in_downloads(wikidata_set(settings)) if _matches(person, k)] if for_good else []
        in_gallery, in_downloads = _one_person(person, in_gallery, in_downloads)
        listed_before = _already_listed(person, settings) if for_good else ""
        if not (in_gallery or in_downloads or listed_before) and not (for_good and removals.is_qid(person)):
            where = f"the gallery ({path})" + (f" nor in the downloads ({wikidata_set(settings)})" if for_good else "")
            raise GalleryError(
                f"{person!r} is not in {where}: give a gallery person name (`lookalike gallery info`) or a "
                "Wikidata id (Q42; it also keeps them out of later downloads).",
                code="unknown_person",
            )
        if listed_before and not (in_gallery or in_downloads or removals.is_qid(person)):
            listed, already = [], [listed_before]
        else:
            listed, already = _list(person, in_gallery + in_downloads, settings, reason, now) if for_good else ([], [])
        faces = sum(gallery.remove_person(k.folder) for k in in_gallery) if gallery else 0
    finally:
        if gallery is not None:
            gallery.close()
    folders = sorted({k.folder for k in in_downloads})
    deleted = forget(wikidata_set(settings), folders)
    return TakeOutReport(
        person=person,
        removals=str(settings.removals_path()),
        listed=listed,
        already_listed=already,
        gallery=str(path) if gallery else None,
        people=sorted({k.folder for k in in_gallery}),
        faces=faces,
        downloads=folders,
        photos_deleted=deleted,
    )


def _one_person(asked: str, in_gallery: list[_Known], in_downloads: list[_Known]) -> tuple[list[_Known], list[_Known]]:
    """The folders of the one person ``asked`` names: an exact folder name wins; a name that fits several
    people (namesakes, or a set without Q-ids beside a downloaded one) is refused, listing them."""
    exact = [k for k in in_gallery + in_downloads if k.folder == asked.strip()]
    if exact:
        return [k for k in in_gallery if k in exact], [k for k in in_downloads if k in exact]
    who = {(k.wikidata or "").strip().upper() or k.folder: k for k in in_gallery + in_downloads}
    if len(who) > 1:
        names = ", ".join(f"{k.folder} ({key})" if key != k.folder else k.folder for key, k in sorted(who.items()))
        raise GalleryError(
            f"{asked!r} fits {len(who)} people: {names}. Name one by its folder name or its Wikidata id.",
            code="ambiguous_person",
        )
    return in_gallery, in_downloads


def _already_listed(person: str, settings: Settings) -> str:
    """The entry naming this folder name (or display name) on the removal list, or ""."""
    key = removals.entry_key(person)
    return next(
        (entry for entry, _ in removals.read_lines(settings.removals_path()) if removals.entry_key(entry) == key), ""
    )


def _list(
    person: str, found: list[_Known], settings: Settings, reason: str, now: datetime | None
) -> tuple[list[str], list[str]]:
    when = (now or datetime.now(UTC)).astimezone(UTC).date().isoformat()
    listed: list[str] = []
    already: list[str] = []
    for entry, comment in _entries(person, found, when, reason).items():
        (listed if removals.append(settings.removals_path(), entry, comment) else already).append(entry)
    return listed, already
