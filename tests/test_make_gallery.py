"""`make gallery` without the data folder: the famous-people gallery from the Wikidata and Commons stand-ins,
and a clear stop, before any request, where no contact for Wikimedia's User-Agent is known."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.test_cli import run
from tests.wikidata import world

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@dataclass
class Stands:
    files: Any  # tests.wikidata.servers.Files (imported only where pyoxigraph is)
    commons: Any
    sparql: Any

    @property
    def requests(self) -> int:
        return self.files.total + self.commons.total + self.sparql.total

    @property
    def user_agents(self) -> list[str]:
        return self.files.user_agents + self.commons.user_agents + self.sparql.user_agents


@pytest.fixture
def stands(data: Path) -> Iterator[Stands]:
    pytest.importorskip("pyoxigraph", reason="pyoxigraph (the dev extra) runs the SPARQL stand-in")
    from tests.wikidata.servers import Commons, Files, Sparql

    people = world.make_world(data)
    with (
        Files(people) as files,
        Sparql(world.turtle(people), fail_first=False) as sparql,
        Commons(people, files.url, unavailable_first=False) as commons,
    ):
        files.troubled = set(range(len(people)))  # no first-answer troubles: this test is not about them
        yield Stands(files, commons, sparql)


def make_gallery(
    stands: Stands, tmp_path: Path, top: int, *args: str, git_email: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """``make gallery`` from the repository root, with no data folder, a temporary home and gallery, and a
    git that knows no e-mail but ``git_email``.  ``VENV`` is the virtual environment running this test; its
    ``.installed`` is taken as up to date (``-o``): this is about the gallery target, not ``make setup``."""
    venv = Path(sys.executable).parent.parent
    (tmp_path / "no-data").mkdir(exist_ok=True)
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(f"[user]\n\temail = {git_email}\n" if git_email else "")
    full_env = {
        **os.environ,
        "LOOKALIKE_HOME": str(tmp_path / "home"),
        "LOOKALIKE_WIKIDATA_SPARQL_URL": stands.sparql.url + "/sparql",
        "LOOKALIKE_COMMONS_API_URL": stands.commons.url + "/w/api.php",
        "LOOKALIKE_CONTACT": "",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_DIR": str(tmp_path / "no-repository"),  # not this repository's own config either
        **env,
    }
    command = ["make", "--no-print-directory", "-o", f"{venv}/.installed", "gallery", f"VENV={venv}"]
    command += [f"DATA_DIR={tmp_path / 'no-data'}", f"GALLERY={tmp_path / 'gallery'}", f"FAMOUS_TOP={top}", *args]
    return subprocess.run(command, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=600)


def test_without_the_data_folder_it_builds_the_famous_people(stands: Stands, tmp_path: Path) -> None:
    contact = "maker@example.org"
    out = make_gallery(stands, tmp_path, 12, f"LOOKALIKE_CONTACT={contact}", git_email="not-this@example.org")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "12 people: 12 photos downloaded" in out.stdout
    assert stands.user_agents and all(contact in ua for ua in stands.user_agents)
    info = run("gallery", "info", "--gallery", str(tmp_path / "gallery"), "--json")
    assert info.returncode == 0, info.stderr
    gallery = json.loads(info.stdout)
    provenance = gallery["provenance"]
    assert gallery["people"] == 12 and provenance["per_set"] == {"wikidata": 12}
    assert provenance["reusable"] == provenance["with_author"] == provenance["people_with_facts"] == 12


def test_the_contact_can_come_from_git(stands: Stands, tmp_path: Path) -> None:
    out = make_gallery(stands, tmp_path, 1, git_email="from-git@example.org")
    assert out.returncode == 0, out.stdout + out.stderr
    assert stands.user_agents and all("from-git@example.org" in ua for ua in stands.user_agents)


def test_without_a_contact_it_stops_before_any_request(stands: Stands, tmp_path: Path) -> None:
    out = make_gallery(stands, tmp_path, 12)
    assert out.returncode != 0
    assert "make run LOOKALIKE_CONTACT=you@example.org" in out.stderr and "User-Agent" in out.stderr
    assert stands.requests == 0
    assert not (tmp_path / "gallery").exists() and not (tmp_path / "home").exists()
