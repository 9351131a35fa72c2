"""Index stage: the story document, Elasticsearch search bodies and the parsing of answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.index import date_bound, search_request, search_result, story_document
from pipeline.models import (
    PIPELINE_VERSION,
    Claim,
    CleanStory,
    DedupeResult,
    Entity,
    Extraction,
    SearchQuery,
    SearchResult,
    Source,
)

STORY = CleanStory(
    story_id="c0ffee" + "0" * 26,
    url="https://www.northernledger.example/world/nato-drill?utm_source=rss",
    canonical_url="https://www.northernledger.example/world/nato-drill",
    feed_url="https://www.northernledger.example/rss/world",
    outlet="Northern Ledger",
    title="NATO begins Baltic air-defence drill",
    text="NATO began a two-week exercise.\n\nThe Kremlin called it a provocation.",
    summary="NATO began a two-week exercise.",
    authors=("Anna Kowalska", "Mark Jensen"),
    published="2026-11-20T08:15:00+00:00",
    language="en",
    fetched_at="2026-11-20T08:20:00+00:00",
    raw_key="f" * 64,
)

DUP = DedupeResult(
    story_id=STORY.story_id, text_hash="ab" * 8, cluster_id="feed" + "1" * 28, is_canonical=False,
    match="near", matched_story_id="feed" + "1" * 28, similarity=0.91, wire="Reuters",
    changes={"added": ["Local intro."], "removed": [], "changed": []},
)

CLAIM = Claim(
    speaker="Dmitry Peskov",
    cue="said",
    kind="reported",
    text="that the drill was a provocation",
    start=40,
    end=72,
    speaker_id=None,
)

EXTRACTION = Extraction(
    story_id=STORY.story_id,
    entities=(
        Entity("NATO", "org", "Q7184", 3),
        Entity("Russia", "place", "Q159", 2),
        Entity("Dmitry Peskov", "person", None, 1),
        Entity("Kremlin", "org", None, 1),
        Entity("Vladimir Putin", "person", "Q7747", 1),
        Entity("Lithuania", "place", "Q37", 1),
        # the same name twice (e.g. one linked, one not) and an id twice
        Entity("NATO", "org", None, 1),
        Entity("Russian Federation", "place", "Q159", 1),
    ),
    claims=(CLAIM,),
    topic_score=0.8051,
    topic_reasons=("term:nato", "entity:Q7184:NATO"),
)


@pytest.fixture
def doc() -> dict[str, Any]:
    return story_document(STORY, DUP, EXTRACTION, indexed_at="2026-11-20T08:21:00+00:00")


def test_story_document_story_fields(doc: dict[str, Any]) -> None:
    assert doc["story_id"] == STORY.story_id
    assert doc["url"] == STORY.url
    assert doc["canonical_url"] == STORY.canonical_url
    assert doc["feed_url"] == STORY.feed_url
    assert doc["outlet"] == "Northern Ledger"
    assert doc["title"] == STORY.title
    assert doc["text"] == STORY.text
    assert doc["summary"] == STORY.summary
    assert doc["authors"] == ["Anna Kowalska", "Mark Jensen"]
    assert doc["published"] == "2026-11-20T08:15:00+00:00"
    assert doc["fetched_at"] == "2026-11-20T08:20:00+00:00"
    assert doc["indexed_at"] == "2026-11-20T08:21:00+00:00"
    assert doc["language"] == "en"
    assert doc["raw_key"] == "f" * 64
    assert doc["pipeline_version"] == PIPELINE_VERSION
    assert "extraction_skipped" not in doc


def test_story_document_entities_by_type(doc: dict[str, Any]) -> None:
    assert doc["entities"] == {
        "person": ["Dmitry Peskov", "Vladimir Putin"],
        "org": ["NATO", "Kremlin"],
        "place": ["Russia", "Lithuania", "Russian Federation"],
        "ids": ["Q7184", "Q159", "Q7747", "Q37"],
    }


def test_story_document_cluster_claims_topic(doc: dict[str, Any]) -> None:
    assert doc["cluster"] == {
        "id": DUP.cluster_id, "canonical": False, "text_hash": DUP.text_hash, "match": "near",
        "matched_story_id": DUP.cluster_id, "similarity": 0.91, "wire": "Reuters",
        "changes": {"added": ["Local intro."], "removed": [], "changed": []},
    }
    assert doc["claims"] == [
        {
            "speaker": "Dmitry Peskov",
            "speaker_id": None,
            "cue": "said",
            "kind": "reported",
            "text": "that the drill was a provocation",
            "key": doc["claims"][0]["key"],
            "start": 40,
            "end": 72,
        }
    ]
    assert doc["claims"][0]["key"].startswith("dmitry peskov|")
    assert doc["speakers"] == ["Dmitry Peskov"]
    assert doc["topic"] == {"score": 0.8051, "reasons": ["term:nato", "entity:Q7184:NATO"]}


def test_story_document_is_json_and_deterministic(doc: dict[str, Any]) -> None:
    again = story_document(STORY, DUP, EXTRACTION, indexed_at="2026-11-20T08:21:00+00:00")
    assert json.loads(json.dumps(doc)) == again


def test_story_document_for_skipped_extraction() -> None:
    skipped = Extraction(story_id=STORY.story_id, skipped="language de not supported")
    doc = story_document(STORY, DUP, skipped, indexed_at="2026-11-20T08:21:00+00:00")
    assert doc["extraction_skipped"] == "language de not supported"
    assert doc["entities"] == {"person": [], "org": [], "place": [], "ids": []}
    assert doc["claims"] == []
    assert doc["topic"] == {"score": 0.0, "reasons": []}


# --- search_request ---------------------------------------------------------------------------------


def _bool(body: dict[str, Any]) -> dict[str, Any]:
    query = body["query"]
    return (query["function_score"]["query"] if "function_score" in query else query)["bool"]


def _must(body: dict[str, Any]) -> list[dict[str, Any]]:
    return _bool(body)["must"]


def _filters(body: dict[str, Any]) -> list[dict[str, Any]]:
    return _bool(body)["filter"]


def test_text_query_uses_simple_query_string() -> None:
    body = search_request(SearchQuery(text="NATO Kaliningrad", size=7))
    (must,) = _must(body)
    text_query, claims_query = must["bool"]["should"]
    assert must["bool"]["minimum_should_match"] == 1
    assert claims_query["nested"]["path"] == "claims"
    assert claims_query["nested"]["query"]["simple_query_string"]["fields"] == ["claims.text"]
    sqs = text_query["simple_query_string"]
    assert sqs["query"] == "NATO Kaliningrad"
    assert sqs["default_operator"] == "and"
    assert sqs["fields"] == ["title^3", "summary^2", "text"]
    assert not any("english" in f for f in sqs["fields"])
    assert body["size"] == 7
    assert body["track_total_hits"] is True
    assert _filters(body) == []
    assert body["highlight"]["fields"]["text"]["number_of_fragments"] == 1
    assert body["highlight"]["pre_tags"] == ["<mark>"]
    assert "encoder" not in body["highlight"]  # plain text around the marks: no entities in JSON


def test_english_fields_only_when_asked() -> None:
    fields = _must(search_request(SearchQuery(text="drills"), english=True))[0]["bool"]["should"][0][
        "simple_query_string"
    ]["fields"]
    assert "title.english^2" in fields and "text.english" in fields
    assert {"title^3", "summary^2", "text"} <= set(fields)


def test_empty_text_matches_all_and_relevance_is_the_topic_score() -> None:
    for text in ("", "   "):
        body = search_request(SearchQuery(text=text))
        assert _must(body) == [{"match_all": {}}]
        assert "function_score" not in body["query"]
        assert body["sort"] == [
            {"topic.score": {"order": "desc"}},
            {"published": {"order": "desc", "missing": "_last"}},
        ]
        newest = search_request(SearchQuery(text=text, sort="newest"))
        assert newest["sort"][0] == {"published": {"order": "desc", "missing": "_last"}}


def test_text_relevance_is_multiplied_by_one_plus_the_topic_score() -> None:
    score = search_request(SearchQuery(text="NATO"))["query"]["function_score"]
    assert score["functions"] == [{"weight": 1}, {"field_value_factor": {"field": "topic.score", "missing": 0}}]
    assert (score["score_mode"], score["boost_mode"]) == ("sum", "multiply")


def test_facets_count_clusters_when_collapsed() -> None:
    aggs = search_request(SearchQuery(facets=True))["aggs"]
    for name in ("facet_person", "facet_outlet", "histogram"):
        assert aggs[name]["aggs"] == {"clusters": {"cardinality": {"field": "cluster.id"}}}, name
    assert aggs["facet_outlet"]["terms"]["order"] == [{"clusters": "desc"}, {"_key": "asc"}]
    every = search_request(SearchQuery(facets=True, collapse=False))["aggs"]
    assert "aggs" not in every["facet_outlet"] and "aggs" not in every["histogram"]


def test_facet_counts_read_clusters_when_present() -> None:
    response = {
        "hits": {"total": {"value": 3}, "hits": []},
        "aggregations": {
            "clusters": {"value": 2},
            "facet_outlet": {"buckets": [{"key": "Harbour Herald", "doc_count": 3, "clusters": {"value": 2}}]},
            "histogram": {"buckets": [{"key_as_string": "2026-11-20", "doc_count": 3, "clusters": {"value": 2}}]},
        },
    }
    result = search_result(response, SearchQuery(facets=True))
    assert result.total == 2
    assert [(v.value, v.count) for v in result.facets["outlet"]] == [("Harbour Herald", 2)]
    assert [(v.value, v.count) for v in result.histogram] == [("2026-11-20", 2)]


def test_sort_relevance_and_newest() -> None:
    relevance = search_request(SearchQuery(text="NATO"))
    assert relevance["sort"][0] == "_score"
    newest = search_request(SearchQuery(text="NATO", sort="newest"))
    assert newest["sort"][0] == {"published": {"order": "desc", "missing": "_last"}}


def test_collapse_on_cluster() -> None:
    body = search_request(SearchQuery(text="NATO", collapse=True))
    assert body["collapse"]["field"] == "cluster.id"
    inner = body["collapse"]["inner_hits"]
    assert inner["name"] == "sources"
    assert set(inner["_source"]) >= {"story_id", "outlet", "url", "published"}
    assert body["aggs"] == {"clusters": {"cardinality": {"field": "cluster.id"}}}
    assert {"cluster.id", "cluster.wire"} <= set(body["_source"])


def test_no_collapse_when_not_asked() -> None:
    body = search_request(SearchQuery(text="NATO", collapse=False))
    assert "collapse" not in body
    assert "aggs" not in body


def _entity_clauses(value: str) -> list[dict[str, Any]]:
    (flt,) = _filters(search_request(SearchQuery(entity=value)))
    assert flt["bool"]["minimum_should_match"] == 1
    return flt["bool"]["should"]


def test_entity_filter_covers_ids_and_every_name_type() -> None:
    should = _entity_clauses("Q7184")
    fields = {next(iter(c["term"])) for c in should}
    assert fields == {"entities.ids", "entities.person", "entities.org", "entities.place"}
    for clause in should:
        (field, spec) = next(iter(clause["term"].items()))
        value = spec["value"] if isinstance(spec, dict) else spec
        assert value == "Q7184", field
    names = [c["term"][f] for c in should for f in c["term"] if f != "entities.ids"]
    assert all(n == {"value": "Q7184", "case_insensitive": True} for n in names)


def test_entity_filter_is_case_insensitive_for_ids_too() -> None:
    for clause in _entity_clauses("q7184"):
        spec = next(iter(clause["term"].values()))
        assert isinstance(spec, dict) and spec.get("case_insensitive") is True, clause


def test_outlet_and_date_filters() -> None:
    body = search_request(
        SearchQuery(text="NATO", outlet="northern ledger", date_from="2026-11-19", date_to="2026-11-20")
    )
    outlet, dates = _filters(body)
    assert outlet == {"term": {"outlet": {"value": "northern ledger", "case_insensitive": True}}}
    assert dates == {
        "range": {"published": {"gte": "2026-11-19T00:00:00+00:00", "lte": "2026-11-20T23:59:59+00:00"}}
    }


def test_only_one_date_bound() -> None:
    (flt,) = _filters(search_request(SearchQuery(date_to="2026-11-20")))
    assert flt == {"range": {"published": {"lte": "2026-11-20T23:59:59+00:00"}}}
    (flt,) = _filters(search_request(SearchQuery(date_from="2026-11-20T10:00:00+02:00")))
    assert flt == {"range": {"published": {"gte": "2026-11-20T08:00:00+00:00"}}}


@pytest.mark.parametrize(
    ("value", "end", "expected"),
    [
        ("2026-11-20", True, "2026-11-20T23:59:59+00:00"),
        ("2026-11-20", False, "2026-11-20T00:00:00+00:00"),
        ("2026-11-20T10:15:00+02:00", True, "2026-11-20T08:15:00+00:00"),
        ("2026-11-20T10:15:00Z", False, "2026-11-20T10:15:00+00:00"),
        ("2026-11-20T10:15:00", False, "2026-11-20T10:15:00+00:00"),
        ("2026-11-20T00:30:00-05:00", False, "2026-11-20T05:30:00+00:00"),
    ],
)
def test_date_bound(value: str, end: bool, expected: str) -> None:
    assert date_bound(value, end) == expected


# --- search_result -----------------------------------------------------------------------------------

RESPONSE: dict[str, Any] = {
    "took": 4,
    "timed_out": False,
    "hits": {
        "total": {"value": 5, "relation": "eq"},
        "max_score": 7.25,
        "hits": [
            {
                "_index": "wirewatch-stories-v1",
                "_id": "s1",
                "_score": 7.25,
                "_source": {
                    "story_id": "s1",
                    "title": "NATO begins Baltic drill",
                    "outlet": "Northern Ledger",
                    "url": "https://www.northernledger.example/world/nato-drill",
                    "published": "2026-11-20T08:15:00+00:00",
                    "cluster": {"id": "s0"},
                    "topic": {"score": 0.81},
                },
                "highlight": {"text": ["<mark>NATO</mark> began a two-week exercise & more"]},
                "inner_hits": {
                    "sources": {
                        "hits": {
                            "total": {"value": 2, "relation": "eq"},
                            "hits": [
                                {
                                    "_id": "s0",
                                    "_source": {
                                        "story_id": "s0",
                                        "outlet": "Harbour Wire",
                                        "url": "https://harbourwire.example/nato-drill",
                                        "published": "2026-11-20T08:01:00+00:00",
                                    },
                                },
                                {
                                    "_id": "s1",
                                    "_source": {
                                        "story_id": "s1",
                                        "outlet": "Northern Ledger",
                                        "url": "https://www.northernledger.example/world/nato-drill",
                                    },
                                },
                            ],
                        }
                    }
                },
            },
            {
                "_index": "wirewatch-stories-v1",
                "_id": "s9",
                "_score": 3.5,
                "_source": {
                    "story_id": "s9",
                    "title": "Kremlin warns of response",
                    "outlet": "Harbour Wire",
                    "url": "https://harbourwire.example/kremlin",
                    "cluster": {"id": "s9"},
                    "topic": {"score": 0.4},
                },
            },
        ],
    },
    "aggregations": {"clusters": {"value": 3}},
}


def test_search_result_parses_hits_sources_and_total() -> None:
    result = search_result(RESPONSE, SearchQuery(text="NATO"))
    assert isinstance(result, SearchResult)
    assert result.total == 3  # clusters, not stories
    first, second = result.hits
    assert first.story_id == "s1"
    assert first.title == "NATO begins Baltic drill"
    assert first.outlet == "Northern Ledger"
    assert first.url == "https://www.northernledger.example/world/nato-drill"
    assert first.published == "2026-11-20T08:15:00+00:00"
    assert first.snippet == "<mark>NATO</mark> began a two-week exercise & more…"  # cut mid-sentence
    assert first.score == 7.25
    assert first.cluster_id == "s0"
    assert first.topic_score == 0.81
    assert first.sources == (
        Source("s0", "Harbour Wire", "https://harbourwire.example/nato-drill", "2026-11-20T08:01:00+00:00"),
        Source("s1", "Northern Ledger", "https://www.northernledger.example/world/nato-drill", None),
    )
    assert second.story_id == "s9"
    assert second.published is None
    assert second.snippet == ""
    assert second.sources == ()
    assert second.topic_score == 0.4


def test_search_result_total_from_hits_without_collapse() -> None:
    result = search_result(RESPONSE, SearchQuery(text="NATO", collapse=False))
    assert result.total == 5
    without_aggs = {k: v for k, v in RESPONSE.items() if k != "aggregations"}
    assert search_result(without_aggs, SearchQuery(text="NATO")).total == 5


def test_search_result_empty() -> None:
    empty = {
        "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []},
        "aggregations": {"clusters": {"value": 0}},
    }
    assert search_result(empty, SearchQuery(text="zzz")) == SearchResult(total=0, hits=())


def test_document_round_trips_to_its_stage_results(doc: dict[str, Any]) -> None:
    from pipeline.index import story_from_document

    story, dup, extraction = story_from_document(doc)
    again = story_document(story, dup, extraction, indexed_at=doc["indexed_at"])
    assert again == doc


def test_split_quotation_is_indexed_whole() -> None:
    from pipeline.claims import quotation

    text = '"We are ready," Lopez said, "and we will act."'
    claim = Claim("Lopez", "said", "direct", "We are ready", 1, 13, parts=((29, 45),))
    assert quotation(claim, text) == "We are ready … and we will act."
    assert quotation(Claim("Lopez", "said", "direct", "We are ready", 1, 13), text) == "We are ready"
