"""The HTTP API on the embedded index: routes, parameters, errors, read-only, OpenAPI."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.index import story_document
from pipeline.models import Claim, CleanStory, DedupeResult, Entity, Extraction
from workers.adapters.sqlite_index import SqliteIndex
from workers.api import CLAIM_PARAMS, SEARCH_PARAMS, Api, make_server, openapi

SID = "a" * 32


def _doc(sid: str, text: str, cluster: str | None = None, outlet: str = "Harbour Herald") -> dict[str, Any]:
    story = CleanStory(
        sid,
        f"https://n.example/{sid}",
        f"https://n.example/{sid}",
        "f",
        outlet,
        "Jets over the Baltic",
        text,
        published="2026-11-20T08:00:00+00:00",
        language="en",
    )
    claim = Claim("Dmitry Peskov", "said", "direct", "the flights were routine training", 0, 10)
    return story_document(
        story,
        DedupeResult(sid, "0" * 16, cluster or sid, cluster is None),
        Extraction(sid, (Entity("NATO", "org", "Q7184"),), (claim,), 0.7),
        "2026-11-20T09:00:00+00:00",
    )


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    index = SqliteIndex(tmp_path_factory.mktemp("api") / "stories.sqlite")
    index.ensure_ready()
    index.put(_doc(SID, "NATO jets shadowed a reconnaissance plane near Kaliningrad on Monday."))
    index.put(
        _doc("b" * 32, "NATO jets shadowed a reconnaissance plane near Kaliningrad on Monday.", SID, "Coastal Courier")
    )
    server = make_server(Api(index), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def get(url: str, method: str = "GET") -> tuple[int, Any]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def test_search_collapses_copies_and_reports_sources(base_url: str) -> None:
    status, body = get(f"{base_url}/api/search?q=kaliningrad&facets=true")
    assert status == 200
    assert body["total"] == 1
    hit = body["hits"][0]
    assert {s["outlet"] for s in hit["sources"]} == {"Harbour Herald", "Coastal Courier"}
    assert "<mark>Kaliningrad</mark>" in hit["snippet"]
    assert hit["claims"][0]["speaker"] == "Dmitry Peskov"
    assert body["facets"]["org"] == [{"value": "NATO", "count": 1}]  # one story (cluster), as the total counts
    assert body["facets"]["outlet"] == [
        {"value": "Coastal Courier", "count": 1},
        {"value": "Harbour Herald", "count": 1},
    ]
    assert body["histogram"] == [{"value": "2026-11-20", "count": 1}]
    status, every = get(f"{base_url}/api/search?q=kaliningrad&all_copies=true")
    assert every["total"] == 2


def test_claims_and_story_routes(base_url: str) -> None:
    status, body = get(f"{base_url}/api/claims?speaker=dmitry%20peskov&about=routine")
    assert status == 200 and body["total"] == 1 and body["hits"][0]["stories"] == 2
    status, story = get(f"{base_url}/api/stories/{SID}")
    assert status == 200 and story["story_id"] == SID and "raw_key" not in story
    assert {c["outlet"] for c in story["copies"]} == {"Harbour Herald", "Coastal Courier"}
    assert get(f"{base_url}/api/stories/{'c' * 32}")[0] == 404


@pytest.mark.parametrize(
    "query", ["size=1000", "size=abc", "from=yesterday", "sort=random", "bogus=1", "min_topic=high", "all_copies=maybe"]
)
def test_bad_parameters_are_400_with_a_reason(base_url: str, query: str) -> None:
    status, body = get(f"{base_url}/api/search?{query}")
    assert status == 400 and body["error"]


def test_read_only_and_unknown_routes(base_url: str) -> None:
    assert get(f"{base_url}/api/search", method="POST")[0] == 405
    assert get(f"{base_url}/api/stories/{SID}", method="DELETE")[0] == 405
    assert get(f"{base_url}/api/nothing")[0] == 404


def test_openapi_describes_every_parameter(base_url: str) -> None:
    status, spec = get(f"{base_url}/api/openapi.json")
    assert status == 200 and spec == openapi()
    assert spec["openapi"].startswith("3.")
    names = {p["name"] for p in spec["paths"]["/api/search"]["get"]["parameters"]}
    assert names == {p.name for p in SEARCH_PARAMS}
    assert {p["name"] for p in spec["paths"]["/api/claims"]["get"]["parameters"]} == {p.name for p in CLAIM_PARAMS}
    refs = {v for v in json.dumps(spec).split('"') if v.startswith("#/components/schemas/")}
    assert {r.rsplit("/", 1)[1] for r in refs} <= set(spec["components"]["schemas"])


def test_page_served_at_root(base_url: str) -> None:
    page = Path(__file__).resolve().parents[2] / "workers" / "web" / "index.html"
    assert page.exists()
    with urllib.request.urlopen(f"{base_url}/", timeout=10) as resp:
        body = resp.read().decode()
        assert resp.headers["Content-Type"].startswith("text/html") and "<html" in body.lower()
