"""A person taken out while the server runs (``gallery remove``, or a line added to the removal list by
hand) is gone from the next match: no restart, no error for the photos that matched them before."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.wikidata.gallery import another_photo

from lookalike.gallery.store import Gallery
from lookalike.gallery.take_out import take_out
from lookalike.service.matching import MatchService
from lookalike.settings import Settings


def test_taken_out_while_serving(famous_gallery: Path, data: Path, tmp_path: Path) -> None:
    gallery = tmp_path / "gallery"
    shutil.copytree(famous_gallery, gallery)
    settings = Settings(home=tmp_path / "home", gallery=gallery, top_k=3)
    with Gallery.open(gallery) as g:
        facts = sorted(g.person_facts().values(), key=lambda f: f.person)
    her = next(f for f in facts if f.sex == "female")
    photo = another_photo(data, her.person).read_bytes()
    service = MatchService(settings)  # what a worker holds, for as long as it runs

    def shown() -> list[str]:
        result = service.match_bytes(photo)
        assert result.error is None, result.error
        return [m.wikidata for m in result.faces[0].matches if m.wikidata]

    first = shown()
    assert first[0] == her.wikidata
    take_out(her.wikidata, settings, reason="asked")  # another process, as `lookalike gallery remove` is
    second = shown()
    assert her.wikidata not in second and len(second) == 3
    with settings.removals_path().open("a", encoding="utf-8") as listed:  # edited by hand
        listed.write(f"{second[0]}  # asked by letter\n")
    third = shown()
    assert second[0] not in third and her.wikidata not in third and len(third) == 3
