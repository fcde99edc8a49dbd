"""The Wikidata + Commons downloader against offline stand-ins: a SPARQL 1.1 engine, a Commons API, a file server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lookalike.checksums import sha256_file
from lookalike.gallery.commons import fetch_files
from lookalike.gallery.polite import PoliteClient
from lookalike.gallery.provenance import read_set
from lookalike.gallery.wikidata import Band, QueryOptions, build_query, iter_people
from lookalike.gallery.wikidata_download import PROVENANCE, SET_LINE, ProgressEvent, State, download_wikidata
from lookalike.media import PHOTO_SUFFIXES
from lookalike.settings import Settings
from tests.wikidata import world
from tests.wikidata.servers import Commons, Files, Sparql

pyoxigraph = pytest.importorskip("pyoxigraph", reason="pyoxigraph (the dev extra) runs the SPARQL stand-in")

CONTACT = "lookalike-tests@example.org"
SKIPPED = {world.NON_FREE, world.UNKNOWN_LICENCE, world.DELETED, world.BROKEN}
PERSON_KEYS = ["kind", "dir", "name", "wikidata", "description", "sex", "birth_year", "death_year", "occupations",
               "country", "wikipedia", "sitelinks"]  # fmt: skip
PHOTO_KEYS = ["kind", "path", "source_url", "licence", "licence_url", "author", "credit", "attribution_required",
              "reusable", "sha256", "bytes"]  # fmt: skip


@pytest.fixture(scope="session")
def people(data: Path) -> list[world.Made]:
    return world.make_world(data)


@dataclass
class Stand:
    sparql: Sparql
    commons: Commons
    files: Files
    settings: Settings

    def client(self, concurrency: int = 4) -> PoliteClient:
        return PoliteClient(
            self.settings,
            timeout=1.0,
            concurrency=concurrency,
            sleep=lambda s: time.sleep(min(s, 0.01)),
            rand=lambda: 0.5,
        )


@pytest.fixture
def stand(people: list[world.Made], tmp_path: Path) -> Iterator[Stand]:
    with Files(people) as files, Sparql(world.turtle(people)) as sparql, Commons(people, files.url) as commons:
        settings = Settings(
            home=tmp_path / "home",
            wikidata_sparql_url=sparql.url + "/sparql",
            commons_api_url=commons.url + "/w/api.php",
            contact=CONTACT,
        )
        yield Stand(sparql, commons, files, settings)


def lines(out: Path) -> list[dict]:
    return [json.loads(raw) for raw in (out / "provenance.jsonl").read_text(encoding="utf-8").splitlines()]


def dir_of(made: world.Made) -> str:
    from lookalike.gallery.wikidata import Person

    return Person(made.qid, made.name, None, None, None, None, (), (), None, made.sitelinks).dir_name


def expected_dirs(people: list[world.Made], top: int) -> list[str]:
    from lookalike.gallery.wikidata import Person

    kept = [p for p in people if p.index not in SKIPPED][:top]
    return [Person(p.qid, p.name, None, None, None, None, (), (), None, p.sitelinks).dir_name for p in kept]


def test_top_40_in_sitelink_order_every_photo_credited(stand: Stand, people: list[world.Made], tmp_path: Path) -> None:
    out = tmp_path / "famous"
    with stand.client() as client:
        report = download_wikidata(out, 40, stand.settings, client=client)
    assert report.people == expected_dirs(people, 40)
    assert report.downloaded == 40 and report.already_had == 0
    assert report.skipped_by_reason == {"non_free": 1, "unknown_licence": 1, "missing_file": 1, "broken_download": 1}
    assert {s.wikidata for s in report.skipped} == {people[i].qid for i in SKIPPED}
    skip_log = [json.loads(x) for x in (out / "skipped.jsonl").read_text().splitlines()]
    assert {s["reason"] for s in skip_log} == set(report.skipped_by_reason)

    written = lines(out)
    assert written[0] == {"kind": "set", "set": "wikidata", "title": "Wikidata + Wikimedia Commons",
                          "source_url": "https://www.wikidata.org/"}  # fmt: skip
    persons = {x["dir"]: x for x in written if x["kind"] == "person"}
    photos = {x["path"].split("/")[0]: x for x in written if x["kind"] == "photo"}
    assert list(persons) == report.people == list(photos)
    for line in persons.values():
        assert list(line) == PERSON_KEYS
        assert line["sex"] in ("female", "male") and "actor" in line["occupations"]
        assert line["wikipedia"].startswith("https://en.wikipedia.org/wiki/")
        assert line["country"] in ("India", "United States of America") and 1950 <= line["birth_year"] < 2000
    for line in photos.values():
        assert list(line) == PHOTO_KEYS and line["reusable"] is True and line["licence"]
        assert line["author"] and line["credit"] == "Own work"
        assert line["source_url"].startswith("https://commons.wikimedia.org/wiki/File:")
        file = out / line["path"]
        assert sha256_file(file) == line["sha256"] and file.stat().st_size == line["bytes"]
    assert persons[dir_of(people[world.DEAD])]["death_year"] == 2020
    assert persons[dir_of(people[0])]["death_year"] is None

    shared = [photos[dir_of(people[i])] for i in (world.SHARED_FROM, world.SHARED_TO)]
    assert shared[0]["sha256"] == shared[1]["sha256"] and shared[0]["path"] != shared[1]["path"]
    shared_paths = [
        p for p in stand.files.requests if p.split("/")[2] in (str(world.SHARED_FROM), str(world.SHARED_TO))
    ]
    assert sum(stand.files.requests[p] for p in shared_paths) == 1  # one download for the two people
    accented = photos[dir_of(people[world.ACCENTED])]
    assert accented["path"].endswith("/Zoë_O_Brien-Müller_at_the_Festival_1.jpg")
    assert "Zo%C3%AB_O%27Brien" in accented["source_url"] or "Zoë_O'Brien" in accented["source_url"]


def photos_name(people: list[world.Made], index: int) -> str:
    return people[index].title.split(":", 1)[1].replace(" ", "_")


def test_politeness(stand: Stand, tmp_path: Path) -> None:
    with stand.client() as client:
        download_wikidata(tmp_path / "famous", 40, stand.settings, client=client)
        waits = list(client.waits)
    for server in (stand.sparql, stand.commons, stand.files):
        assert server.user_agents and all(CONTACT in ua and ua.startswith("lookalike/") for ua in server.user_agents)
    assert stand.sparql.max_in_flight == 1  # never two queries at once
    assert 1 < stand.files.max_in_flight <= 4  # concurrent, bounded
    assert all(len(batch) <= 50 for batch in stand.commons.batches)
    assert 1.0 in waits and 2.0 in waits and 3.0 in waits  # Retry-After of the query service, Commons, files
    slow = [p for p in stand.files.requests if p.startswith(f"/thumb/{world.SLOW}/")]
    truncated = [p for p in stand.files.requests if p.startswith(f"/thumb/{world.TRUNCATED_ONCE}/")]
    assert stand.files.requests[slow[0]] == 1  # a slow answer within the timeout is waited for
    assert stand.files.requests[truncated[0]] == 2  # cut short: detected and fetched again


def test_killed_halfway_then_rerun_fetches_nothing_twice(
    stand: Stand, people: list[world.Made], tmp_path: Path
) -> None:
    out = tmp_path / "famous"

    class Killed(Exception):
        pass

    def kill_after_12(event: ProgressEvent) -> None:
        if event.action == "downloaded" and event.kept == 12:
            raise Killed

    with stand.client() as client, pytest.raises(Killed):
        download_wikidata(out, 40, stand.settings, client=client, progress=kill_after_12)
    recorded = [x for x in lines(out) if x["kind"] == "photo"]
    assert len(recorded) == 12
    files_before = dict(stand.files.requests)
    batches_before = len(stand.commons.batches)

    with stand.client() as client:
        report = download_wikidata(out, 40, stand.settings, client=client)
    assert report.people == expected_dirs(people, 40)
    assert report.already_had == 12 and report.downloaded == 28
    done_qids = {x["path"].split("/")[0].rsplit("_", 1)[1] for x in recorded}
    done_titles = {p.title for p in people if p.qid in done_qids}
    second_batches = stand.commons.batches[batches_before:]
    assert not done_titles & {t for b in second_batches for t in b}  # Commons not asked again about them
    for path, count in stand.files.requests.items():
        index = int(path.split("/")[2])
        if people[index].qid in done_qids:
            assert count == files_before[path], path  # their thumbnails not fetched again
    # Permanent skips are remembered, not asked about again; the broken download is tried again.
    again = {t for b in second_batches for t in b}
    assert people[world.NON_FREE].title not in again and people[world.BROKEN].title in again

    with stand.client() as client:  # a third run: nothing left to fetch
        before = stand.files.total
        third = download_wikidata(out, 40, stand.settings, client=client)
    assert third.already_had == 40 and third.downloaded == 0 and stand.files.total == before + 1  # BROKEN, again
    assert third.requests.files == 1


def test_a_cut_last_line_and_part_files_are_tidied_before_anything_is_appended(tmp_path: Path) -> None:
    """What a kill can leave: a photo line cut in the middle of a character, a skip line without its newline,
    a half-written ``.part`` file.  The next run reads past none of it wrongly and glues nothing to it."""
    out = tmp_path / "famous"
    (out / "Zoë_Q1").mkdir(parents=True)
    person = {"kind": "person", "dir": "Zoë_Q1", "name": "Zoë", "wikidata": "Q1"}
    photo = {"kind": "photo", "path": "Zoë_Q1/Zoë.jpg", "source_url": "https://commons.wikimedia.org/wiki/File:Zoë.jpg",
             "sha256": "0" * 64}  # fmt: skip
    skip = {"wikidata": "Q2", "name": "B", "title": "File:B.jpg", "reason": "non_free", "detail": "Fair use"}

    def encoded(line: dict) -> bytes:
        return json.dumps(line, ensure_ascii=False).encode()

    cut = encoded(photo)
    cut = cut[: cut.index("ë".encode()) + 1]  # half of the two bytes of "ë"
    (out / PROVENANCE).write_bytes(encoded(SET_LINE) + b"\n" + encoded(person) + b"\n" + cut)
    (out / "skipped.jsonl").write_bytes(encoded(skip))
    (out / "Zoë_Q1" / ".Zoë.jpg.part").write_bytes(b"half a photo")
    assert read_set(out).people.keys() == {"Zoë_Q1"}  # `gallery build` reads past it too

    state = State.load(out)
    assert state.has_set and list(state.persons) == ["Zoë_Q1"] and state.photos == {}
    assert state.skips == {("Q2", "File:B.jpg"): "non_free"}  # the whole line kept, given its newline
    assert list((out / "Zoë_Q1").iterdir()) == []
    later = {"kind": "person", "dir": "C_Q3", "name": "C", "wikidata": "Q3"}
    state.append(PROVENANCE, later)
    state.append("skipped.jsonl", {**skip, "wikidata": "Q4"})
    assert lines(out) == [SET_LINE, person, later]
    assert [json.loads(x)["wikidata"] for x in (out / "skipped.jsonl").read_text().splitlines()] == ["Q2", "Q4"]


def test_rerun_with_bigger_top_adds_the_new_people(stand: Stand, people: list[world.Made], tmp_path: Path) -> None:
    out = tmp_path / "famous"
    with stand.client() as client:
        download_wikidata(out, 10, stand.settings, client=client)
    with stand.client() as client:
        report = download_wikidata(out, 20, stand.settings, client=client)
    assert report.people == expected_dirs(people, 20) and report.already_had == 10 and report.downloaded == 10


def test_sanitised_credits(stand: Stand, people: list[world.Made], tmp_path: Path) -> None:
    out = tmp_path / "famous"
    with stand.client() as client:
        download_wikidata(out, 40, stand.settings, client=client)
    photos = [x for x in lines(out) if x["kind"] == "photo"]
    for line in photos:
        for key in ("author", "credit", "licence"):
            text = line[key] or ""
            assert "<" not in text and ">" not in text and "javascript:" not in text.lower()
            assert "alert" not in text and "owned" not in text and "tracker" not in text
    hostile = next(x for x in photos if x["path"].startswith(people[world.HOSTILE_ARTIST].name.replace(" ", "_")))
    assert hostile["author"] == "Evil Artist b"


def test_query_runs_unchanged_on_a_sparql_engine(people: list[world.Made]) -> None:
    store = pyoxigraph.Store()
    store.load(world.turtle(people).encode(), format=pyoxigraph.RdfFormat.TURTLE)
    for options in (QueryOptions(), QueryOptions(occupation="singer", living=True), QueryOptions(occupation="Q177220"),
                    QueryOptions(language="de", page_size=7)):  # fmt: skip
        for band in (Band(200, None), Band(150, 200)):
            text = build_query(band, options)
            assert "SERVICE" not in text.upper() and "hint:" not in text
            rows = list(store.query(text))
            assert rows, (band, options)


def test_bands_pages_and_filters(stand: Stand, people: list[world.Made]) -> None:
    endpoint = stand.settings.wikidata_sparql_url
    with stand.client() as client:
        everyone = list(iter_people(client, endpoint, QueryOptions()))
        requests = client.requests["sparql"]
        paged = list(iter_people(client, endpoint, QueryOptions(page_size=4)))
        assert client.requests["sparql"] - requests > requests  # more, smaller requests
        singers = list(iter_people(client, endpoint, QueryOptions(occupation="singer", min_sitelinks=100)))
        living = list(iter_people(client, endpoint, QueryOptions(living=True)))
        german = list(iter_people(client, endpoint, QueryOptions(language="de", min_sitelinks=250)))
    assert [p.qid for p in everyone] == [p.qid for p in people] == [p.qid for p in paged]  # no cat, no portrait-less
    assert [p.sitelinks for p in everyone] == sorted((p.sitelinks for p in everyone), reverse=True)
    assert {p.qid for p in singers} == {p.qid for p in people if "Q177220" in p.occupations and p.sitelinks >= 100}
    assert people[world.DEAD].qid not in {p.qid for p in living} and len(living) == len(people) - 1
    assert german and all(p.name.endswith("(de)") and p.wikipedia is None for p in german)
    first = everyone[0]
    assert first.occupations == ("actor", "singer") and first.countries == ("India", "United States of America")
    assert everyone[world.SHARED_FROM].image == everyone[world.SHARED_TO].image


def test_commons_batches_of_50_and_both_formatversions(stand: Stand, people: list[world.Made]) -> None:
    titles = [p.title for p in people] + [f"File:Nobody {i}.jpg" for i in range(74)]
    with stand.client() as client:
        v2 = fetch_files(client, stand.settings.commons_api_url, titles, 640, formatversion=2)
        v1 = fetch_files(client, stand.settings.commons_api_url, titles, 640, formatversion=1)
        odd = fetch_files(client, stand.settings.commons_api_url, ["File:" + photos_under(people[7])], 640)
    assert [len(b) for b in stand.commons.batches] == [50, 50, 19, 50, 50, 19, 1]  # the shared photo asked once
    assert v1 == v2 and len(v2) == len(set(titles))
    assert v2[people[world.DELETED].title].missing and v2["File:Nobody 3.jpg"].missing
    assert v2[people[0].title].thumb_url.endswith("/640px-" + photos_name(people, 0))
    assert not v2[people[world.NON_FREE].title].licence.reusable
    assert odd["File:" + photos_under(people[7])].licence.reusable  # asked with underscores: "normalized" maps it


def photos_under(made: world.Made) -> str:
    return made.title.split(":", 1)[1].replace(" ", "_")


def test_the_command_builds_a_credited_gallery_that_the_filters_search(
    stand: Stand, people: list[world.Made], tmp_path: Path, data: Path
) -> None:
    """`gallery download wikidata --top 40`, then `match --json` with a filter: every lookalike passes it and
    carries its description, Wikipedia link and credit."""
    from tests.test_cli import run

    env = {
        "LOOKALIKE_HOME": str(stand.settings.home),
        "LOOKALIKE_WIKIDATA_SPARQL_URL": stand.settings.wikidata_sparql_url,
        "LOOKALIKE_COMMONS_API_URL": stand.settings.commons_api_url,
    }
    gallery = tmp_path / "famous-gallery"
    out = run("gallery", "download", "wikidata", "--top", "40", "--out", str(gallery), "--contact", CONTACT, env=env)
    assert out.returncode == 0, out.stderr
    assert "40 people: 40 photos downloaded" in out.stdout
    assert "not inside a person folder" not in (gallery / "build-log.tsv").read_text()  # the set's own files
    info = json.loads(run("gallery", "info", "--gallery", str(gallery), "--json", env=env).stdout)
    assert info["provenance"]["per_set"] == {"wikidata": info["provenance"]["photos"]}
    assert info["provenance"]["reusable"] == info["provenance"]["photos"] > 30  # a few photos may give no face
    women = {p.qid for p in people if p.index % 2}  # the world's Turtle: odd people are female (Q6581072)
    photo = next(p.photo for p in people if p.index not in SKIPPED)
    found = run("match", str(photo), "--gallery", str(gallery), "--sex", "female", "--json", env=env)
    assert found.returncode == 0, found.stderr
    matches = [m for face in json.loads(found.stdout)["photos"][0]["faces"] for m in face["matches"]]
    assert matches and all(m["wikidata"] in women for m in matches)
    for m in matches:
        assert m["description"] and m["wikipedia"].startswith("https://en.wikipedia.org/wiki/")
        assert m["credit"]["licence"] and m["credit"]["source_url"].startswith("https://commons.wikimedia.org/")


def whole_lines(sidecar: Path) -> list[dict]:
    """The lines of a sidecar being written: each whole line (ending in a newline) must parse."""
    raw = sidecar.read_bytes() if sidecar.is_file() else b""
    return [json.loads(x) for x in raw[: raw.rfind(b"\n") + 1].splitlines()]


def test_really_killed_halfway_then_rerun_fetches_nothing_twice(people: list[world.Made], tmp_path: Path) -> None:
    """`gallery download wikidata --top 40` SIGKILLed once 10 photos are recorded leaves a set that is whole
    as far as it is written; run again, it finishes without asking again for what was recorded."""
    from tests.test_cli import run

    home = tmp_path / "home"
    folder = home / "downloads" / "wikidata"
    sidecar = folder / PROVENANCE
    args = ["gallery", "download", "wikidata", "--top", "40", "--out", str(tmp_path / "g"), "--contact", CONTACT]
    # Each photo takes 0.2 s (4 at a time): the kill lands while photos are still coming.  No first-answer
    # troubles (test_politeness has them): their waits would only make the run longer.
    with (
        Files(people, delay=0.2, troubles=False) as files,
        Sparql(world.turtle(people), fail_first=False) as sparql,
        Commons(people, files.url, unavailable_first=False) as commons,
    ):
        env = {
            "LOOKALIKE_HOME": str(home),
            "LOOKALIKE_WIKIDATA_SPARQL_URL": sparql.url + "/sparql",
            "LOOKALIKE_COMMONS_API_URL": commons.url + "/w/api.php",
        }
        with open(tmp_path / "killed.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "lookalike", *args],
                env={**os.environ, "COLUMNS": "160", **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the kill takes any child with it
            )
            try:
                deadline = time.monotonic() + 30
                while sum(x["kind"] == "photo" for x in whole_lines(sidecar)) < 10:
                    assert proc.poll() is None, "it ended before it was killed"
                    assert time.monotonic() < deadline, "no 10 photos recorded in 30 s"
                    time.sleep(0.02)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        files_before = dict(files.requests)
        batches_before = len(commons.batches)

        # What the kill left: whole lines that parse (a cut last line would be repaired by the next run),
        # every recorded photo whole, at most the photo being recorded written without its line yet, and
        # temporary files hidden (never taken for photos).
        written = whole_lines(sidecar)
        recorded = {x["path"]: x for x in written if x["kind"] == "photo"}
        assert 10 <= len(recorded) < 40
        for path, line in recorded.items():
            assert sha256_file(folder / path) == line["sha256"], path
        on_disk = {str(p.relative_to(folder)) for p in folder.glob("*/*") if p.is_file()}
        photos = {p for p in on_disk if not p.split("/")[1].startswith(".") and Path(p).suffix in PHOTO_SUFFIXES}
        assert len(photos - set(recorded)) <= 1
        assert all(p.split("/")[1].startswith(".") and p.endswith(".part") for p in on_disk - photos)

        again = run(*args, env=env)
        assert again.returncode == 0, again.stderr
        n = len(recorded)
        assert f"40 people: {40 - n} photos downloaded, {n} kept from before" in again.stdout

        after = lines(folder)
        persons = list(dict.fromkeys(x["dir"] for x in after if x["kind"] == "person"))
        photo_lines = {x["path"].split("/")[0]: x for x in after if x["kind"] == "photo"}
        assert persons == list(photo_lines) == expected_dirs(people, 40)
        assert all(photo_lines[x["path"].split("/")[0]] == x for x in recorded.values())  # kept as they were
        for line in photo_lines.values():
            assert sha256_file(folder / line["path"]) == line["sha256"]
        on_disk = {str(p.relative_to(folder)) for p in folder.glob("*/*") if p.is_file()}
        assert on_disk == {x["path"] for x in photo_lines.values()}  # no stray photo, no .part file

        # Recorded before the kill: neither Commons nor the file server asked again (a photo shared with
        # someone not recorded yet is needed again, so it is left out).
        done = {path.split("/")[0] for path in recorded}
        needed = {p.title for p in people if dir_of(p) not in done}
        had = {p.title for p in people if dir_of(p) in done} - needed
        assert len(had) >= n - 1
        assert not had & {t for batch in commons.batches[batches_before:] for t in batch}
        for path, count in files.requests.items():
            if people[int(path.split("/")[2])].title in had:
                assert count == files_before[path], path

    info = json.loads(run("gallery", "info", "--gallery", str(tmp_path / "g"), "--json", env=env).stdout)
    assert info["provenance"]["per_set"] == {"wikidata": info["provenance"]["photos"]}
    assert info["provenance"]["reusable"] == info["provenance"]["photos"] > 30  # a few photos may give no face
