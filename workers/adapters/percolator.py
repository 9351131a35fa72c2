"""Which watches match a batch of documents: the Elasticsearch percolator, or the same semantics in process.

Both answer ``candidates(docs) -> {story_id: {watch names}}`` and are held to one contract test suite
(tests/integration/test_watch_contract.py): a watch matches a document exactly when the search with
the watch's query would find it. The percolator is a module that some Elasticsearch builds lack (the
8.19.3 integ-test build does); ``ElasticsearchWatchIndex`` detects that and falls back to the
in-process matcher, saying so in its ``backend`` and the log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, helpers

from pipeline.index import _claim_filter, search_request
from pipeline.models import ClaimQuery, SearchQuery
from pipeline.watch import CompiledWatch, Story, Watch, matching_claims, story_reasons

log = logging.getLogger(__name__)
QUERY_FIELD = "watch_query"


def story_query(watch: Watch) -> SearchQuery:
    return SearchQuery(**{k: v for k, v in watch.query.items()})


def es_query(watch: Watch) -> dict[str, Any]:
    """The query the search runs for this watch, as the percolator stores it."""
    if watch.kind == "stories":
        query: dict[str, Any] = search_request(story_query(watch))["query"]
        return query
    inner = _claim_filter(ClaimQuery(speaker=watch.query.get("speaker"), about=watch.query.get("about", "")))
    match = {"bool": {"filter": inner}} if inner else {"match_all": {}}
    return {"nested": {"path": "claims", "query": match}}


class EmbeddedWatchIndex:
    """The watches in process, behind an inverted index of what each one needs.

    Every watch has a gate: one thing a document must contain for it to match (a word of its query,
    its entity, speaker, outlet or language). A document is tested only against the watches whose gate
    it passes, so the cost follows the document's words, not the number of watches.
    """

    backend = "embedded"

    def __init__(self) -> None:
        self._gated: dict[tuple[str, str], list[CompiledWatch]] = {}
        self._always: list[CompiledWatch] = []

    def sync(self, watches: Sequence[Watch]) -> None:
        self._gated, self._always = {}, []
        for w in watches:
            cw = CompiledWatch.of(w)
            gate = _gate(cw)
            if gate is None:
                self._always.append(cw)
            else:
                self._gated.setdefault(gate, []).append(cw)

    def candidates(self, docs: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for doc in docs:
            story = Story.of(doc)
            names = out.setdefault(doc["story_id"], set())
            for cw in self._candidates(story):
                hit = story_reasons(cw, story) is not None if cw.watch.kind == "stories" else bool(
                    matching_claims(cw, story)
                )
                if hit:
                    names.add(cw.watch.name)
        return out

    def _candidates(self, story: Story) -> list[CompiledWatch]:
        found = list(self._always)
        for key in _keys(story):
            found.extend(self._gated.get(key, ()))
        return found


def _gate(cw: CompiledWatch) -> tuple[str, str] | None:
    """The one key a document must have for this watch to match, or None (it must always be tested)."""
    q = cw.watch.query
    if cw.watch.kind == "claims":
        if q.get("speaker"):
            return ("claim-speaker", str(q["speaker"]).casefold())
        return ("claim-word", max((w for t in cw.text.positive for w in t), key=len)) if cw.text.positive else None
    if cw.text.positive:
        return ("word", max((w for t in cw.text.positive for w in t), key=len))  # the longest: likely the rarest
    for key in ("entity", "speaker", "outlet", "language"):
        if q.get(key):
            return (key, str(q[key]).casefold())
    return None


def _keys(story: Story) -> set[tuple[str, str]]:
    doc = story.doc
    keys = {("word", w) for w in story.words.vocabulary}
    keys |= {("entity", e) for e in story.entities}
    keys |= {("speaker", s) for s in story.speakers}
    keys.add(("outlet", str(doc.get("outlet", "")).casefold()))
    keys.add(("language", str(doc.get("language", "")).casefold()))
    for claim, words in zip(doc.get("claims") or [], story.claim_words, strict=True):
        keys.add(("claim-speaker", str(claim.get("speaker", "")).casefold()))
        if claim.get("speaker_id"):
            keys.add(("claim-speaker", str(claim["speaker_id"]).casefold()))
        keys |= {("claim-word", w) for w in words.vocabulary}
    return keys


class ElasticsearchWatchIndex:
    """Watches as percolator queries in their own index; one percolate request per batch of documents."""

    def __init__(self, client: Elasticsearch, template_path: Path, prefix: str = "wirewatch-stories") -> None:
        self._es = client
        self._template_path = template_path
        self.name = f"{prefix}-watches-v1"
        self._available: bool | None = None
        self._fallback = EmbeddedWatchIndex()

    @property
    def available(self) -> bool:
        """Whether the server has the percolator (a module; absent from some builds)."""
        if self._available is None:
            modules = set()
            for node in self._es.nodes.info(metric="plugins").body.get("nodes", {}).values():
                modules.update(m["name"] for m in node.get("modules", []))
                modules.update(p["name"] for p in node.get("plugins", []))
            self._available = "percolator" in modules
            if not self._available:
                log.warning("this Elasticsearch has no percolator module; watches are matched in process")
        return self._available

    @property
    def backend(self) -> str:
        return "elasticsearch-percolator" if self.available else "embedded (no percolator on this server)"

    def _mappings(self) -> dict[str, Any]:
        template = json.loads(self._template_path.read_text())
        mappings: dict[str, Any] = template["template"]["mappings"]
        props = dict(mappings["properties"])
        props[QUERY_FIELD] = {"type": "percolator"}
        props["watch_name"] = {"type": "keyword"}
        props["watch_kind"] = {"type": "keyword"}
        return {**mappings, "properties": props}

    def sync(self, watches: Sequence[Watch]) -> None:
        self._fallback.sync(watches)
        if not self.available:
            return
        es = self._es.options(ignore_status=400)
        es.indices.create(
            index=self.name,
            settings={"number_of_shards": 1, "number_of_replicas": 0},
            mappings=self._mappings(),
        )
        wanted = {w.name for w in watches}
        present = {
            h["_id"]
            for h in helpers.scan(self._es, index=self.name, query={"query": {"match_all": {}}}, _source=False)
        }
        actions: list[dict[str, Any]] = [
            {"_op_type": "delete", "_index": self.name, "_id": name} for name in present - wanted
        ]
        actions += [
            {
                "_op_type": "index",
                "_index": self.name,
                "_id": w.name,
                "_source": {QUERY_FIELD: es_query(w), "watch_name": w.name, "watch_kind": w.kind},
            }
            for w in watches
        ]
        if actions:
            helpers.bulk(self._es, actions, refresh="wait_for")

    def candidates(self, docs: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
        if not self.available:
            return self._fallback.candidates(docs)
        out: dict[str, set[str]] = {d["story_id"]: set() for d in docs}
        if not docs:
            return out
        body = {
            "query": {"percolate": {"field": QUERY_FIELD, "documents": [dict(d) for d in docs]}},
            "_source": ["watch_name"],
            "size": 10_000,
        }
        resp = self._es.search(index=self.name, body=body)
        for hit in resp["hits"]["hits"]:
            slots = hit.get("fields", {}).get("_percolator_document_slot", [0])
            for slot in slots:
                out[docs[int(slot)]["story_id"]].add(hit["_source"]["watch_name"])
        return out


