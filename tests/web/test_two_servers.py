"""Two `lookalike serve` on one data directory, each with its own gallery: every job is answered by the
server that holds its connection and matched against that server's gallery.

Before jobs carried their server (queue channel and connection endpoint), the other server's workers
took about half of them from the shared queue and pushed the events to an API that did not hold the
connection: those pages never heard back.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pytest

from conftest import WS, Server
from lookalike.settings import Settings


@pytest.fixture(scope="module")
def other_gallery(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gallery of other people (small/five_celeb): neither Obama nor Biden is in it."""
    from lookalike.gallery.build import build_gallery, scan_sources
    from lookalike.gallery.store import Gallery

    out = tmp_path_factory.mktemp("other-gallery")
    photos, _ = scan_sources([data / "small" / "five_celeb"])
    with Gallery.create(out) as g:
        build_gallery(g, photos, Settings(gallery=out), workers=2)
        assert not g.has_person("Barack_Obama")
    return out


def match_on(server: Server, photo: bytes) -> list[str]:
    """Submit one photo to ``server`` and return the matched people's names (every face's best match)."""
    key = server.uploaded_key(photo)
    with WS(server.ws_url, timeout=90) as ws:
        ws.send({"action": "match", "key": key})
        events = ws.until("matched", "failed")
    assert events[-1]["event"] == "matched", events[-1]
    return [face["matches"][0]["name"] for face in events[-1]["result"]["faces"]]


def test_two_servers_on_one_home_answer_their_own_jobs_from_their_own_gallery(
    start_server, gallery_dir: Path, other_gallery: Path, two_people: bytes, tmp_path: Path
) -> None:
    home = tmp_path / "shared-home"
    first = start_server(workers=1, home=home, gallery=gallery_dir)
    second = start_server(workers=1, home=home, gallery=other_gallery)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [(server, pool.submit(match_on, server, two_people)) for server in [first, second] * 4]
        answers = [(server, future.result(timeout=180)) for server, future in futures]
    assert len(answers) == 8  # no job lost: each of the 8 pages heard "matched"
    for server, names in answers:
        assert len(names) == 2
        if server is first:
            assert sorted(names) == ["Barack_Obama", "Joseph_Biden"]
        else:  # matched against the second server's gallery, never the first's
            assert not {"Barack_Obama", "Joseph_Biden"} & set(names)
