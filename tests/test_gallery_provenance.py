"""Provenance in every gallery: a set's provenance.jsonl, defaults by set name, refusing photos without a
reuse licence, ``gallery info``'s summary, and version-1 galleries (opened as they are, migrated by a build)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from lookalike.gallery.build import plan_build, run_build
from lookalike.gallery.provenance import LFW_URL
from lookalike.gallery.store import NO_PROVENANCE, Gallery, PersonFacts, PhotoProvenance
from lookalike.settings import Settings
from tests.test_cli import run

SET_LINE = {
    "kind": "set",
    "set": "wikidata",
    "title": "Wikidata + Wikimedia Commons",
    "source_url": "https://www.wikidata.org/",
}
MADONNA = {
    "kind": "person",
    "dir": "Madonna",
    "name": "Madonna",
    "wikidata": "Q1744",
    "description": "American singer-songwriter",
    "sex": "female",
    "birth_year": 1958,
    "death_year": None,
    "occupations": ["singer", "actor"],
    "country": "United States",
    "wikipedia": "https://en.wikipedia.org/wiki/Madonna",
    "sitelinks": 150,
}


def _photo_line(path: str, licence: str, reusable: bool, author: str | None = "A. Photographer") -> dict[str, object]:
    return {
        "kind": "photo",
        "path": path,
        "source_url": f"https://commons.wikimedia.org/wiki/File:{path.split('/')[1]}",
        "licence": licence,
        "licence_url": "https://creativecommons.org/licenses/by-sa/4.0" if reusable else None,
        "author": author,
        "credit": f"{author} / Wikimedia Commons" if author else None,
        "attribution_required": True,
        "reusable": reusable,
        "sha256": "0" * 64,
        "bytes": 1,
    }


@pytest.fixture
def sources(data: Path, tmp_path: Path) -> Path:
    """ROOT/{wikidata,lfw,celeb_mini}: copies of real photos made for this test, and a hand-written sidecar."""
    root = tmp_path / "sets"
    wiki = root / "wikidata"
    for person in ("Madonna", "Elton_John"):
        (wiki / person).mkdir(parents=True)
        for name in sorted((data / "small" / "five_celeb" / person).iterdir())[:2]:
            shutil.copy(name, wiki / person / name.name)
    lines = [
        _photo_line("Madonna/Madonna_0001.jpg", "CC0", True),  # before the set line: still of the set
        SET_LINE,
        MADONNA,
        _photo_line("Madonna/Madonna_0001.jpg", "CC BY-SA 4.0", True),  # a later line for the same key wins
        _photo_line("Madonna/Madonna_0002.jpg", "All rights reserved", False, author=None),
        {**MADONNA, "dir": "Elton_John", "name": "Elton John", "wikidata": "Q2808", "sex": "male"},
    ]
    first_elton = sorted((wiki / "Elton_John").iterdir())[0].name
    lines.append(_photo_line(f"Elton_John/{first_elton}", "CC BY 2.0", True))
    (wiki / "provenance.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"kind": "pho')
    for set_name, people in (("lfw", ("Aaron_Eckhart",)), ("celeb_mini", ("AJ_Buckley",))):
        for person in people:
            (root / set_name / person).mkdir(parents=True)
            first = sorted((data / set_name / person).iterdir())[0]
            shutil.copy(first, root / set_name / person / first.name)
    return root


def _build(sources: Path, gallery: Path, **settings: object) -> tuple[object, Gallery]:
    plan = plan_build([sources], Settings(gallery=gallery, **settings))  # type: ignore[arg-type]
    return run_build(plan, workers=1), Gallery.open(gallery)


def _by_name(prov: dict[str, PhotoProvenance | None]) -> dict[str, PhotoProvenance | None]:
    return {Path(path).name: p for path, p in prov.items()}


def test_sidecar_values_and_set_defaults(sources: Path, tmp_path: Path) -> None:
    built, g = _build(sources, tmp_path / "g")
    with g:
        assert g.version == 3 and g.meta()["format_version"] == "3"
        prov = _by_name(g.provenance())
        m1 = prov["Madonna_0001.jpg"]
        assert m1 is not None and (m1.source_set, m1.licence, m1.reusable, m1.author) == (
            "wikidata",
            "CC BY-SA 4.0",
            True,
            "A. Photographer",
        )
        assert m1.source_url == "https://commons.wikimedia.org/wiki/File:Madonna_0001.jpg"
        assert m1.credit == "A. Photographer / Wikimedia Commons"
        assert m1.licence_url == "https://creativecommons.org/licenses/by-sa/4.0"
        assert m1.sha256 is not None and len(m1.sha256) == 64 and m1.sha256 != "0" * 64  # of the file's bytes
        assert prov["Madonna_0002.jpg"] == PhotoProvenance(
            "wikidata",
            "All rights reserved",
            False,
            "https://commons.wikimedia.org/wiki/File:Madonna_0002.jpg",
            sha256=prov["Madonna_0002.jpg"].sha256,  # type: ignore[union-attr]
        )
        elton = sorted(n for n in prov if n.startswith("Elton"))
        assert prov[elton[0]].licence == "CC BY 2.0"  # type: ignore[union-attr]
        no_line = prov[elton[1]]  # a photo of the set without a line: the set's default
        assert no_line is not None and (no_line.source_set, no_line.licence, no_line.reusable) == (
            "wikidata",
            "licence unknown",
            False,
        )
        assert no_line.source_url == "https://www.wikidata.org/"
        lfw = prov["Aaron_Eckhart_0001.jpg"]
        assert lfw is not None and (lfw.source_set, lfw.licence, lfw.reusable, lfw.source_url) == (
            "lfw",
            "LFW: research use",
            False,
            LFW_URL,
        )
        celeb = prov["AJ_Buckley_0001.jpg"]
        assert celeb is not None and (celeb.licence, celeb.reusable, celeb.source_url) == (
            "licence unknown",
            False,
            None,
        )

        facts = g.person_facts()
        assert set(facts) == {"Madonna", "Elton_John"}
        assert facts["Madonna"] == PersonFacts(
            "Madonna",
            "Madonna",
            "Q1744",
            "American singer-songwriter",
            "female",
            1958,
            None,
            ("singer", "actor"),
            "United States",
            "https://en.wikipedia.org/wiki/Madonna",
            150,
        )
        assert facts["Elton_John"].name == "Elton John" and facts["Elton_John"].sex == "male"

        _, ids, persons = g.vectors()
        details = g.face_details([int(i) for i in ids])
        assert set(details) == {int(i) for i in ids}
        for face_id, person in zip(ids, persons, strict=True):
            d = details[int(face_id)]
            assert d.face.person == person and d.provenance is not None
            assert (d.facts is not None) == (person in facts)
        reusable = {Path(d.face.photo).name for i, d in details.items() if i in g.reusable_faces()}
        assert reusable == {"Madonna_0001.jpg", elton[0]}
        assert g.reusable_mask().sum() == 2

        summary = g.summary()
        assert summary.photos == 6 and summary.reusable == 2 and summary.with_author == 2
        assert summary.per_set == {"wikidata": 4, "celeb_mini": 1, "lfw": 1}
        assert summary.per_licence["licence unknown"] == 2 and summary.people_with_facts == 2
    assert built.not_reusable == 4 and built.as_dict()["not_reusable"] == 4  # type: ignore[attr-defined]


def test_rerun_updates_provenance_without_embedding(sources: Path, tmp_path: Path) -> None:
    _, g = _build(sources, tmp_path / "g")
    g.close()
    elton = sorted((sources / "wikidata" / "Elton_John").iterdir())[1].name
    with (sources / "wikidata" / "provenance.jsonl").open("a") as f:
        f.write("\n" + json.dumps(_photo_line(f"Elton_John/{elton}", "CC BY 4.0", True)) + "\n")
        f.write(json.dumps({**MADONNA, "description": "Queen of Pop"}) + "\n")
    built, g = _build(sources, tmp_path / "g")
    with g:
        report = built.report  # type: ignore[attr-defined]
        assert (report.added, report.unchanged, report.provenance_updated) == (0, 6, 2)
        assert _by_name(g.provenance())[elton].licence == "CC BY 4.0"  # type: ignore[union-attr]
        assert g.person_facts()["Madonna"].description == "Queen of Pop"
    again, g = _build(sources, tmp_path / "g")
    g.close()
    assert (again.report.added, again.report.provenance_updated) == (0, 0)  # type: ignore[attr-defined]


def test_require_reusable_refuses_and_logs(sources: Path, tmp_path: Path) -> None:
    _, g = _build(sources, tmp_path / "g")  # all 6 in, then a public build takes the 4 out
    g.close()
    built, g = _build(sources, tmp_path / "g", require_reusable=True)
    with g:
        assert built.report.skipped["no_reuse_licence"] == 4  # type: ignore[attr-defined]
        assert g.counts()["faces"] == 2 and built.not_reusable == 0  # type: ignore[attr-defined]
        assert g.reusable_mask().all()
    log = (tmp_path / "g" / "build-log.tsv").read_text()
    assert log.count("\tno_reuse_licence") == 4 and "Madonna_0002.jpg\tno_reuse_licence" in log
    built, g = _build(sources, tmp_path / "g")  # without it they come back
    g.close()
    assert built.report.added == 4 and built.faces == 6  # type: ignore[attr-defined]


def test_cli_build_require_reusable_and_info_json(sources: Path, tmp_path: Path) -> None:
    out = run("gallery", "build", str(sources / "wikidata"), "--out", str(tmp_path / "g"), "--workers", "1")
    assert out.returncode == 0, out.stderr
    assert "2 of the gallery's 4 photos have no reuse licence" in " ".join(out.stdout.split())
    out = run("gallery", "build", str(sources), "--out", str(tmp_path / "g"), "--require-reusable", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["skipped"]["no_reuse_licence"] == 4 and doc["not_reusable"] == 0 and doc["require_reusable"]
    info = json.loads(run("gallery", "info", "--gallery", str(tmp_path / "g"), "--json").stdout)
    assert info["format_version"] == "3" and info["photos_refused"] == 4
    assert info["provenance"] == {
        "photos": 2,
        "per_set": {"wikidata": 2},
        "per_licence": {"CC BY 2.0": 1, "CC BY-SA 4.0": 1},
        "reusable": 2,
        "with_author": 2,
        "with_credit": 2,
        "people_with_facts": 2,
    }
    table = run("gallery", "info", "--gallery", str(tmp_path / "g"))
    assert "photos per licence" in table.stdout and "reusable photos" in table.stdout


#: Version 1's schema, as the code before provenance wrote it.
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, person TEXT NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT, faces_found INTEGER NOT NULL DEFAULT 0);
CREATE TABLE faces (id INTEGER PRIMARY KEY, photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
    person TEXT NOT NULL, left INTEGER NOT NULL, top INTEGER NOT NULL, right INTEGER NOT NULL,
    bottom INTEGER NOT NULL, score REAL NOT NULL, detector TEXT NOT NULL, embedding BLOB NOT NULL, thumbnail BLOB);
CREATE INDEX faces_person ON faces(person);
CREATE INDEX photos_person ON photos(person);
"""


def _as_version_1(built: Path, out: Path) -> None:
    """A version-1 gallery holding ``built``'s photos and faces (the columns version 1 had)."""
    out.mkdir()
    db = sqlite3.connect(out / "gallery.sqlite")
    db.executescript(V1_SCHEMA)
    db.execute("ATTACH ? AS new", (str(built / "gallery.sqlite"),))
    db.execute("INSERT INTO meta SELECT key, CASE key WHEN 'format_version' THEN '1' ELSE value END FROM new.meta")
    db.execute(
        "INSERT INTO photos SELECT id, path, person, size, mtime_ns, status, reason, faces_found FROM new.photos"
    )
    db.execute(
        "INSERT INTO faces SELECT id, photo_id, person, left, top, right, bottom, score, detector, embedding, thumbnail"
        " FROM new.faces"
    )
    db.commit()
    db.close()


def test_version_1_opens_as_it_is_and_a_build_upgrades_it(sources: Path, tmp_path: Path) -> None:
    from lookalike.gallery.search import Matcher

    _, g = _build(sources, tmp_path / "built")
    with g:
        query = g.vectors()[0][0]
        n = g.counts()["faces"]
    _as_version_1(tmp_path / "built", tmp_path / "v1")
    with Gallery.open(tmp_path / "v1") as old:  # read-only users: nothing written
        assert old.version == 1 and not old.has_provenance
        result = Matcher(old, Settings()).match(query)
        # itself: float32's |a|² - 2ab + |b|² leaves ~1e-7 of rounding, whose root is ~3e-4
        assert result.best is not None and result.best.distance < 1e-3 and result.best.face_id == 1
        face = result.best.face_id
        assert old.face_details([face])[face].provenance is None and old.person_facts() == {}
        assert not old.reusable_mask().any()
        assert old.summary().per_licence == {NO_PROVENANCE: n}
    with sqlite3.connect(tmp_path / "v1" / "gallery.sqlite") as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone() == ("1",)
    built, g = _build(sources, tmp_path / "v1")
    with g:
        assert (built.report.added, built.report.unchanged) == (0, 6)  # type: ignore[attr-defined]
        assert built.report.aligned == n and g.aligned(face) is not None  # type: ignore[attr-defined]
        assert g.version == 3 and g.meta()["format_version"] == "3"
        assert _by_name(g.provenance())["Madonna_0001.jpg"].licence == "CC BY-SA 4.0"  # type: ignore[union-attr]
        assert set(g.person_facts()) == {"Madonna", "Elton_John"}
        assert Matcher(g, Settings()).match(query).best.face_id == face  # type: ignore[union-attr]


def test_require_reusable_setting() -> None:
    assert Settings().require_reusable is False
    assert Settings.from_env({"LOOKALIKE_REQUIRE_REUSABLE": "1"}).require_reusable is True
    assert Settings.from_env({"LOOKALIKE_REQUIRE_REUSABLE": "no"}).require_reusable is False


def test_a_match_carries_the_persons_facts_and_the_photos_credit(sources: Path, tmp_path: Path, data: Path) -> None:
    """`match --json`: each lookalike has description, wikidata, wikipedia and credit, null where unknown."""
    _build(sources, tmp_path / "g")[1].close()
    photo = sorted((data / "small" / "five_celeb" / "Madonna").iterdir())[-1]  # not one of the gallery's
    out = run("match", str(photo), "--gallery", str(tmp_path / "g"), "--top", "5", "--json")
    assert out.returncode == 0, out.stderr
    matches = json.loads(out.stdout)["photos"][0]["faces"][0]["matches"]
    by_name = {m["name"]: m for m in matches}
    madonna = by_name["Madonna"]
    assert (madonna["description"], madonna["wikidata"], madonna["wikipedia"]) == (
        "American singer-songwriter",
        "Q1744",
        "https://en.wikipedia.org/wiki/Madonna",
    )
    credit = madonna["credit"]
    assert set(credit) == {"author", "licence", "licence_url", "source_url"}
    assert credit["source_url"].startswith("https://commons.wikimedia.org/wiki/File:Madonna_000")
    lfw = by_name["Aaron_Eckhart"]  # a set without a sidecar: nothing known of the person, the set's licence
    assert (lfw["description"], lfw["wikidata"], lfw["wikipedia"]) == (None, None, None)
    assert lfw["credit"] == {"author": None, "licence": "LFW: research use", "licence_url": None, "source_url": LFW_URL}
