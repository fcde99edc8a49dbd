"""A gallery of the made-up Wikidata world (real photos, made-up Q-ids), downloaded from the stand-ins and built."""

from __future__ import annotations

import time
from pathlib import Path

from lookalike.gallery.build import plan_build, run_build
from lookalike.gallery.polite import PoliteClient
from lookalike.gallery.wikidata_download import download_wikidata
from lookalike.settings import Settings
from tests.wikidata import world
from tests.wikidata.servers import Commons, Files, Sparql

CONTACT = "lookalike-tests@example.org"


def build_famous_gallery(data: Path, home: Path, out: Path, top: int) -> list[world.Made]:
    """``gallery download wikidata --top N`` in library calls: the world's ``top`` people with a reusable
    photo, downloaded through the stand-ins into ``home`` and built into the gallery ``out``."""
    people = world.make_world(data)
    with Files(people) as files, Sparql(world.turtle(people)) as sparql, Commons(people, files.url) as commons:
        settings = Settings(
            home=home,
            gallery=out,
            wikidata_sparql_url=sparql.url + "/sparql",
            commons_api_url=commons.url + "/w/api.php",
            contact=CONTACT,
        )
        client = PoliteClient(settings, timeout=2.0, sleep=lambda s: time.sleep(min(s, 0.01)), rand=lambda: 0.5)
        with client:
            download_wikidata(home / "downloads" / "wikidata", top, settings, client=client)
    run_build(plan_build([home / "downloads" / "wikidata"], settings), workers=2)
    return people


def another_photo(data: Path, person: str) -> Path:
    """Another photo of a gallery person of this world (the gallery holds the first of their celeb_mini
    folder; ``person`` is the gallery's folder name, ``Name_Q123``)."""
    return sorted((data / "celeb_mini" / person.rsplit("_", 1)[0]).glob("*.jpg"))[1]
