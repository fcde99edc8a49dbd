"""The downloader's pieces that need no server: titles, licences, HTML to text, settings, Retry-After, contact."""

from __future__ import annotations

import pytest

from lookalike.errors import ConfigurationError
from lookalike.gallery.commons import classify_licence, parse_imageinfo, plain_text, title_from_filepath
from lookalike.gallery.polite import require_contact, retry_after_seconds
from lookalike.settings import Settings


def test_filepath_iris_become_file_titles() -> None:
    iri = "http://commons.wikimedia.org/wiki/Special:FilePath/Zo%C3%AB%20O%27Brien%20%28actress%29.jpg"
    assert title_from_filepath(iri) == "File:Zoë O'Brien (actress).jpg"
    assert (
        title_from_filepath("http://commons.wikimedia.org/wiki/Special:FilePath/de_la_Cruz.JPG")
        == "File:De la Cruz.JPG"
    )


@pytest.mark.parametrize(
    ("name", "reusable", "reason"),
    [
        ("CC BY-SA 4.0", True, None),
        ("CC BY 2.0", True, None),
        ("CC-BY-SA-3.0-de", True, None),
        ("CC0", True, None),
        ("Public domain", True, None),
        ("PD-US", True, None),
        ("Attribution", True, None),
        ("CC BY-NC-SA 2.0", False, "nc_nd"),
        ("CC BY-ND 4.0", False, "nc_nd"),
        ("Fair use", False, "non_free"),
        ("Non-free media", False, "non_free"),
        ("GFDL", False, "gfdl_only"),
        ("", False, "unknown_licence"),
        ("Some licence", False, "unknown_licence"),
    ],
)
def test_licence_classes(name: str, reusable: bool, reason: str | None) -> None:
    licence = classify_licence(name, None)
    assert (licence.reusable, licence.reason) == (reusable, reason)


def test_html_becomes_plain_text() -> None:
    hostile = '<a href="javascript:alert(1)">Jane <i>Doe</i></a><script>alert(2)</script><style>x{}</style> &amp; co'
    assert plain_text(hostile) == "Jane Doe & co"
    assert plain_text("&lt;script&gt;javascript:x") == "scriptx"
    assert plain_text("") is None and plain_text("<img src=x>") is None


def test_formatversion_1_with_normalized_and_missing() -> None:
    answer = {
        "batchcomplete": "",
        "query": {
            "normalized": [{"from": "File:a_b.jpg", "to": "File:A b.jpg"}],
            "pages": {
                "-1": {"ns": 6, "title": "File:Gone.jpg", "missing": ""},
                "7": {
                    "pageid": 7,
                    "ns": 6,
                    "title": "File:A b.jpg",
                    "imageinfo": [
                        {
                            "thumburl": "https://upload.example/t.jpg",
                            "descriptionurl": "https://c.example/wiki/File:A_b.jpg",
                            "extmetadata": {
                                "LicenseShortName": {"value": "CC BY 4.0", "source": "x", "hidden": ""},
                                "AttributionRequired": {"value": "true"},
                            },
                        }
                    ],
                },  # fmt: skip
            },
        },
    }
    files = parse_imageinfo(answer, ["File:a_b.jpg", "File:Gone.jpg"])
    assert files["File:Gone.jpg"].missing
    found = files["File:a_b.jpg"]
    assert found.thumb_url == "https://upload.example/t.jpg" and found.licence.reusable and found.attribution_required


def test_settings_and_contact() -> None:
    env = {"LOOKALIKE_WIKIDATA_SPARQL_URL": "http://127.0.0.1:1/sparql", "LOOKALIKE_CONTACT": "me@example.org",
           "LOOKALIKE_COMMONS_API_URL": "http://127.0.0.1:2/w/api.php"}  # fmt: skip
    settings = Settings.from_env(env)
    assert settings.wikidata_sparql_url.endswith("/sparql") and settings.contact == "me@example.org"
    defaults = Settings()
    assert defaults.wikidata_sparql_url == "https://query.wikidata.org/sparql"
    assert defaults.commons_api_url == "https://commons.wikimedia.org/w/api.php"
    with pytest.raises(ConfigurationError, match="LOOKALIKE_CONTACT"):
        require_contact(defaults, [defaults.wikidata_sparql_url])
    require_contact(defaults, ["http://127.0.0.1:1/sparql"])  # a stand-in or mirror: allowed without


def test_retry_after() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None and retry_after_seconds("99999") == 300.0
