"""Whom to compare with, through the API: the WebSocket ``match`` message and ``/api/match`` take a filter,
the job carries it to a worker, and every lookalike passes it.  Against a gallery of the made-up Wikidata
world (real celeb_mini photos with made-up facts: odd people are women, people born 1950 + index)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.wikidata.gallery import another_photo

from conftest import WS, Server
from lookalike.settings import Settings


@pytest.fixture(scope="module")
def facts(famous_facts: list[Any]) -> dict[str, Any]:
    """Q-id -> the person's facts, as the gallery holds them."""
    return {f.wikidata: f for f in famous_facts}


def query_photo(data: Path, facts: dict[str, Any], wikidata: str) -> bytes:
    return another_photo(data, facts[wikidata].person).read_bytes()


def matched(ws: WS, key: str, **chosen: Any) -> dict[str, Any]:
    ws.send({"action": "match", "key": key, **chosen})
    events = ws.until("matched", "failed", "error")
    assert events[-1]["event"] == "matched", events[-1]
    return dict(events[-1]["result"])


def lookalikes(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for face in result["faces"] for m in face["matches"]]


def woman(facts: dict[str, Any]) -> str:
    return next(q for q, f in sorted(facts.items()) if f.sex == "female")


def test_the_websocket_match_message_filters_whom_to_compare_with(
    famous_server: Server, famous_gallery: Path, facts: dict[str, Any], data: Path
) -> None:
    her = woman(facts)
    photo = query_photo(data, facts, her)
    with WS(famous_server.ws_url) as ws:
        everyone = matched(ws, famous_server.uploaded_key(photo))
        men = matched(ws, famous_server.uploaded_key(photo), sex="male")
        later = matched(ws, famous_server.uploaded_key(photo), sex="female", born_after=1958, occupation=["actor"])
    assert "compared_with" not in everyone
    assert lookalikes(everyone)[0]["wikidata"] == her  # she looks most like herself
    assert lookalikes(men) and all(facts[m["wikidata"]].sex == "male" for m in lookalikes(men))
    assert her not in {m["wikidata"] for m in lookalikes(men)}  # the filter changed the result
    male_count = sum(f.sex == "male" for f in facts.values())
    assert men["compared_with"] == {"filter": "sex=male", "people": male_count, "of_people": len(facts)}
    assert lookalikes(later)
    for m in lookalikes(later):
        f = facts[m["wikidata"]]
        assert f.sex == "female" and f.birth_year > 1958
    assert later["compared_with"]["filter"] == "sex=female occupation=actor born_after=1958"


def test_the_filtered_lookalikes_are_the_true_top_of_the_people_who_pass(
    famous_server: Server, famous_gallery: Path, facts: dict[str, Any], data: Path
) -> None:
    """The worker's filtered top-5 is the whole gallery's ranking with the others struck out: nobody missed."""
    from lookalike.service.matching import MatchService

    photo = query_photo(data, facts, woman(facts))
    with WS(famous_server.ws_url) as ws:
        women = matched(ws, famous_server.uploaded_key(photo), sex="women")  # words people use are read too
    ranking = MatchService(Settings(gallery=famous_gallery, top_k=len(facts))).match_bytes(photo)
    everyone = [m.wikidata for m in ranking.faces[0].matches]
    assert len(everyone) == len(facts)
    assert [m["wikidata"] for m in lookalikes(women)] == [q for q in everyone if facts[q].sex == "female"][:5]


def test_a_filter_that_cannot_be_read_is_refused_before_a_job_is_made(famous_server: Server, data: Path) -> None:
    photo = (data / "group" / "face_recognition__two_people.jpg").read_bytes()
    key = famous_server.uploaded_key(photo)
    with WS(famous_server.ws_url) as ws:
        for bad in (
            {"sex": "robot"},
            {"born_after": "last year"},
            {"born_after": 1970.5},
            {"occupation": ["pirate"]},
            {"occupation": 5},
            {"occupation": {"actor": 1}},
            {"living": "maybe"},
            {"gender": "female"},  # a misspelt field is refused, not read as "everyone"
        ):
            ws.send({"action": "match", "key": key, **bad})
            answer = ws.recv()
            assert answer["event"] == "error" and answer["error"]["code"] == "bad_filter", answer
    with famous_server.client() as c:  # the upload is still there, unmatched: nothing was queued for it
        assert c.get("/healthz").json()["queue_depth"] == 0


def test_api_match_takes_the_filter_as_query_parameters_or_form_fields(
    famous_server: Server, famous_gallery: Path, facts: dict[str, Any], data: Path
) -> None:
    photo = query_photo(data, facts, woman(facts))
    with famous_server.client() as c:
        by_query = c.post("/api/match?sex=male&born_before=1962", files={"photo": ("p.jpg", photo, "image/jpeg")})
        by_form = c.post(
            "/api/match", data={"occupation": "musician", "living": "true"}, files={"photo": ("p.jpg", photo)}
        )
        bad = c.post("/api/match?born_after=soon", files={"photo": ("p.jpg", photo, "image/jpeg")})
        both = c.post(
            "/api/match?occupation=musician&occupation=politician", files={"photo": ("p.jpg", photo, "image/jpeg")}
        )
        both_in_form = c.post(
            "/api/match", data={"occupation": ["musician", "politician"]}, files={"photo": ("p.jpg", photo)}
        )
        misspelt = c.post("/api/match?gender=female", files={"photo": ("p.jpg", photo, "image/jpeg")})
        misspelt_in_form = c.post("/api/match", data={"born-after": "1960"}, files={"photo": ("p.jpg", photo)})
    assert by_query.status_code == 200, by_query.text
    found = lookalikes(by_query.json())
    assert found and all(facts[m["wikidata"]].sex == "male" and facts[m["wikidata"]].birth_year < 1962 for m in found)
    assert by_form.status_code == 200, by_form.text
    singers = lookalikes(by_form.json())
    assert singers and all("singer" in facts[m["wikidata"]].occupations for m in singers)
    assert by_form.json()["compared_with"]["filter"] == "occupation=musician living=true"
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_filter"
    for r in (both, both_in_form):  # several groups, as the WebSocket takes a list
        assert r.status_code == 200, r.text
        assert r.json()["compared_with"]["filter"] == "occupation=musician,politician"
    assert misspelt.status_code == 400 and misspelt.json()["error"]["code"] == "bad_filter"
    assert misspelt_in_form.status_code == 200  # the form's "born-after" is read as born_after, as the CLI's flag
    assert misspelt_in_form.json()["compared_with"]["filter"] == "born_after=1960"


def test_nobody_passing_gives_no_lookalikes_and_says_so(
    famous_server: Server, famous_gallery: Path, facts: dict[str, Any], data: Path
) -> None:
    photo = query_photo(data, facts, woman(facts))
    with famous_server.client() as c:
        r = c.post("/api/match?born_before=1900", files={"photo": ("p.jpg", photo, "image/jpeg")})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["faces"] and lookalikes(result) == []
    assert result["compared_with"] == {"filter": "born_before=1900", "people": 0, "of_people": len(facts)}
