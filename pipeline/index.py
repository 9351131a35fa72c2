"""Index stage logic: the story document, and search requests and answers for Elasticsearch."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pipeline.claims import claim_key, quotation
from pipeline.models import (
    PIPELINE_VERSION,
    Claim,
    ClaimHit,
    ClaimQuery,
    ClaimResult,
    ClaimView,
    CleanStory,
    DedupeResult,
    Entity,
    Extraction,
    FacetValue,
    SearchHit,
    SearchQuery,
    SearchResult,
    Source,
)

MARK_PRE, MARK_POST = "<mark>", "</mark>"
SNIPPET_CHARS = 200
SOURCE_FIELDS = [
    "story_id",
    "title",
    "outlet",
    "url",
    "published",
    "cluster.id",
    "cluster.wire",
    "topic.score",
    "language",
    "claims.speaker",
    "claims.speaker_id",
    "claims.cue",
    "claims.kind",
    "claims.text",
]


def story_document(story: CleanStory, dup: DedupeResult, extraction: Extraction, indexed_at: str) -> dict[str, Any]:
    """The one document a story becomes in the index."""
    by_type: dict[str, list[str]] = {"person": [], "org": [], "place": []}
    ids: list[str] = []
    for ent in extraction.entities:
        if ent.name not in by_type[ent.type]:
            by_type[ent.type].append(ent.name)
        if ent.id and ent.id not in ids:
            ids.append(ent.id)
    doc: dict[str, Any] = {
        "story_id": story.story_id,
        "url": story.url,
        "canonical_url": story.canonical_url,
        "feed_url": story.feed_url,
        "outlet": story.outlet,
        "title": story.title,
        "text": story.text,
        "summary": story.summary,
        "authors": list(story.authors),
        "published": story.published,
        "updated": story.updated,
        "fetched_at": story.fetched_at,
        "indexed_at": indexed_at,
        "language": story.language,
        "language_confidence": story.language_confidence,
        "dateline": story.dateline,
        "credit": story.credit,
        "raw_key": story.raw_key,
        "pipeline_version": PIPELINE_VERSION,
        "cluster": {
            "id": dup.cluster_id,
            "canonical": dup.is_canonical,
            "text_hash": dup.text_hash,
            "match": dup.match,
            "matched_story_id": dup.matched_story_id,
            "similarity": dup.similarity,
            "wire": dup.wire,
            "changes": dup.changes,
        },
        "entities": {**by_type, "ids": ids},
        # The full list (with ids and counts) is stored, not indexed, so a document can be rebuilt.
        "entity_details": [dataclasses.asdict(e) for e in extraction.entities],
        "claims": [
            {
                "speaker": c.speaker,
                "speaker_id": c.speaker_id,
                "cue": c.cue,
                "kind": c.kind,
                "text": quotation(c, story.text),  # a split quote's parts joined: one claim, read whole
                "key": claim_key(c),
                "start": c.start,
                "end": c.end,
            }
            for c in extraction.claims
        ],
        # Top-level copies of the claims' speakers: Kibana cannot aggregate inside nested fields.
        "speakers": list(dict.fromkeys(c.speaker for c in extraction.claims)),
        "speaker_ids": list(dict.fromkeys(c.speaker_id for c in extraction.claims if c.speaker_id)),
        "topic": {"score": extraction.topic_score, "reasons": list(extraction.topic_reasons)},
    }
    if extraction.skipped:
        doc["extraction_skipped"] = extraction.skipped
    return doc


def date_bound(value: str, end: bool) -> str:
    """A query date as UTC ISO seconds; a bare date covers its whole day."""
    if len(value) == 10:
        value += "T23:59:59+00:00" if end else "T00:00:00+00:00"
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="seconds")


def _ci_term(field: str, value: str) -> dict[str, Any]:
    return {"term": {field: {"value": value, "case_insensitive": True}}}


def _any_of(*clauses: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"should": list(clauses), "minimum_should_match": 1}}


def _date_range(date_from: str | None, date_to: str | None) -> list[dict[str, Any]]:
    if not (date_from or date_to):
        return []
    bounds = {k: date_bound(v, k == "lte") for k, v in (("gte", date_from), ("lte", date_to)) if v}
    return [{"range": {"published": bounds}}]


def _filters(query: SearchQuery) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if query.entity:
        filters.append(_any_of(*(_ci_term(f"entities.{t}", query.entity) for t in ("ids", "person", "org", "place"))))
    if query.speaker:
        filters.append(_any_of(_ci_term("speakers", query.speaker), _ci_term("speaker_ids", query.speaker)))
    if query.outlet:
        filters.append(_ci_term("outlet", query.outlet))
    if query.language:
        filters.append(_ci_term("language", query.language))
    if query.min_topic is not None:
        filters.append({"range": {"topic.score": {"gte": query.min_topic}}})
    if query.cluster:
        filters.append({"term": {"cluster.id": query.cluster}})
    if query.feed:
        filters.append({"term": {"feed_url": query.feed}})
    if query.ids:
        filters.append({"ids": {"values": list(query.ids)}})
    return filters + _date_range(query.date_from, query.date_to)


def selection_request(query: SearchQuery, after: str | None, size: int) -> dict[str, Any]:
    """A page of whole documents matching the query's text and filters, in story id order (resumable)."""
    body = search_request(replace(query, collapse=False, facets=False, sort="newest"))
    request: dict[str, Any] = {"size": size, "query": body["query"], "sort": [{"story_id": "asc"}],
                               "track_total_hits": False}
    if after is not None:
        request["search_after"] = [after]
    return request


def story_from_document(doc: Mapping[str, Any]) -> tuple[CleanStory, DedupeResult, Extraction]:
    """The stage results a document was made from (the inverse of ``story_document``)."""
    story = CleanStory(
        story_id=doc["story_id"], url=doc["url"], canonical_url=doc.get("canonical_url") or doc["url"],
        feed_url=doc.get("feed_url", ""), outlet=doc["outlet"], title=doc["title"], text=doc["text"],
        summary=doc.get("summary", ""), authors=tuple(doc.get("authors", ())), published=doc.get("published"),
        updated=doc.get("updated"), language=doc.get("language", "und"),
        language_confidence=float(doc.get("language_confidence", 0.0)), dateline=doc.get("dateline", ""),
        credit=doc.get("credit", ""), fetched_at=doc.get("fetched_at"), raw_key=doc.get("raw_key", ""),
    )
    cluster = doc["cluster"]
    dup = DedupeResult(
        story_id=doc["story_id"], text_hash=cluster.get("text_hash", ""), cluster_id=cluster["id"],
        is_canonical=bool(cluster.get("canonical")), match=cluster.get("match", "new"),
        matched_story_id=cluster.get("matched_story_id"), similarity=float(cluster.get("similarity", 1.0)),
        wire=cluster.get("wire", ""), changes=cluster.get("changes"),
    )
    if "entity_details" in doc:
        entities = tuple(Entity(**e) for e in doc["entity_details"])
    else:
        entities = tuple(Entity(name, kind) for kind in ("person", "org", "place")
                         for name in doc.get("entities", {}).get(kind, []))
    extraction = Extraction(
        story_id=doc["story_id"], entities=entities,
        claims=tuple(Claim(c["speaker"], c["cue"], c["kind"], c["text"], int(c["start"]), int(c["end"]),
                           c.get("speaker_id")) for c in doc.get("claims", [])),
        topic_score=float(doc.get("topic", {}).get("score", 0.0)),
        topic_reasons=tuple(doc.get("topic", {}).get("reasons", [])),
        skipped=doc.get("extraction_skipped"),
    )
    return story, dup, extraction


FACET_FIELDS = {
    "person": "entities.person",
    "org": "entities.org",
    "place": "entities.place",
    "speaker": "speakers",
    "outlet": "outlet",
}
FACET_SIZE = 10


def search_request(query: SearchQuery, english: bool = False) -> dict[str, Any]:
    """The Elasticsearch search body for a query; ``english`` when the mapping has those sub-fields."""
    fields = ["title^3", "summary^2", "text"]
    if english:
        fields += ["title.english^2", "text.english"]
    must: list[dict[str, Any]] = []
    if query.text.strip():
        text_query = {"simple_query_string": {"query": query.text, "fields": fields, "default_operator": "and"}}
        claim_query = {
            "nested": {
                "path": "claims",
                "score_mode": "max",
                "query": {
                    "simple_query_string": {
                        "query": query.text,
                        "fields": ["claims.text"],
                        "default_operator": "and",
                    }
                },
            }
        }
        must.append(_any_of(text_query, claim_query))
    matching: dict[str, Any] = {"bool": {"must": must or [{"match_all": {}}], "filter": _filters(query)}}
    if must:
        # Relevance weighs the topic: text score times (1 + topic score), so on-topic stories rise.
        matching = {
            "function_score": {
                "query": matching,
                "functions": [{"weight": 1}, {"field_value_factor": {"field": "topic.score", "missing": 0}}],
                "score_mode": "sum",
                "boost_mode": "multiply",
            }
        }
    body: dict[str, Any] = {
        "size": query.size,
        "from": query.offset,
        "track_total_hits": True,
        "query": matching,
        "highlight": {
            # Plain text around the marks: JSON carries no HTML entities; the page adds text nodes, not HTML.
            "pre_tags": [MARK_PRE],
            "post_tags": [MARK_POST],
            "fields": {
                "text": {
                    "fragment_size": SNIPPET_CHARS,
                    "number_of_fragments": 1,
                    "no_match_size": SNIPPET_CHARS,
                }
            },
        },
        "_source": SOURCE_FIELDS,
    }
    if query.sort == "newest":
        body["sort"] = [{"published": {"order": "desc", "missing": "_last"}}, "_score"]
    elif not query.text.strip():
        body["sort"] = [{"topic.score": {"order": "desc"}}, {"published": {"order": "desc", "missing": "_last"}}]
    else:
        body["sort"] = ["_score", {"published": {"order": "desc", "missing": "_last"}}]
    aggs: dict[str, Any] = {}
    if query.collapse:
        body["collapse"] = {
            "field": "cluster.id",
            "inner_hits": {
                "name": "sources",
                "size": 50,
                "_source": ["story_id", "outlet", "url", "published", "cluster.match", "cluster.similarity"],
                "sort": [{"published": {"order": "asc", "missing": "_last"}}],
            },
        }
        aggs["clusters"] = {"cardinality": {"field": "cluster.id"}}
    if query.facets:
        # Counted in stories (clusters) when copies are collapsed, so they agree with the total.
        clusters = {"clusters": {"cardinality": {"field": "cluster.id"}}}
        for name, field in FACET_FIELDS.items():
            terms: dict[str, Any] = {"field": field, "size": FACET_SIZE}
            aggs[f"facet_{name}"] = {"terms": terms}
            if query.collapse:
                terms["order"] = [{"clusters": "desc"}, {"_key": "asc"}]
                aggs[f"facet_{name}"]["aggs"] = clusters
        aggs["histogram"] = {
            "date_histogram": {
                "field": "published",
                "calendar_interval": "day",
                "format": "yyyy-MM-dd",
                "min_doc_count": 1,
            }
        }
        if query.collapse:
            aggs["histogram"]["aggs"] = clusters
    if aggs:
        body["aggs"] = aggs
    return body


def plain_snippet(text: str, chars: int = SNIPPET_CHARS) -> str:
    """The opening of a text as plain text, cut at a word with an ellipsis when there is more."""
    flat = " ".join(text.replace(MARK_PRE, "").replace(MARK_POST, "").split())
    if len(flat) <= chars:
        return flat
    return flat[:chars].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def tidy_snippet(fragment: str, whole_text: bool = False) -> str:
    """A highlighted fragment on one line; an ellipsis where it stops mid-sentence (unless it is the whole text)."""
    flat = " ".join(fragment.split())
    if flat and not whole_text and not flat.endswith(("…", ".", "!", "?", '"', "”", "'", "’")):
        flat += "…"
    return flat


def _bucket_count(bucket: Mapping[str, Any]) -> int:
    return int(bucket["clusters"]["value"]) if "clusters" in bucket else int(bucket["doc_count"])


def claim_views(claims: Any, limit: int = 5) -> tuple[ClaimView, ...]:
    return tuple(
        ClaimView(c["speaker"], c["cue"], c["kind"], c["text"], c.get("speaker_id")) for c in (claims or [])[:limit]
    )


def search_result(response: Mapping[str, Any], query: SearchQuery) -> SearchResult:
    """A search answer from an Elasticsearch response to ``search_request(query)``."""
    hits: list[SearchHit] = []
    for raw in response["hits"]["hits"]:
        src = raw["_source"]
        fragments = raw.get("highlight", {}).get("text") or []
        sources: tuple[Source, ...] = ()
        inner = raw.get("inner_hits", {}).get("sources")
        if inner:
            sources = tuple(
                Source(
                    s["_source"]["story_id"],
                    s["_source"]["outlet"],
                    s["_source"]["url"],
                    s["_source"].get("published"),
                    s["_source"].get("cluster", {}).get("match", "new"),
                    float(s["_source"].get("cluster", {}).get("similarity", 1.0)),
                )
                for s in inner["hits"]["hits"]
            )
        cluster = src.get("cluster", {})
        hits.append(
            SearchHit(
                story_id=src["story_id"],
                title=src["title"],
                outlet=src["outlet"],
                url=src["url"],
                published=src.get("published"),
                snippet=tidy_snippet(fragments[0]) if fragments else "",
                score=raw.get("_score"),
                cluster_id=cluster.get("id"),
                sources=sources,
                topic_score=float(src.get("topic", {}).get("score", 0.0)),
                wire=cluster.get("wire", ""),
                language=src.get("language", ""),
                claims=claim_views(src.get("claims")),
            )
        )
    aggs = response.get("aggregations", {})
    if query.collapse and "clusters" in aggs:
        total = int(aggs["clusters"]["value"])
    else:
        total = int(response["hits"]["total"]["value"])
    facets = {
        name: tuple(FacetValue(str(b["key"]), _bucket_count(b)) for b in aggs[f"facet_{name}"]["buckets"])
        for name in FACET_FIELDS
        if f"facet_{name}" in aggs
    }
    histogram = tuple(
        FacetValue(b["key_as_string"], _bucket_count(b)) for b in aggs.get("histogram", {}).get("buckets", [])
    )
    return SearchResult(total=total, hits=tuple(hits), facets=facets, histogram=histogram)


def _claim_filter(query: ClaimQuery) -> list[dict[str, Any]]:
    inner: list[dict[str, Any]] = []
    if query.speaker:
        inner.append(_any_of(_ci_term("claims.speaker", query.speaker), _ci_term("claims.speaker_id", query.speaker)))
    if query.about.strip():
        inner.append(
            {
                "simple_query_string": {
                    "query": query.about,
                    "fields": ["claims.text"],
                    "default_operator": "and",
                }
            }
        )
    return inner


def claims_request(query: ClaimQuery) -> dict[str, Any]:
    """Distinct claims (same speaker, same words) matching the query, newest first-made first."""
    inner = _claim_filter(query)
    match = {"bool": {"filter": inner}} if inner else {"match_all": {}}
    return {
        "size": 0,
        "query": {
            "bool": {
                "filter": [
                    {"nested": {"path": "claims", "query": match}},
                    *_date_range(query.date_from, query.date_to),
                ]
            }
        },
        "aggs": {
            "claims": {
                "nested": {"path": "claims"},
                "aggs": {
                    "matching": {
                        "filter": match,
                        "aggs": {
                            "distinct": {"cardinality": {"field": "claims.key"}},
                            "by_key": {
                                "terms": {
                                    "field": "claims.key",
                                    "size": query.size,
                                    "order": {"stories>first": "desc"},
                                },
                                "aggs": {
                                    "claim": {
                                        "top_hits": {
                                            "size": 1,
                                            "_source": [
                                                "claims.speaker",
                                                "claims.speaker_id",
                                                "claims.cue",
                                                "claims.kind",
                                                "claims.text",
                                            ],
                                        }
                                    },
                                    "stories": {
                                        "reverse_nested": {},
                                        "aggs": {
                                            "first": {"min": {"field": "published"}},
                                            "outlets": {"cardinality": {"field": "outlet"}},
                                            "earliest": {
                                                "top_hits": {
                                                    "size": 1,
                                                    "_source": ["story_id", "title", "outlet", "published"],
                                                    "sort": [{"published": {"order": "asc", "missing": "_last"}}],
                                                }
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            }
        },
    }


def claims_result(response: Mapping[str, Any]) -> ClaimResult:
    matching = response["aggregations"]["claims"]["matching"]
    hits = []
    for bucket in matching["by_key"]["buckets"]:
        claim = bucket["claim"]["hits"]["hits"][0]["_source"]
        claim = claim.get("claims", claim)
        stories = bucket["stories"]
        first = stories["earliest"]["hits"]["hits"][0]["_source"]
        hits.append(
            ClaimHit(
                key=str(bucket["key"]),
                speaker=claim["speaker"],
                speaker_id=claim.get("speaker_id"),
                cue=claim["cue"],
                kind=claim["kind"],
                text=claim["text"],
                first_story_id=first["story_id"],
                first_title=first["title"],
                first_outlet=first["outlet"],
                first_published=first.get("published"),
                stories=int(stories["doc_count"]),
                outlets=int(stories["outlets"]["value"]),
            )
        )
    return ClaimResult(total=int(matching["distinct"]["value"]), hits=tuple(hits))
