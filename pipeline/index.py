"""Index stage logic: the story document, and search requests and answers for Elasticsearch."""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pipeline.models import (
    PIPELINE_VERSION,
    CleanStory,
    DedupeResult,
    Extraction,
    SearchHit,
    SearchQuery,
    SearchResult,
    Source,
)

MARK_PRE, MARK_POST = "<mark>", "</mark>"
SNIPPET_CHARS = 200
SOURCE_FIELDS = ["story_id", "title", "outlet", "url", "published", "cluster", "topic"]


def story_document(
    story: CleanStory, dup: DedupeResult, extraction: Extraction, indexed_at: str
) -> dict[str, Any]:
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
        "cluster": {"id": dup.cluster_id, "canonical": dup.is_canonical, "text_hash": dup.text_hash},
        "entities": {**by_type, "ids": ids},
        "claims": [
            {
                "speaker": c.speaker,
                "speaker_id": c.speaker_id,
                "cue": c.cue,
                "kind": c.kind,
                "text": c.text,
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


def _filters(query: SearchQuery) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if query.entity:
        value = query.entity
        filters.append(
            {
                "bool": {
                    "minimum_should_match": 1,
                    "should": [
                        {"term": {"entities.ids": {"value": value, "case_insensitive": True}}},
                        *(
                            {"term": {f"entities.{t}": {"value": value, "case_insensitive": True}}}
                            for t in ("person", "org", "place")
                        ),
                    ],
                }
            }
        )
    if query.outlet:
        filters.append({"term": {"outlet": {"value": query.outlet, "case_insensitive": True}}})
    if query.date_from or query.date_to:
        bounds = {
            k: date_bound(v, k == "lte") for k, v in (("gte", query.date_from), ("lte", query.date_to)) if v
        }
        filters.append({"range": {"published": bounds}})
    return filters


def search_request(query: SearchQuery, english: bool = False) -> dict[str, Any]:
    """The Elasticsearch search body for a query; ``english`` when the mapping has those sub-fields."""
    fields = ["title^3", "summary^2", "text"]
    if english:
        fields += ["title.english^2", "text.english"]
    must: list[dict[str, Any]] = []
    if query.text.strip():
        must.append(
            {"simple_query_string": {"query": query.text, "fields": fields, "default_operator": "and"}}
        )
    body: dict[str, Any] = {
        "size": query.size,
        "track_total_hits": True,
        "query": {"bool": {"must": must or [{"match_all": {}}], "filter": _filters(query)}},
        "highlight": {
            "encoder": "html",
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
    if query.sort == "newest" or not query.text.strip():
        body["sort"] = [{"published": {"order": "desc", "missing": "_last"}}, "_score"]
    else:
        body["sort"] = ["_score", {"published": {"order": "desc", "missing": "_last"}}]
    if query.collapse:
        body["collapse"] = {
            "field": "cluster.id",
            "inner_hits": {
                "name": "sources",
                "size": 50,
                "_source": ["story_id", "outlet", "url", "published"],
                "sort": [{"published": {"order": "asc", "missing": "_last"}}],
            },
        }
        body["aggs"] = {"clusters": {"cardinality": {"field": "cluster.id"}}}
    return body


def plain_snippet(text: str, chars: int = SNIPPET_CHARS) -> str:
    cut = text[:chars]
    return html.escape(cut.rsplit(" ", 1)[0] if len(text) > chars else cut)


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
                )
                for s in inner["hits"]["hits"]
            )
        hits.append(
            SearchHit(
                story_id=src["story_id"],
                title=src["title"],
                outlet=src["outlet"],
                url=src["url"],
                published=src.get("published"),
                snippet=fragments[0] if fragments else "",
                score=raw.get("_score"),
                cluster_id=src.get("cluster", {}).get("id"),
                sources=sources,
                topic_score=float(src.get("topic", {}).get("score", 0.0)),
            )
        )
    if query.collapse and "aggregations" in response:
        total = int(response["aggregations"]["clusters"]["value"])
    else:
        total = int(response["hits"]["total"]["value"])
    return SearchResult(total=total, hits=tuple(hits))
