"""The Kibana saved objects against the real index mapping on a real Elasticsearch.

Every field a saved object uses must exist in the mapping with a type that use allows, outside the
nested claims; and the requests Kibana builds from the objects (aggregations, sorts, simple KQL) must
run on the server.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.index import story_document
from pipeline.models import Claim, CleanStory, DedupeResult, Entity, Extraction
from workers.kibana import field_uses, kql_fields, load_saved_objects

REPO = Path(__file__).resolve().parents[2]
NDJSON = REPO / "config" / "kibana" / "saved_objects.ndjson"

NUMERIC = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"}
DATES = {"date", "date_nanos"}
# What Kibana can aggregate and sort on: doc values, no text analysis.
AGGREGATABLE = NUMERIC | DATES | {"keyword", "constant_keyword", "boolean", "ip", "version"}
ALLOWED = {
    "terms": AGGREGATABLE,
    "sort": AGGREGATABLE,
    "date_histogram": DATES,
    "time_field": DATES,
    "range": NUMERIC | DATES,
}


@dataclass(frozen=True)
class MappedField:
    path: str
    type: str
    nested_under: str | None  # the nested object the field lives in, if any
    indexed: bool
    doc_values: bool


def flatten_mapping(
    properties: Mapping[str, Any], prefix: str = "", nested_under: str | None = None
) -> dict[str, MappedField]:
    """Field paths (``title.keyword`` multi-fields included) with their types, from a mapping's properties."""
    out: dict[str, MappedField] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        kind = spec.get("type", "object")
        out[path] = MappedField(
            path, kind, nested_under, spec.get("index", True), spec.get("doc_values", kind != "text")
        )
        if "properties" in spec:
            inner_nested = path if kind == "nested" else nested_under
            out.update(flatten_mapping(spec["properties"], f"{path}.", inner_nested))
        for sub, sub_spec in (spec.get("fields") or {}).items():
            sub_kind = sub_spec.get("type", "object")
            out[f"{path}.{sub}"] = MappedField(
                f"{path}.{sub}",
                sub_kind,
                nested_under,
                sub_spec.get("index", True),
                sub_spec.get("doc_values", sub_kind != "text"),
            )
    return out


@pytest.fixture
def es_index(es_url: str, es_prefix: str) -> Iterator[Any]:
    from workers.adapters.elasticsearch_index import ElasticsearchIndex, make_client

    client = make_client(es_url)
    index = ElasticsearchIndex(client, REPO / "config" / "index-template.json", es_prefix)
    index.ensure_ready()
    yield index
    client.close()


@pytest.fixture
def mapping(es_index: Any) -> dict[str, MappedField]:
    raw = es_index._es.indices.get_mapping(index=es_index.read_alias).body
    (only,) = raw.values()  # the alias points at exactly one versioned index
    return flatten_mapping(only["mappings"]["properties"])


@pytest.fixture
def objects(es_prefix: str) -> list[dict[str, Any]]:
    return load_saved_objects(NDJSON, es_prefix)


def problems_with(field: str, uses: set[str], mapping: Mapping[str, MappedField]) -> list[str]:
    found = mapping.get(field)
    if found is None:
        return [f"{field}: not in the mapping"]
    out = []
    if found.nested_under or found.type == "nested":
        out.append(f"{field}: inside nested {found.nested_under or field} (Kibana cannot aggregate or sort it)")
    if found.type == "object":
        out.append(f"{field}: an object, not a field")
    for use in sorted(uses):
        allowed = ALLOWED.get(use, AGGREGATABLE if use.startswith("agg:") else None)
        if allowed is not None and found.type not in allowed:
            out.append(f"{field}: {use} needs one of {sorted(allowed)}, the mapping has {found.type}")
        if use in ("terms", "sort", "date_histogram") or use.startswith("agg:"):
            if not found.doc_values:
                out.append(f"{field}: {use} needs doc values")
        if use in ("match", "exists", "range") and not found.indexed:
            out.append(f"{field}: {use} needs an indexed field")
    return out


def test_every_field_used_exists_with_a_usable_type(
    objects: list[dict[str, Any]], mapping: dict[str, MappedField]
) -> None:
    uses = field_uses(objects)
    assert any(uses.values()), "no fields found: the field finder is broken"
    problems = [
        f"{oid}: {problem}"
        for oid, fields in uses.items()
        for field, how in fields.items()
        for problem in problems_with(field, how, mapping)
    ]
    assert not problems, "\n".join(problems)


def test_the_data_view_is_the_read_alias_with_a_date_time_field(
    objects: list[dict[str, Any]], mapping: dict[str, MappedField], es_index: Any, es_prefix: str
) -> None:
    (view,) = [o for o in objects if o["type"] == "index-pattern"]
    assert view["attributes"]["title"] == es_prefix == es_index.read_alias
    assert es_index._es.indices.exists_alias(name=view["attributes"]["title"])
    time_field = view["attributes"]["timeFieldName"]
    assert mapping[time_field].type in DATES


def test_the_checker_catches_bad_fields(mapping: dict[str, MappedField]) -> None:
    """The rules above would fail the objects if they aggregated text or nested fields."""
    assert problems_with("title", {"terms"}, mapping)  # text
    assert not problems_with("title.keyword", {"terms"}, mapping)  # its keyword multi-field
    assert problems_with("claims.speaker", {"terms"}, mapping)  # nested
    assert problems_with("outlet", {"date_histogram"}, mapping)
    assert problems_with("outlet", {"range"}, mapping)
    assert problems_with("no.such.field", {"column"}, mapping)
    assert problems_with("raw_key", {"exists"}, mapping)  # not indexed
    assert mapping["claims"].type == "nested"


# --- the requests Kibana would send, run on the server ------------------------------------------


def make_story(sid: str, published: str, outlet: str, score: float, speaker: str | None) -> dict[str, Any]:
    story = CleanStory(
        story_id=sid,
        url=f"https://news.example/{sid}",
        canonical_url=f"https://news.example/{sid}",
        feed_url="https://news.example/feed",
        outlet=outlet,
        title=f"Story {sid}",
        text="NATO said Russia moved troops near Kaliningrad.",
        published=published,
        language="en",
        fetched_at=published,
    )
    claims = (
        (Claim(speaker=speaker, cue="said", kind="direct", text="We are ready.", start=0, end=13),) if speaker else ()
    )
    extraction = Extraction(
        sid,
        entities=(Entity("Dmitry Peskov", "person"), Entity("NATO", "org", "Q7184")),
        claims=claims,
        topic_score=score,
    )
    return story_document(story, DedupeResult(sid, "h" + sid, sid, True), extraction, indexed_at=published)


def kql_to_es(query: str) -> dict[str, Any]:
    """The few KQL forms the shipped objects use, as Elasticsearch queries (what Kibana sends)."""
    clauses: list[dict[str, Any]] = []
    for field, uses in kql_fields(query).items():
        if uses == {"exists"}:
            clauses.append({"exists": {"field": field}})
        elif uses == {"range"}:
            op, value = query.split(field, 1)[1].split()[:2]
            key = {">=": "gte", ">": "gt", "<=": "lte", "<": "lt"}[op]
            clauses.append({"range": {field: {key: value}}})
        else:
            raise AssertionError(f"extend kql_to_es for {field} {uses} in {query!r}")
    return {"bool": {"filter": clauses}} if clauses else {"match_all": {}}


def aggs_of(vis: dict[str, Any]) -> dict[str, Any]:
    import json

    state = json.loads(vis["attributes"]["visState"])
    aggs: dict[str, Any] = {}
    for agg in state["aggs"]:
        params = agg["params"]
        if agg["type"] == "terms":
            aggs[agg["id"]] = {"terms": {"field": params["field"], "size": params["size"], "order": {"_count": "desc"}}}
        elif agg["type"] == "date_histogram":
            aggs[agg["id"]] = {
                "date_histogram": {"field": params["field"], "calendar_interval": "1d", "min_doc_count": 1}
            }
        elif agg["type"] != "count":
            raise AssertionError(f"extend aggs_of for {agg['type']}")
    return aggs


def source_query(obj: dict[str, Any]) -> str:
    import json

    text: str = json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
    return text


def test_kibanas_requests_run_on_the_real_index(objects: list[dict[str, Any]], es_index: Any) -> None:
    es_index.put_many(
        [
            make_story("a1", "2026-11-20T08:00:00+00:00", "Harbour Herald", 0.8, "Dmitry Peskov"),
            make_story("a2", "2026-11-21T09:00:00+00:00", "Baltic Wire", 0.5, "Mark Rutte"),
            make_story("a3", "2026-11-21T10:00:00+00:00", "Baltic Wire", 0.1, None),
        ]
    )
    es_index.refresh()
    es = es_index._es
    alias = es_index.read_alias
    by_title = {o["attributes"]["title"]: o for o in objects}

    # The dashboard's own query narrows every panel.
    dashboard_filter = kql_to_es(source_query(by_title["wirewatch — Russia–NATO"]))
    assert es.count(index=alias, query=dashboard_filter)["count"] == 2

    for obj in objects:
        if obj["type"] == "visualization":
            response = es.search(index=alias, size=0, query=dashboard_filter, aggs=aggs_of(obj))
            (buckets,) = [a["buckets"] for a in response["aggregations"].values()]
            assert buckets, f"{obj['attributes']['title']}: no buckets"
        elif obj["type"] == "search":
            sort = [{f: {"order": d}} for f, d in obj["attributes"]["sort"]]
            hits = es.search(index=alias, query=kql_to_es(source_query(obj)), sort=sort)["hits"]["hits"]
            assert hits, f"{obj['attributes']['title']}: no hits"
            for column in obj["attributes"]["columns"]:
                value: Any = hits[0]["_source"]
                for part in column.split("."):
                    value = value[part]
                assert value not in (None, [], ""), f"{obj['attributes']['title']}: empty column {column}"

    latest = by_title["Latest claims"]
    ids = [
        h["_id"]
        for h in es.search(index=alias, query=kql_to_es(source_query(latest)), sort=[{"published": "desc"}])["hits"][
            "hits"
        ]
    ]
    assert ids == ["a2", "a1"]
    speakers = es.search(index=alias, size=0, aggs=aggs_of(by_title["wirewatch — top speakers"]))
    assert {b["key"] for b in speakers["aggregations"]["2"]["buckets"]} == {"Dmitry Peskov", "Mark Rutte"}
