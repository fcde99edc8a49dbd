"""The removal list: its file format, `gallery remove`, and every build and download leaving listed people out."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lookalike.errors import GalleryError
from lookalike.gallery.build import plan_build, run_build
from lookalike.gallery.removals import RemovalList, append
from lookalike.gallery.store import Gallery
from lookalike.gallery.take_out import take_out
from lookalike.settings import Settings
from tests.test_cli import run
from tests.wikidata import world

CONTACT = "lookalike-tests@example.org"


def test_file_format(tmp_path: Path) -> None:
    path = tmp_path / "removals.txt"
    missing = RemovalList.load(path)
    assert not missing and missing.entries == frozenset() and missing.listed() == []
    path.write_text(
        "# people taken out for good\n\n"
        "q42  # Douglas Adams: asked by e-mail, 2024-05-01\n"
        "  Ada_Lovelace\t# by folder name\n"
        "Q7259\n"
        "   # a comment alone\n"
        "Q42  # listed twice\n",
        encoding="utf-8",
    )
    listed = RemovalList.load(path)
    assert listed.entries == {"Q42", "ada lovelace", "Q7259"}  # names compared with "_", spaces and case alike
    assert listed.removes("Douglas_Adams_Q42", "q42") and listed.removes("Anyone", "Q7259")
    assert listed.removes("Ada_Lovelace") and listed.removes("ada lovelace")
    assert listed.removes("Douglas_Adams_Q42")  # no facts (a set copied without provenance): the folder's Q-id
    assert listed.removes("Someone", "http://www.wikidata.org/entity/Q42")  # an entity URL's id
    assert not listed.removes("Douglas_Adams") and not listed.removes("Q4", "Q4")
    assert not listed.removes("Douglas_Adams_Q420") and not listed.removes("Ada_Lovelace_II")
    assert [(r.entry, r.comment) for r in listed.listed()] == [
        ("Q42", "Douglas Adams: asked by e-mail, 2024-05-01"),
        ("Ada_Lovelace", "by folder name"),
        ("Q7259", ""),
    ]

    edited = tmp_path / "edited.txt"  # saved by an editor that writes a byte-order mark and CRLF
    edited.write_bytes("\ufeffQ99 Some Person\r\nQ\u00b2\r\nQ12abc\r\n".encode())
    assert RemovalList.load(edited).entries == {"Q99", "q²", "q12abc"}  # Q² and Q12abc are no Q-ids
    assert RemovalList.load(edited).removes("Some_Person_Q99") and not RemovalList.load(edited).removes("X", "Q2")
    with pytest.raises(ValueError):
        append(edited, "Foo\u2028Bar", "")  # a line break of another kind would make two entries

    before = path.read_text(encoding="utf-8")
    assert append(path, "Q42", "again") is False and path.read_text(encoding="utf-8") == before  # no duplicate
    assert append(path, "q1", "two\nQ2 lines") is True  # a comment stays on its line
    assert path.read_text(encoding="utf-8") == before + "Q1  # two Q2 lines\n"
    assert RemovalList.load(path).entries == {"Q42", "ada lovelace", "Q7259", "Q1"}

    unterminated = tmp_path / "new" / "folder" / "removals.txt"  # the file and its folder are created
    assert append(unterminated, "Q5", "")
    unterminated.write_text(unterminated.read_text() + "Q6", encoding="utf-8")  # edited by hand, no last newline
    assert append(unterminated, "Q7", "x")
    assert unterminated.read_text() == "Q5\nQ6\nQ7  # x\n"
    with pytest.raises(ValueError):
        append(path, "Q8 # sneaky", "")

    assert Settings(home=tmp_path).removals_path() == tmp_path / "removals.txt"
    assert Settings.from_env({"LOOKALIKE_REMOVALS": str(path)}).removals_path() == path


# -- builds --------------------------------------------------------------------------------------------


@pytest.fixture
def sets(data: Path, tmp_path: Path) -> Path:
    """ROOT/wikidata: two photos each of three people (copies of real photos made for this test), with a
    sidecar that gives Madonna a Wikidata id."""
    root = tmp_path / "sets" / "wikidata"
    for person in ("Madonna", "Elton_John", "Ben_Affleck"):
        (root / person).mkdir(parents=True)
        for photo in sorted((data / "small" / "five_celeb" / person).iterdir())[:2]:
            shutil.copy(photo, root / person / photo.name)
    person = {"kind": "person", "dir": "Madonna", "name": "Madonna", "wikidata": "Q1744"}
    (root / "provenance.jsonl").write_text(json.dumps(person) + "\n", encoding="utf-8")
    return root


def test_a_build_leaves_listed_people_out_and_takes_them_out(sets: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, gallery=tmp_path / "gallery")
    first = run_build(plan_build([sets], settings), workers=1)
    assert first.people == 3 and first.report.removed_by_list == 0

    append(settings.removals_path(), "q1744", "by Wikidata id, from the sidecar's facts")
    append(settings.removals_path(), "Elton_John", "by folder name")
    second = run_build(plan_build([sets], settings), workers=1)
    assert second.report.removed_by_list == 2 and second.people == 1 and second.report.added == 0
    with Gallery.open(settings.gallery_path()) as g:
        assert g.people() == ["Ben_Affleck"]
        assert {p.person for p in g.photos().values()} == {"Ben_Affleck"} and set(g.person_facts()) == set()

    env = {"LOOKALIKE_HOME": str(home)}
    again = run("gallery", "build", str(sets), "--out", str(settings.gallery_path()), env=env)
    assert again.returncode == 0, again.stderr
    assert f"left out 2 people on the removal list ({settings.removals_path()})" in again.stdout
    as_json = run("gallery", "build", str(sets), "--out", str(settings.gallery_path()), "--json", env=env)
    report = json.loads(as_json.stdout)
    assert report["removed_by_list"] == 2 and report["people"] == 1 and report["unchanged"] == 2

    madonna = str(next((sets / "Madonna").iterdir()))
    add = run("gallery", "add", "Elton_John", madonna, "--gallery", str(settings.gallery_path()), env=env)
    assert add.returncode == 2 and "on the removal list" in add.stderr


def test_take_out_by_display_name_only_from_the_gallery_or_refused(sets: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", gallery=tmp_path / "gallery")
    run_build(plan_build([sets], settings), workers=1)

    report = take_out("ben  AFFLECK", settings, reason="asked")  # the display name, spacing and case aside
    assert report.listed == ["Ben_Affleck"] and report.people == ["Ben_Affleck"] and report.faces == 2
    assert settings.removals_path().read_text().startswith("Ben_Affleck  # Ben Affleck: asked, 20")
    again = take_out("Ben Affleck", settings)  # gone from the gallery, and listed: said so, not refused
    assert again.already_listed == ["Ben_Affleck"] and again.listed == [] and again.people == []
    madonna = take_out("Madonna", settings, for_good=False)  # gallery only: not listed
    assert madonna.people == ["Madonna"] and madonna.listed == [] and "Q1744" not in RemovalList.of(settings).entries
    with pytest.raises(GalleryError, match="not in the gallery"):
        take_out("Nobody_Here", settings)
    qid = take_out("Q99999999", settings, reason="before any download")  # a Q-id is listed even if not here yet
    assert qid.listed == ["Q99999999"] and qid.people == [] and qid.faces == 0


# -- downloads -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def people(data: Path) -> list[world.Made]:
    return world.make_world(data)


@dataclass
class Stands:
    files: Any  # tests.wikidata.servers.Files (imported only where pyoxigraph is)
    commons: Any
    sparql: Any
    env: dict[str, str]

    def asked_about(self, made: world.Made) -> tuple[int, int]:
        """(Commons batches naming their photo, requests for their file) so far."""
        batches = sum(made.title in batch for batch in self.commons.batches)
        files = sum(n for path, n in self.files.requests.items() if path.split("/")[2] == str(made.index))
        return batches, files


@pytest.fixture
def stands(people: list[world.Made], tmp_path: Path) -> Iterator[Stands]:
    pytest.importorskip("pyoxigraph", reason="pyoxigraph (the dev extra) runs the SPARQL stand-in")
    from tests.wikidata.servers import Commons, Files, Sparql

    with (
        Files(people) as files,
        Sparql(world.turtle(people), fail_first=False) as sparql,
        Commons(people, files.url, unavailable_first=False) as commons,
    ):
        files.troubled = set(range(len(people)))  # no first-answer troubles: this test is not about them
        env = {
            "LOOKALIKE_HOME": str(tmp_path / "home"),
            "LOOKALIKE_WIKIDATA_SPARQL_URL": sparql.url + "/sparql",
            "LOOKALIKE_COMMONS_API_URL": commons.url + "/w/api.php",
            "LOOKALIKE_CONTACT": CONTACT,
        }
        yield Stands(files, commons, sparql, env)


def _dir(made: world.Made) -> str:
    from lookalike.gallery.wikidata import Person

    return Person(made.qid, made.name, None, None, None, None, (), (), None, made.sitelinks).dir_name


def _gallery_people(gallery: Path) -> set[str]:
    with Gallery.open(gallery) as g:
        return set(g.people()) | {p.person for p in g.photos().values()}


def test_a_removed_person_never_comes_back(stands: Stands, people: list[world.Made], tmp_path: Path) -> None:
    """`gallery remove Q…`, then downloads and builds again: they are not asked about, fetched or added."""
    home, gallery = Path(stands.env["LOOKALIKE_HOME"]), tmp_path / "famous"
    downloads = home / "downloads" / "wikidata"
    download = ("gallery", "download", "wikidata", "--top", "10", "--out", str(gallery))
    assert run(*download, env=stands.env).returncode == 0
    removed, by_hand = people[7], people[0]
    assert {_dir(removed), _dir(by_hand)} <= _gallery_people(gallery)

    out = run("gallery", "remove", removed.qid.lower(), "--gallery", str(gallery), "--reason", "asked by e-mail",
              "--json", env=stands.env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["listed"] == [removed.qid] and report["people"] == [_dir(removed)] and report["faces"] == 1
    assert report["downloads"] == [_dir(removed)] and report["photos_deleted"] == 1
    line = rf"{removed.qid}  # {removed.name}: asked by e-mail, \d{{4}}-\d\d-\d\d\n"
    assert re.fullmatch(line, (home / "removals.txt").read_text(encoding="utf-8"))
    assert not (downloads / _dir(removed)).exists() and _dir(removed) not in _gallery_people(gallery)
    assert _dir(removed) not in (downloads / "provenance.jsonl").read_text(encoding="utf-8")
    twice = run("gallery", "remove", removed.qid, "--gallery", str(gallery), env=stands.env)
    assert twice.returncode == 0 and f"{removed.qid} already on the removal list" in twice.stdout

    with open(home / "removals.txt", "a", encoding="utf-8") as f:  # one more, written by hand
        f.write(f"{by_hand.qid.lower()}  # by hand\n")
    before = {made.index: stands.asked_about(made) for made in (removed, by_hand)}
    again = run(*download, env=stands.env)
    assert again.returncode == 0, again.stderr
    assert "10 people: 2 photos downloaded, 8 kept from before" in again.stdout  # the next two fill the top 10
    assert f"left out 2 people on the removal list ({home / 'removals.txt'})" in again.stdout  # the download
    assert f"left out 1 person on the removal list ({home / 'removals.txt'})" in again.stdout  # the build
    for made in (removed, by_hand):
        assert stands.asked_about(made) == before[made.index]  # Commons and the file server never asked
        assert _dir(made) not in _gallery_people(gallery) and not (downloads / _dir(made)).exists()
        assert _dir(made) not in (downloads / "provenance.jsonl").read_text(encoding="utf-8")
        assert made.qid not in (downloads / "skipped.jsonl").read_text(encoding="utf-8")

    rebuilt = run("gallery", "build", str(downloads), "--out", str(gallery), "--json", env=stands.env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout)["added"] == 0
    assert not {_dir(removed), _dir(by_hand)} & _gallery_people(gallery)
    listed = json.loads(run("gallery", "removals", "--json", env=stands.env).stdout)
    assert [e["entry"] for e in listed["entries"]] == [removed.qid, by_hand.qid]


def test_a_name_that_fits_two_people_is_refused_naming_them(tmp_path: Path) -> None:
    import numpy as np

    from lookalike.errors import GalleryError
    from lookalike.gallery.store import PersonFacts
    from lookalike.gallery.take_out import take_out
    from tests.test_search import _gallery

    folders = ["John_Smith_Q1", "John_Smith_Q2", "Jane_Doe"]
    g = _gallery(tmp_path / "g", np.eye(3, 128, dtype=np.float32), folders)
    with g.writing() as w:
        for folder in folders[:2]:
            w.set_facts(PersonFacts(folder, "John Smith", wikidata=folder.rsplit("_", 1)[1]))
    g.close()
    settings = Settings(home=tmp_path / "home", gallery=tmp_path / "g")
    with pytest.raises(GalleryError, match="fits 2 people: John_Smith_Q1 \\(Q1\\), John_Smith_Q2 \\(Q2\\)") as refused:
        take_out("john smith", settings)
    assert refused.value.code == "ambiguous_person" and not settings.removals_path().exists()
    report = take_out("John_Smith_Q2", settings, reason="asked")  # the folder name says which
    assert report.listed == ["Q2"] and report.people == ["John_Smith_Q2"]
