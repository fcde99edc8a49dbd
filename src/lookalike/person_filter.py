"""Whom to be compared with: a filter on the people of a gallery (sex, occupation group, birth year, living).

On the ground floor (no NumPy, no gallery): the WebSocket protocol and the Lambda that speaks it read
a filter from a client's message; the gallery's search applies it (``gallery/search.py``).

A :class:`PersonFilter` asks about a person's *facts* (any object with ``sex``, ``birth_year``,
``death_year`` and ``occupations``; the gallery's per-person facts are one).  The rules:

- The empty filter lets everyone through, known facts or not.
- A person whose fact is unknown fails every condition about that fact: ``sex=female`` excludes a
  person of unknown sex, ``born_after=1970`` one of unknown birth year.
- ``born_after`` / ``born_before`` are strict: ``born_after=1970`` keeps people born in 1971 or later.
- ``living=true`` keeps people with no date of death *and* a known birth year within the last
  :data:`OLDEST_LIVING` years (a 17th-century painter without a recorded death is not living);
  ``living=false`` keeps people with a known date of death.
- Several occupation groups keep a person in *any* of them; the other conditions must all hold.

Occupation groups match a person's occupation labels (Wikidata's English labels, e.g. "film actor",
"association football player") by whole words, case-insensitively — see :data:`OCCUPATION_GROUPS`.

The search applies a filter *inside* the search (``Matcher.match_many(..., person_filter=...)``), so a
filtered top-k is the true top-k of the people who pass, not a post-filtered shortlist.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from lookalike.errors import Refused

SEXES = ("female", "male", "other")
#: A filter's fields, as a client sends them (the WebSocket ``match`` message, ``/api/match``, the CLI).
FIELDS = ("sex", "occupation", "born_after", "born_before", "living")
OLDEST_LIVING = 110  # years: a person born longer ago than this is not counted as living

# Occupation groups: a group keeps a person when one of their occupation labels contains one of the
# group's words (whole words, case-insensitive; "actor" matches "film actor" but not "contractor").
OCCUPATION_GROUPS: dict[str, tuple[str, ...]] = {
    "actor": ("actor", "actress", "comedian"),
    "musician": (
        "musician", "singer", "singer-songwriter", "songwriter", "composer", "rapper", "guitarist",
        "pianist", "drummer", "bassist", "violinist", "cellist", "conductor", "disc jockey",
        "record producer", "organist", "saxophonist", "trumpeter",
    ),
    "athlete": (
        "athlete", "sportsperson", "footballer", "association football player", "basketball player",
        "baseball player", "tennis player", "ice hockey player", "american football player",
        "cricketer", "rugby union player", "rugby league player", "golfer", "boxer", "wrestler",
        "racing driver", "racing cyclist", "cyclist", "swimmer", "sprinter", "runner", "gymnast",
        "skier", "figure skater", "volleyball player", "handball player", "mixed martial artist",
        "judoka", "fencer", "rower", "sport shooter", "jockey", "mountaineer",
    ),
    "politician": (
        "politician", "statesman", "stateswoman", "diplomat", "head of state", "head of government",
        "president", "prime minister", "monarch", "king", "queen", "sovereign", "member of parliament",
        "senator", "mayor", "governor", "minister",
    ),
    "writer": (
        "writer", "novelist", "poet", "author", "playwright", "dramatist", "screenwriter", "journalist",
        "essayist", "columnist", "children's writer", "science fiction writer", "lyricist",
    ),
    "scientist": (
        "scientist", "physicist", "chemist", "biologist", "mathematician", "astronomer", "geologist",
        "economist", "biochemist", "neuroscientist", "psychologist", "geneticist", "astrophysicist",
        "computer scientist", "inventor", "researcher", "botanist", "zoologist",
    ),
    "business": (
        "businessperson", "businessman", "businesswoman", "entrepreneur", "business executive",
        "chief executive officer", "investor", "industrialist", "banker", "business magnate",
        "philanthropist",
    ),
}  # fmt: skip

_GROUP_PATTERNS = {
    group: re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(w) for w in words) + r")(?![\w-])", re.IGNORECASE)
    for group, words in OCCUPATION_GROUPS.items()
}


class Facts(Protocol):
    """What a filter reads of a person (``gallery.store.PersonFacts`` has these, and more)."""

    @property
    def sex(self) -> str | None: ...
    @property
    def birth_year(self) -> int | None: ...
    @property
    def death_year(self) -> int | None: ...
    @property
    def occupations(self) -> Sequence[str]: ...


def bad_filter(message: str) -> Refused:
    return Refused(400, "bad_filter", message)


def occupation_groups(labels: Iterable[str]) -> set[str]:
    """The groups that a person with these occupation labels belongs to."""
    labels = list(labels)
    return {group for group, pat in _GROUP_PATTERNS.items() if any(pat.search(label) for label in labels)}


@dataclass(frozen=True)
class PersonFilter:
    """Whom to compare with; the default (all ``None``/empty) is everyone.  Hashable: filters repeat,
    and the matcher caches what it derives from one."""

    sex: str | None = None  # one of SEXES
    occupations: tuple[str, ...] = ()  # group names of OCCUPATION_GROUPS; a person in any of them passes
    born_after: int | None = None  # strict: birth_year > born_after
    born_before: int | None = None  # strict: birth_year < born_before
    living: bool | None = None

    def __post_init__(self) -> None:
        if self.sex is not None and self.sex not in SEXES:
            raise bad_filter(f"sex must be one of {', '.join(SEXES)}, not {self.sex!r}.")
        unknown = [g for g in self.occupations if g not in OCCUPATION_GROUPS]
        if unknown:
            raise bad_filter(f"Unknown occupation group {unknown[0]!r}: choose from {', '.join(OCCUPATION_GROUPS)}.")
        # Normalise the group order so that equal filters hash equal.
        object.__setattr__(self, "occupations", tuple(sorted(set(self.occupations))))
        if self.born_after is not None and self.born_before is not None and self.born_before <= self.born_after + 1:
            raise bad_filter(f"Nobody is born after {self.born_after} and before {self.born_before}.")

    @property
    def empty(self) -> bool:
        return self == PersonFilter()

    def allows(self, facts: Facts | None, year: int | None = None) -> bool:
        """Does a person with these facts pass?  ``facts=None`` (nothing known) passes only the empty filter."""
        if self.empty:
            return True
        if facts is None:
            return False
        if self.sex is not None and facts.sex != self.sex:
            return False
        birth = facts.birth_year
        if (self.born_after is not None or self.born_before is not None) and birth is None:
            return False
        if self.born_after is not None and not birth > self.born_after:  # type: ignore[operator]
            return False
        if self.born_before is not None and not birth < self.born_before:  # type: ignore[operator]
            return False
        if self.living is not None and _living(facts, year) is not self.living:
            return False
        return not self.occupations or bool(occupation_groups(facts.occupations or ()) & set(self.occupations))

    def allowed_people(self, facts: Mapping[str, Facts], people: Iterable[str], year: int | None = None) -> set[str]:
        """Of ``people``, those who pass (a person missing from ``facts`` knows nothing)."""
        return {p for p in people if self.allows(facts.get(p), year)}

    def fields(self) -> dict[str, object]:
        """The conditions set, as :meth:`from_fields` reads them back (a job's queue message carries these)."""
        out: dict[str, object] = {}
        if self.sex is not None:
            out["sex"] = self.sex
        if self.occupations:
            out["occupation"] = list(self.occupations)
        for name in ("born_after", "born_before", "living"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    def describe(self) -> str:
        """Short text for logs and tables: ``sex=female occupation=actor born_after=1970``."""
        parts = [f"sex={self.sex}"] if self.sex else []
        parts += [f"occupation={','.join(self.occupations)}"] if self.occupations else []
        parts += [f"born_after={self.born_after}"] if self.born_after is not None else []
        parts += [f"born_before={self.born_before}"] if self.born_before is not None else []
        parts += [f"living={str(self.living).lower()}"] if self.living is not None else []
        return " ".join(parts) or "everyone"

    @classmethod
    def parse(cls, items: str | Iterable[str]) -> PersonFilter:
        """From ``"sex=female occupation=actor,musician born_after=1970 living=true"`` (or its items)."""
        if isinstance(items, str):
            items = items.replace(";", " ").split()
        fields: dict[str, str] = {}
        for item in items:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise bad_filter(f"A filter is key=value (e.g. sex=female), not {item!r}.")
            fields[key.strip()] = value.strip()
        return cls.from_fields(fields)

    @classmethod
    def from_fields(cls, fields: Mapping[str, object]) -> PersonFilter:
        """From a mapping of field names (``sex``, ``occupation``, ``born_after``, ``born_before``,
        ``living``; ``-`` or ``_``) to strings or typed values; ``None`` / ``""`` / ``"any"`` mean no condition."""
        known = {"sex", "occupation", "occupations", "born_after", "born_before", "living"}
        norm = {str(k).strip().lower().replace("-", "_"): v for k, v in fields.items()}
        if not all(v is None or isinstance(v, str | int | list | tuple) for v in norm.values()):
            raise bad_filter("A filter's values are words, numbers, true/false or lists of words.")
        unknown = sorted(set(norm) - known)
        if unknown:
            raise bad_filter(f"Unknown filter {unknown[0]!r}: use sex, occupation, born_after, born_before, living.")
        values = {k: v for k, v in norm.items() if not _unset(v)}
        sex = values.get("sex")
        return cls(
            sex=_sex(str(sex)) if sex is not None else None,
            occupations=_groups(values.get("occupation", values.get("occupations"))),
            born_after=_year("born_after", values.get("born_after")),
            born_before=_year("born_before", values.get("born_before")),
            living=_bool("living", values.get("living")),
        )


def _living(facts: Facts, year: int | None) -> bool | None:
    """True, False or None when not known (see the module docstring)."""
    if facts.death_year is not None:
        return False
    if facts.birth_year is None:
        return None
    year = year if year is not None else datetime.date.today().year
    return year - facts.birth_year <= OLDEST_LIVING or None


def _unset(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in ("", "any", "all", "everyone"))


_SEX_WORDS = {"female": "female", "woman": "female", "women": "female", "f": "female",
              "male": "male", "man": "male", "men": "male", "m": "male", "other": "other"}  # fmt: skip


def _sex(value: str) -> str:
    try:
        return _SEX_WORDS[value.strip().lower()]
    except KeyError:
        raise bad_filter(f"sex must be one of {', '.join(SEXES)}, not {value!r}.") from None


_PLURALS = {"actors": "actor", "actress": "actor", "actresses": "actor", "musicians": "musician",
            "athletes": "athlete", "politicians": "politician", "writers": "writer",
            "scientists": "scientist", "businesspeople": "business", "businessperson": "business"}  # fmt: skip


def _groups(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        items = [part for v in value for part in v.split(",")]
    else:
        raise bad_filter(f"occupation is a group name or a list of them, not {str(value)[:40]!r}.")
    groups = [_PLURALS.get(g.strip().lower(), g.strip().lower()) for g in items if g.strip()]
    for g in groups:
        if g not in OCCUPATION_GROUPS:
            raise bad_filter(f"Unknown occupation group {g!r}: choose from {', '.join(OCCUPATION_GROUPS)}.")
    return tuple(groups)


def _year(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise bad_filter(f"{name} is a year, not {value!r}.")
    try:
        year = int(str(value).strip())
    except ValueError:
        raise bad_filter(f"{name} is a year (e.g. 1970), not {value!r}.") from None
    if not -5000 <= year <= 3000:
        raise bad_filter(f"{name} is a year (e.g. 1970), not {value!r}.")
    return year


def _bool(name: str, value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return True
    if text in ("false", "no", "0", "off"):
        return False
    raise bad_filter(f"{name} is true or false, not {value!r}.")
