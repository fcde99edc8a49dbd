"""Who is famous, with a portrait and facts: the Wikidata Query Service, asked in plain SPARQL 1.1.

The query (:func:`build_query`) is SPARQL 1.1 with its PREFIX declarations and nothing else: no
``SERVICE wikibase:label``, no Blazegraph ``hint:``.  It runs unchanged on the public service and on
any SPARQL 1.1 store, which is how the tests run it (a real engine loaded with Wikidata's own RDF
vocabulary).  Fame is the number of Wikipedia (and sister project) sitelinks, ``wikibase:sitelinks``.

**Bands and pages.**  The service stops every query at 60 s, and one query for "every person with a
portrait, ranked" would either time out or return hundreds of thousands of rows.  So the ranking
is cut into *bands of sitelinks*, from the top down: first everyone with at least
:data:`TOP_BAND` sitelinks, then ``[lo, hi)`` bands each :data:`BAND_RATIO` of the one above
(200+, 150-199, 112-149, ...), down to ``min_sitelinks``.  A band is small at the top (few people
have 200 sitelinks) and the bands grow in people as they go down, so inside a band the ranked
subquery is also paged with ``LIMIT``/``OFFSET`` (``page_size`` people a request, ordered by
``DESC(?sitelinks) ?person`` so pages never overlap).  Bands rather than one ``OFFSET`` over the
whole ranking because an ``OFFSET`` deep into a ranking makes the engine rank everything before it
again on every page; a band's filter keeps each request's work to its own people.  The requests
are made one after another, never in parallel, and the iteration is lazy: a ``top 40`` run stops
after the first band or two.

Facts come back one row per combination of multi-valued properties (two occupations x two
countries = four rows); :func:`parse_people` folds them into one :class:`Person` each.  Occupation
and country labels are English (the provenance contract's); the name, description and Wikipedia
article follow ``language``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from lookalike.errors import ConfigurationError
from lookalike.gallery.commons import title_from_filepath
from lookalike.gallery.polite import PoliteClient

ENTITY = "http://www.wikidata.org/entity/"
#: The top band: everyone with at least this many sitelinks.
TOP_BAND = 200
#: Each band's lower edge is this fraction of its upper edge.
BAND_RATIO = 0.75
#: People per request (a page of the ranked subquery).
PAGE_SIZE = 500
#: A query longer than this (URL-encoded) is POSTed as a form instead of sent in the URL.
MAX_GET_QUERY = 7000

SEX = {"Q6581072": "female", "Q6581097": "male"}

PREFIXES = """PREFIX wd: <http://www.wikidata.org/entity/>
PREFIX wdt: <http://www.wikidata.org/prop/direct/>
PREFIX wikibase: <http://wikiba.se/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX schema: <http://schema.org/>
"""


@dataclass(frozen=True)
class QueryOptions:
    min_sitelinks: int = 1
    occupation: str | None = None  # a Q-id ("Q33999") or an English label ("actor")
    living: bool = False  # only people with no date of death
    language: str = "en"
    page_size: int = PAGE_SIZE


@dataclass(frozen=True)
class Band:
    low: int
    high: int | None  # exclusive; None: no upper edge


@dataclass(frozen=True)
class Person:
    qid: str
    name: str
    description: str | None
    sex: str | None  # "female", "male", "other" or None
    birth_year: int | None
    death_year: int | None
    occupations: tuple[str, ...]
    countries: tuple[str, ...]
    wikipedia: str | None
    sitelinks: int
    images: tuple[str, ...] = field(default=())  # Commons file titles ("File:..."), sorted

    @property
    def image(self) -> str | None:
        return self.images[0] if self.images else None

    @property
    def country(self) -> str | None:
        return self.countries[0] if self.countries else None

    @property
    def dir_name(self) -> str:
        """The person's folder in a photo set: ``Ada_Lovelace_Q7259``."""
        safe = re.sub(r"[^\w.-]+", "_", self.name, flags=re.UNICODE).strip("._") or "person"
        return f"{safe[:80]}_{self.qid}"


# ---------------------------------------------------------------------------------------------- the query


def _literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a valid SPARQL string literal (quotes, backslashes escaped)


def _narrowing(options: QueryOptions) -> str:
    lines = []
    if options.occupation:
        wanted = options.occupation.strip()
        if re.fullmatch(r"Q\d+", wanted):
            lines.append(f"      ?person wdt:P106 wd:{wanted} .")
        else:
            lines.append(
                f"      ?person wdt:P106 ?wantedOccupation . ?wantedOccupation rdfs:label {_literal(wanted)}@en ."
            )
    if options.living:
        lines.append("      FILTER NOT EXISTS { ?person wdt:P570 ?died }")
    return "\n".join(lines)


def build_query(band: Band, options: QueryOptions, offset: int = 0) -> str:
    """The SPARQL 1.1 query for one page of one band (see the module docstring)."""
    lang = options.language
    if not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]+)*", lang):
        raise ConfigurationError(f"{lang!r} is not a Wikipedia language code (e.g. en, de, pt-br)")
    high = f" && ?sitelinks < {band.high}" if band.high is not None else ""
    narrowing = _narrowing(options)
    return f"""{PREFIXES}
SELECT ?person ?sitelinks ?image ?label ?description ?sex ?birth ?death ?occupationLabel ?countryLabel ?article
WHERE {{
  {{
    SELECT ?person ?sitelinks WHERE {{
      ?person wdt:P31 wd:Q5 ;
              wikibase:sitelinks ?sitelinks .
      FILTER(?sitelinks >= {band.low}{high})
      FILTER EXISTS {{ ?person wdt:P18 ?portrait }}
{narrowing}
    }}
    ORDER BY DESC(?sitelinks) ?person
    LIMIT {options.page_size} OFFSET {offset}
  }}
  ?person wdt:P18 ?image .
  OPTIONAL {{ ?person rdfs:label ?label . FILTER(LANG(?label) = "{lang}") }}
  OPTIONAL {{ ?person schema:description ?description . FILTER(LANG(?description) = "{lang}") }}
  OPTIONAL {{ ?person wdt:P21 ?sex }}
  OPTIONAL {{ ?person wdt:P569 ?birth }}
  OPTIONAL {{ ?person wdt:P570 ?death }}
  OPTIONAL {{ ?person wdt:P106 ?occupation . ?occupation rdfs:label ?occupationLabel .
             FILTER(LANG(?occupationLabel) = "en") }}
  OPTIONAL {{ ?person wdt:P27 ?country . ?country rdfs:label ?countryLabel . FILTER(LANG(?countryLabel) = "en") }}
  OPTIONAL {{ ?article schema:about ?person ; schema:isPartOf <https://{lang}.wikipedia.org/> . }}
}}
ORDER BY DESC(?sitelinks) ?person
"""


def bands(min_sitelinks: int) -> Iterator[Band]:
    """From the top down: [TOP_BAND, inf), then each band BAND_RATIO of the one above, to min_sitelinks."""
    floor = max(0, min_sitelinks)
    high: int | None = None
    low = max(TOP_BAND, floor)
    while True:
        yield Band(low, high)
        if low <= floor:
            return
        high = low
        low = max(floor, min(low - 1, int(low * BAND_RATIO)))


# ---------------------------------------------------------------------------------------------- the answer


def _year(value: str | None) -> int | None:
    found = re.match(r"^\s*([+-]?\d{1,6})-\d\d-\d\d", value or "")
    return int(found.group(1)) if found else None


def _qid(iri: str | None) -> str | None:
    return iri[len(ENTITY) :] if iri and iri.startswith(ENTITY) else None


def _value(row: dict[str, Any], name: str) -> str | None:
    cell = row.get(name)
    return str(cell["value"]) if isinstance(cell, dict) and "value" in cell else None


def _add(values: list[str], value: str | None) -> None:
    if value and value not in values:
        values.append(value)


def parse_people(answer: dict[str, Any]) -> list[Person]:
    """SPARQL 1.1 JSON results -> one Person per ``?person``, in the answer's (rank) order."""
    rows = (answer.get("results") or {}).get("bindings") or []
    acc: dict[str, dict[str, Any]] = {}
    for row in rows:
        qid = _qid(_value(row, "person"))
        sitelinks = _value(row, "sitelinks")
        if qid is None or sitelinks is None:
            continue
        a = acc.setdefault(qid, {"sitelinks": int(float(sitelinks)), "images": [], "occ": [], "country": []})
        for key in ("label", "description", "sex", "birth", "death", "article"):
            a.setdefault(key, None)
            a[key] = a[key] or _value(row, key)
        image = _value(row, "image")
        _add(a["images"], title_from_filepath(image) if image else None)
        _add(a["occ"], _value(row, "occupationLabel"))
        _add(a["country"], _value(row, "countryLabel"))
    people = [_person(qid, a) for qid, a in acc.items()]
    people.sort(key=lambda p: (-p.sitelinks, ENTITY + p.qid))
    return people


def _person(qid: str, a: dict[str, Any]) -> Person:
    sex_qid = _qid(a["sex"])
    return Person(
        qid=qid,
        name=a["label"] or qid,
        description=a["description"],
        sex=None if a["sex"] is None else SEX.get(sex_qid or "", "other"),
        birth_year=_year(a["birth"]),
        death_year=_year(a["death"]),
        occupations=tuple(sorted(a["occ"])),  # sorted: rows come in no defined order
        countries=tuple(sorted(a["country"])),
        wikipedia=a["article"],
        sitelinks=a["sitelinks"],
        images=tuple(sorted(a["images"])),
    )


# ---------------------------------------------------------------------------------------------- the service


def run_query(client: PoliteClient, endpoint: str, query: str) -> dict[str, Any]:
    """One query by the SPARQL 1.1 Protocol (GET ``?query=``, or a POSTed form when long)."""
    post = len(quote(query, safe="")) > MAX_GET_QUERY
    answer = client.get_json("sparql", endpoint, params={"query": query}, post=post)
    return answer if isinstance(answer, dict) else {}


def iter_people(client: PoliteClient, endpoint: str, options: QueryOptions) -> Iterator[Person]:
    """Everyone the options allow, most sitelinks first, fetched lazily band by band, page by page."""
    for band in bands(options.min_sitelinks):
        offset = 0
        while True:
            answer = run_query(client, endpoint, build_query(band, options, offset))
            page = parse_people(answer)
            yield from page
            if len(page) < options.page_size:
                break
            offset += options.page_size
