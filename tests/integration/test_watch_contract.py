"""One contract, both watch backends: a watch matches a document exactly when the search finds it.

Runs on the embedded pair (SQLite index, in-process matcher) and on real Elasticsearch (its percolator
where the server has the module; the 8.19.3 integ-test build has not, and the adapter falls back to the
in-process matcher, which is then held to Elasticsearch's own search answers).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.models import Claim, ClaimQuery, Entity, SearchQuery
from pipeline.watch import CompiledWatch, Story, make_watch, matching_claims
from tests.integration.test_index_contract import make_doc

REPO = Path(__file__).resolve().parents[2]

PESKOV = "Dmitry Peskov"
DRILLS = "the drills near Kaliningrad were a threat to regional security"
DOCS = [
    make_doc("w1", "NATO jets were scrambled over the Baltic Sea after Russian aircraft flew near Estonia.",
             title="Jets scrambled over the Baltic", entities=(Entity("NATO", "org", "Q7184"),
                                                            Entity("Estonia", "place", "Q191"))),
    make_doc("w2", "Rail transit to Kaliningrad was halted on Monday, officials in Vilnius said.",
             title="Kaliningrad rail transit halted", outlet="Coast Courier", published="2026-11-21T10:00:00+00:00",
             entities=(Entity("Vilnius", "place", "Q216"),), topic=0.8),
    make_doc("w3", f"{PESKOV} said {DRILLS}. "
             "The ministry declined to comment.", title="Kremlin on Baltic drills",
             entities=(Entity(PESKOV, "person", "Q4064"),),
             claims=(Claim(PESKOV, "said", "indirect", DRILLS, len(PESKOV) + 6, len(PESKOV) + 6 + len(DRILLS),
                           "Q4064"),)),
    make_doc("w4", "A football club won the cup final after a late winner in extra time.",
             title="Late winner decides cup final", outlet="Sports Desk", topic=0.05),
    make_doc("w5", "Russian officials said rail transit would resume. Kaliningrad residents waited.",
             title="Transit may resume", outlet="Harbour Herald", cluster="w2", language="de",
             published="2026-11-22T09:00:00+00:00",
             claims=(Claim("Maria Zakharova", "said", "indirect", "rail transit would resume", 23, 48),)),
]
STORY_WATCHES = {
    "kaliningrad": {"text": "kaliningrad"},
    "rail-phrase": {"text": '"rail transit"'},
    "rail-not-resume": {"text": "rail -resume"},
    "nato-id": {"entity": "Q7184"},
    "estonia-name": {"entity": "estonia"},
    "peskov-speaker": {"speaker": PESKOV},
    "courier": {"outlet": "coast courier"},
    "german": {"language": "de", "text": "transit"},
    "topical": {"min_topic": 0.6},
    "late-nov": {"date_from": "2026-11-21", "date_to": "2026-11-21", "text": "kaliningrad"},
    "nothing": {"text": "volcano"},
}
CLAIM_WATCHES = {
    "peskov": {"speaker": PESKOV},
    "peskov-by-id": {"speaker": "Q4064"},
    "about-transit": {"about": "transit"},
    "peskov-drills": {"speaker": PESKOV, "about": "drills threat"},
    "peskov-football": {"speaker": PESKOV, "about": "football"},
}


@dataclass
class Backends:
    index: Any
    watches: Any


@pytest.fixture(params=["embedded", "elasticsearch"])
def backends(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backends]:
    from workers.adapters.percolator import ElasticsearchWatchIndex, EmbeddedWatchIndex

    if request.param == "embedded":
        from workers.adapters.sqlite_index import SqliteIndex

        index: Any = SqliteIndex(tmp_path / "stories.sqlite")
        watches: Any = EmbeddedWatchIndex()
    else:
        from workers.adapters.elasticsearch_index import ElasticsearchIndex, make_client

        client = make_client(request.getfixturevalue("es_url"))
        prefix = request.getfixturevalue("es_prefix")
        index = ElasticsearchIndex(client, REPO / "config" / "index-template.json", prefix)
        watches = ElasticsearchWatchIndex(client, REPO / "config" / "index-template.json", prefix)
    index.ensure_ready()
    assert index.put_many(DOCS) == {}
    index.refresh()
    all_watches = [make_watch(n, "stories", q) for n, q in STORY_WATCHES.items()]
    all_watches += [make_watch(n, "claims", q) for n, q in CLAIM_WATCHES.items()]
    watches.sync(all_watches)
    yield Backends(index, watches)
    if request.param == "elasticsearch" and watches.available:
        client.options(ignore_status=404).indices.delete(index=watches.name)


def _by_watch(candidates: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for sid, names in candidates.items():
        for name in names:
            out.setdefault(name, set()).add(sid)
    return out


def test_story_watches_match_exactly_what_the_search_finds(backends: Backends) -> None:
    matched = _by_watch(backends.watches.candidates(DOCS))
    for name, query in STORY_WATCHES.items():
        found = {h.story_id for h in backends.index.search(SearchQuery(**query, collapse=False, size=100)).hits}
        assert matched.get(name, set()) == found, (name, backends.watches.backend)
    # Not vacuous: the watches cover matches and misses.
    assert matched["kaliningrad"] == {"w2", "w3", "w5"}
    assert matched["rail-not-resume"] == {"w2"}
    assert "nothing" not in matched


def test_claims_watches_match_the_claims_the_claims_search_finds(backends: Backends) -> None:
    candidates = _by_watch(backends.watches.candidates(DOCS))
    for name, query in CLAIM_WATCHES.items():
        result = backends.index.search_claims(ClaimQuery(**query, size=100))
        expected_docs = {h.first_story_id for h in result.hits}
        assert candidates.get(name, set()) == expected_docs, (name, backends.watches.backend)
        cw = CompiledWatch.of(make_watch(name, "claims", query))
        keys = {c["key"] for d in DOCS for c, _why in matching_claims(cw, Story.of(d))}
        assert keys == {h.key for h in result.hits}, name
    assert candidates["peskov-drills"] == {"w3"} and "peskov-football" not in candidates


def test_a_removed_watch_no_longer_matches(backends: Backends) -> None:
    backends.watches.sync([make_watch("nato-id", "stories", {"entity": "Q7184"})])
    assert _by_watch(backends.watches.candidates(DOCS)) == {"nato-id": {"w1"}}


def test_the_backend_says_whether_the_server_percolates(backends: Backends) -> None:
    backend = backends.watches.backend
    if backend == "embedded":
        return
    modules = {
        m["name"]
        for node in backends.watches._es.nodes.info(metric="plugins").body["nodes"].values()  # noqa: SLF001
        for m in node["modules"]
    }
    if "percolator" in modules:
        assert backend == "elasticsearch-percolator"
    else:
        assert backend == "embedded (no percolator on this server)"
