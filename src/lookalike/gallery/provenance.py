"""Where a set's photos came from: its ``provenance.jsonl`` sidecar, or defaults by the set's name.

A downloader that knows the provenance writes ``SET/provenance.jsonl`` (one JSON object a line: a ``set``
line, ``person`` lines keyed by the person folder, ``photo`` lines keyed by ``<Person_Dir>/<file>``; a
later line for the same key replaces an earlier one).  A set without one gets what is known of it by
its folder name: LFW's photos are for research use, anything else's licence is unknown; neither is
reusable.  A photo of a set with a sidecar but without a line of its own gets the set's defaults.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lookalike.gallery.store import PersonFacts, PhotoProvenance, display_name

SIDECAR = "provenance.jsonl"
#: A downloader's log of the photos it did not take, beside the sidecar.
SKIP_LOG = "skipped.jsonl"
#: The files a set keeps at its root besides its person folders (not photos: a build passes them by).
SET_FILES = frozenset({SIDECAR, SKIP_LOG})
LFW_SETS = ("lfw", "lfw-funneled", "lfw-deepfunneled", "lfw_funneled", "lfw_deepfunneled")
LFW_LICENCE = "LFW: research use"
LFW_URL = "http://vis-www.cs.umass.edu/lfw/"
UNKNOWN_LICENCE = "licence unknown"


@dataclass
class SetProvenance:
    """One set's provenance: its default for photos without a line, and what its sidecar says."""

    default: PhotoProvenance
    photos: dict[str, PhotoProvenance] = field(default_factory=dict)  # "<Person_Dir>/<file>" -> provenance
    people: dict[str, PersonFacts] = field(default_factory=dict)  # "<Person_Dir>" -> facts

    def photo(self, person_dir: str, file_name: str) -> PhotoProvenance:
        return self.photos.get(f"{person_dir}/{file_name}", self.default)


def set_default(name: str) -> PhotoProvenance:
    """What is known of a set without a sidecar, by its folder name."""
    if name.lower() in LFW_SETS:
        return PhotoProvenance(source_set=name, licence=LFW_LICENCE, reusable=False, source_url=LFW_URL)
    return PhotoProvenance(source_set=name, licence=UNKNOWN_LICENCE, reusable=False)


def read_set(root: Path) -> SetProvenance:
    """The provenance of the set at ``root`` (its sidecar when there is one, else the defaults).

    Lines that are not JSON objects, or of an unknown kind, are ignored (a killed downloader may leave a
    cut last line)."""
    found = SetProvenance(set_default(root.name))
    sidecar = root / SIDECAR
    if not sidecar.is_file():
        return found
    for line in sidecar.read_text(encoding="utf-8", errors="replace").splitlines():  # a cut last character too
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        kind = entry.get("kind")
        if kind == "set":
            found.default = PhotoProvenance(
                source_set=_text(entry.get("set")) or root.name,
                licence=UNKNOWN_LICENCE,
                reusable=False,
                source_url=_text(entry.get("source_url")),
            )
        elif kind == "person" and _text(entry.get("dir")):
            found.people[entry["dir"]] = _facts(entry)
        elif kind == "photo" and _text(entry.get("path")):
            found.photos[entry["path"]] = _photo(entry, found.default)
    # A photo line read before the set line still names the set.
    found.photos = {k: replace(v, source_set=found.default.source_set) for k, v in found.photos.items()}
    return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _photo(entry: dict[str, Any], default: PhotoProvenance) -> PhotoProvenance:
    return PhotoProvenance(
        source_set=default.source_set,
        licence=_text(entry.get("licence")) or UNKNOWN_LICENCE,
        reusable=entry.get("reusable") is True,
        source_url=_text(entry.get("source_url")) or default.source_url,
        licence_url=_text(entry.get("licence_url")),
        author=_text(entry.get("author")),
        credit=_text(entry.get("credit")),
        sha256=_text(entry.get("sha256")),
    )


def _facts(entry: dict[str, Any]) -> PersonFacts:
    occupations = entry.get("occupations")
    sex = _text(entry.get("sex"))
    return PersonFacts(
        person=entry["dir"],
        name=_text(entry.get("name")) or display_name(entry["dir"]),
        wikidata=_text(entry.get("wikidata")),
        description=_text(entry.get("description")),
        sex=sex if sex in ("female", "male", "other") else None,
        birth_year=_int(entry.get("birth_year")),
        death_year=_int(entry.get("death_year")),
        occupations=tuple(o for o in occupations if isinstance(o, str)) if isinstance(occupations, list) else (),
        country=_text(entry.get("country")),
        wikipedia=_text(entry.get("wikipedia")),
        sitelinks=_int(entry.get("sitelinks")),
    )


class Provenance:
    """The provenance of photos given by path: each photo's set is the folder above its person folder
    (the layout ``SET/<Person_Dir>/<file>``); every set's sidecar is read once."""

    def __init__(self) -> None:
        self._sets: dict[Path, SetProvenance] = {}

    def _read(self, root: Path) -> SetProvenance:
        if root not in self._sets:
            self._sets[root] = read_set(root)
        return self._sets[root]

    def _set(self, path: str) -> tuple[SetProvenance, Path]:
        photo = Path(path)
        return self._read(photo.parent.parent), photo

    def photo(self, path: str) -> PhotoProvenance:
        found, photo = self._set(path)
        return found.photo(photo.parent.name, photo.name)

    def facts(self, paths: Iterable[str], people: Iterable[str]) -> dict[str, PersonFacts]:
        """The facts of the given gallery people, from the sidecars of the sets the ``paths`` are in."""
        wanted = set(people)
        roots = {Path(path).parent.parent for path in paths}
        out: dict[str, PersonFacts] = {}
        for root in sorted(roots):
            found = self._read(root)
            out.update((person, facts) for person, facts in found.people.items() if person in wanted)
        return out
