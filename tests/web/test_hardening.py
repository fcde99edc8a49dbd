"""Small hardening: nested JSON, absurd face ids, and the data home's files kept from other local users."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from conftest import WS, Server
from lookalike.service.jobs import JobError
from lookalike.service.protocol import parse


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    return start_server(workers=0)


def test_deeply_nested_json_is_bad_json_not_a_crash() -> None:
    with pytest.raises(JobError) as refused:
        parse("[" * 100_000 + "]" * 100_000, max_bytes=1_000_000)
    assert refused.value.code == "bad_json"


def test_deeply_nested_json_on_the_websocket_answers_bad_json(server: Server) -> None:
    depth = (server.settings.ws_max_message_bytes - 20) // 2
    with WS(server.ws_url) as ws:
        ws.send("[" * depth + "]" * depth)
        event = ws.recv()
        assert event["event"] == "error" and event["error"]["code"] == "bad_json", event


@pytest.mark.parametrize("face_id", ["9" * 40, "18446744073709551616", "-1", "abc", "١٢"])
def test_huge_or_odd_face_id_is_404_not_500(server: Server, face_id: str) -> None:
    with server.client() as c:
        r = c.get(f"/api/faces/{face_id}/thumbnail")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_home_files_are_not_readable_by_other_users(server: Server) -> None:
    key = server.uploaded_key(b"\xff\xd8 a photo's bytes")
    with WS(server.ws_url) as ws:  # a job: jobs.sqlite and queue.sqlite are written
        ws.send({"action": "match", "key": key})
        assert ws.recv()["event"] == "queued"
    home = server.settings.home
    upload = home / "storage" / key
    files = [upload, home / "secret"] + [p for p in home.rglob("*.sqlite*")]
    names = {p.name for p in files}
    assert {"jobs.sqlite", "queue.sqlite", "jobs.sqlite-wal", "ratelimit.sqlite", "ledger.sqlite"} <= names, names
    for path in files:
        assert mode(path) & 0o077 == 0, f"{path.name} is {oct(mode(path))}"
    for directory in (home / "storage", upload.parent):
        assert mode(directory) == 0o700, f"{directory.name} is {oct(mode(directory))}"


def test_files_left_readable_by_an_older_version_are_tightened(tmp_path: Path) -> None:
    from lookalike.adapters.local_storage import load_secret
    from lookalike.adapters.sqlite_jobs import SqliteJobStore

    (tmp_path / "secret").write_text("s" * 64)
    (tmp_path / "jobs.sqlite").touch()
    for name in ("secret", "jobs.sqlite"):
        (tmp_path / name).chmod(0o644)
    load_secret(tmp_path)
    SqliteJobStore(tmp_path / "jobs.sqlite")
    assert mode(tmp_path / "secret") == 0o600 and mode(tmp_path / "jobs.sqlite") == 0o600
