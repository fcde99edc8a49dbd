"""A made-up Wikidata world for the downloader's tests: people of celeb_mini's photo folders, made-up Q-ids.

Generated at run time from the data folder's file list (nothing of it is stored in the repository).
Person ``i`` has ``300 - 6 * i`` sitelinks.  Injected troubles, by index: a non-free licence, an
unknown licence, a deleted file, a download that is always truncated, HTML with a ``javascript:``
link and a script in ``Artist``, an apostrophe and accents in a title, two people sharing one photo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

PEOPLE = 46
FILEPATH = "http://commons.wikimedia.org/wiki/Special:FilePath/"

NON_FREE, UNKNOWN_LICENCE, DELETED, BROKEN = 5, 8, 11, 17
HOSTILE_ARTIST, ACCENTED, SHARED_FROM, SHARED_TO, DEAD = 3, 1, 20, 21, 9
#: Transient troubles of the file server, by index: the first answer only.
RATE_LIMITED, UNAVAILABLE, SLOW, TRUNCATED_ONCE = 0, 2, 4, 6
HOSTILE = (
    '<a href="javascript:alert(1)" onclick="steal()">Evil <b>Artist</b></a>'
    '<script>alert("owned")</script><img src="http://tracker.example/x.gif"> &lt;b&gt;'
)
OCCUPATIONS = {"Q33999": "actor", "Q177220": "singer", "Q82955": "politician"}
COUNTRIES = {"Q30": "United States of America", "Q668": "India", "Q145": "United Kingdom"}


@dataclass
class Made:
    index: int
    qid: str
    name: str
    photo: Path
    title: str  # "File:..."
    sitelinks: int
    licence: str | None
    occupations: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)


def make_world(data: Path) -> list[Made]:
    folders = sorted(p for p in (data / "celeb_mini").iterdir() if p.is_dir() and any(p.glob("*.jpg")))[:PEOPLE]
    people = []
    for i, folder in enumerate(folders):
        name = folder.name.replace("_", " ")
        title = f"File:{name} portrait {i}.jpg"
        if i == ACCENTED:
            title = f"File:Zoë O'Brien-Müller at the Festival {i}.jpg"
        licence = ["CC BY-SA 4.0", "CC BY 2.0", "Public domain", "CC0", "CC BY-SA 3.0 de"][i % 5]
        if i == NON_FREE:
            licence = "Fair use"
        if i == UNKNOWN_LICENCE:
            licence = None
        occ = ["Q33999"] + (["Q177220"] if i % 3 == 0 else [])
        countries = ["Q30"] + (["Q668"] if i % 4 == 0 else [])
        photo = sorted(folder.glob("*.jpg"))[0]
        people.append(Made(i, f"Q{9_000_001 + i}", name, photo, title, 300 - 6 * i, licence, occ, countries))
    people[SHARED_TO].title = people[SHARED_FROM].title
    people[SHARED_TO].photo = people[SHARED_FROM].photo
    return people


def _iri(title: str) -> str:
    return "<" + FILEPATH + quote(title.split(":", 1)[1], safe="") + ">"


def turtle(people: list[Made]) -> str:
    lines = [
        "@prefix wd: <http://www.wikidata.org/entity/> .",
        "@prefix wdt: <http://www.wikidata.org/prop/direct/> .",
        "@prefix wikibase: <http://wikiba.se/ontology#> .",
        "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .",
        "@prefix schema: <http://schema.org/> .",
        "@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .",
    ]
    for qid, label in {**OCCUPATIONS, **COUNTRIES}.items():
        lines.append(f'wd:{qid} rdfs:label "{label}"@en , "{label} (de)"@de .')
    for p in people:
        sex = "wd:Q6581072" if p.index % 2 else "wd:Q6581097"
        facts = [
            "wdt:P31 wd:Q5",
            f'rdfs:label "{p.name}"@en , "{p.name} (de)"@de',
            f'schema:description "made-up person number {p.index}"@en',
            f"wdt:P21 {sex}",
            f'wdt:P569 "{1950 + p.index}-03-14T00:00:00Z"^^xsd:dateTime',
            "wdt:P106 " + " , ".join(f"wd:{q}" for q in p.occupations),
            "wdt:P27 " + " , ".join(f"wd:{q}" for q in p.countries),
            f"wdt:P18 {_iri(p.title)}",
            f"wikibase:sitelinks {p.sitelinks}",
        ]
        if p.index == DEAD:
            facts.append('wdt:P570 "2020-01-02T00:00:00Z"^^xsd:dateTime')
        lines.append(f"wd:{p.qid} " + " ;\n    ".join(facts) + " .")
        article = "https://en.wikipedia.org/wiki/" + quote(p.name.replace(" ", "_"))
        lines.append(f"<{article}> schema:about wd:{p.qid} ; schema:isPartOf <https://en.wikipedia.org/> .")
    # Not people with a portrait: a famous cat, a famous person with no P18.
    lines.append(f"wd:Q9100001 wdt:P31 wd:Q146 ; wikibase:sitelinks 999 ; wdt:P18 {_iri('File:Cat.jpg')} .")
    lines.append('wd:Q9100002 wdt:P31 wd:Q5 ; wikibase:sitelinks 998 ; rdfs:label "No Portrait"@en .')
    return "\n".join(lines) + "\n"
