"""The story index on Elasticsearch 8: a template, versioned indices, read and write aliases."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from elastic_transport import TlsError
from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError, helpers

from pipeline.errors import PermanentError, TransientError
from pipeline.index import claims_request, claims_result, search_request, search_result, selection_request
from pipeline.models import ClaimQuery, ClaimResult, SearchQuery, SearchResult

log = logging.getLogger(__name__)
RETRYABLE = (429, 502, 503, 504)
ENGLISH_FIELDS = ("title", "summary", "text")


def make_client(
    url: str, username: str = "", password: str = "", api_key: str = "", ca_certs: str = ""
) -> Elasticsearch:
    options: dict[str, Any] = {"request_timeout": 30, "retry_on_timeout": True, "max_retries": 3}
    if api_key:
        options["api_key"] = api_key
    elif username:
        options["basic_auth"] = (username, password)
    if ca_certs:
        options["ca_certs"] = ca_certs
    return Elasticsearch(url, **options)


def _translate(exc: Exception, what: str) -> Exception:
    if isinstance(exc, ApiError):
        if exc.meta.status in RETRYABLE:
            return TransientError(f"{what}: Elasticsearch answered {exc.meta.status}")
        return PermanentError(f"{what}: Elasticsearch answered {exc.meta.status}: {exc.message}")
    if isinstance(exc, TlsError):
        # A certificate that does not verify will not verify on the next try either.
        return PermanentError(f"{what}: TLS failed: {exc}")
    return TransientError(f"{what}: {exc}")


class ElasticsearchIndex:
    """Implements ``StoryIndex``. Writes go to the write alias, reads to the read alias."""

    def __init__(self, client: Elasticsearch, template_path: Path, prefix: str = "wirewatch-stories") -> None:
        self._es = client
        self._template_path = template_path
        self.prefix = prefix
        self.read_alias = prefix
        self.write_alias = f"{prefix}-write"
        self._english: bool | None = None

    # --- set-up -------------------------------------------------------------------------------

    def has_english_analyzer(self) -> bool:
        """The official image has it; some builds (the integ-test zip) ship without it.

        Asked of an existing version where there is one: a writer with index privileges only may not
        call the cluster-level ``_analyze``, and a refusal must not pass for "no analyzer".
        """
        try:
            existing = sorted(self._es.indices.get(index=f"{self.prefix}-v*", ignore_unavailable=True).body)
        except ApiError:
            existing = []
        try:
            self._es.indices.analyze(index=existing[-1] if existing else None, analyzer="english", text="running")
            return True
        except ApiError as exc:
            if exc.meta.status in (401, 403):
                log.warning("cannot ask Elasticsearch for the english analyzer (%s); leaving it out",
                            exc.meta.status)
            return False

    def template_body(self, english: bool) -> dict[str, Any]:
        spec = json.loads(self._template_path.read_text())
        spec.pop("_comment", None)
        spec["index_patterns"] = [f"{self.prefix}-v*"]
        props = spec["template"]["mappings"]["properties"]
        if english:
            for name in ENGLISH_FIELDS:
                props[name].setdefault("fields", {})["english"] = {"type": "text", "analyzer": "english"}
            props["claims"]["properties"]["text"]["fields"]["english"] = {
                "type": "text",
                "analyzer": "english",
            }
        result: dict[str, Any] = spec
        return result

    def version_name(self, version: int) -> str:
        return f"{self.prefix}-v{version}"

    def ensure_ready(self) -> None:
        try:
            self._es.cluster.health(wait_for_status="yellow", timeout="30s")
            english = self.has_english_analyzer()
            self._es.indices.put_index_template(name=self.prefix, **self.template_body(english))
            if not self._es.indices.exists_alias(name=self.write_alias):
                first = self.version_name(1)
                if not self._es.indices.exists(index=first):
                    self._es.indices.create(index=first)
                self._es.indices.update_aliases(
                    actions=[
                        {"add": {"index": first, "alias": self.write_alias, "is_write_index": True}},
                        {"add": {"index": first, "alias": self.read_alias}},
                    ]
                )
        except (ApiError, TransportError) as exc:
            if isinstance(exc, ApiError) and exc.meta.status == 400 and "already_exists" in str(exc):
                return  # another worker won the race to create the first version
            raise _translate(exc, "preparing the index") from exc

    def status(self) -> dict[str, Any]:
        """Every version with its aliases, document count and the pipeline versions in it."""
        aliases = self._es.indices.get_alias(index=f"{self.prefix}-v*")
        out: dict[str, Any] = {
            "backend": "elasticsearch",
            "read_alias": self.read_alias,
            "write_alias": self.write_alias,
            "indices": {},
        }
        for index, spec in sorted(aliases.body.items()):
            found = self._es.search(index=index, size=0, aggs={"pv": {"terms": {"field": "pipeline_version"}}})
            out["indices"][index] = {
                "aliases": sorted(spec.get("aliases", {})),
                "documents": found["hits"]["total"]["value"],
                "pipeline_versions": {b["key"]: b["doc_count"] for b in found["aggregations"]["pv"]["buckets"]},
            }
        return out

    def _indices_of(self, alias: str) -> list[str]:
        try:
            return sorted(self._es.indices.get_alias(name=alias).body)
        except NotFoundError:
            return []

    def current_version(self) -> int:
        names = self._indices_of(self.write_alias)
        return max(int(n.rsplit("-v", 1)[1]) for n in names) if names else 0

    def start_version(self) -> str:
        """Create the next version from the current template and send new writes to it.

        Reads span the old and the new version until ``finish_version``, so search never goes dark
        and stories arriving meanwhile are in the new version.
        """
        self.ensure_ready()
        old = self.version_name(self.current_version())
        new = self.version_name(self.current_version() + 1)
        self._es.indices.put_index_template(name=self.prefix, **self.template_body(self.has_english_analyzer()))
        self._es.indices.create(index=new)
        self._es.indices.update_aliases(
            actions=[
                {"add": {"index": new, "alias": self.write_alias, "is_write_index": True}},
                {"remove": {"index": old, "alias": self.write_alias}},
                {"add": {"index": new, "alias": self.read_alias}},
            ]
        )
        return new

    def finish_version(self, new: str) -> None:
        """Point the read alias at the new version only, in one atomic step."""
        actions: list[dict[str, Any]] = [{"add": {"index": new, "alias": self.read_alias}}]
        actions += [
            {"remove": {"index": old, "alias": self.read_alias}}
            for old in self._indices_of(self.read_alias)
            if old != new
        ]
        self._es.indices.update_aliases(actions=actions)

    def abandon_version(self, new: str, old: str) -> None:
        """Cancel a rebuild: writes go back to the old version, which stays the one read."""
        self._es.indices.update_aliases(
            actions=[
                {"add": {"index": old, "alias": self.write_alias, "is_write_index": True}},
                {"add": {"index": old, "alias": self.read_alias}},
                {"remove": {"index": new, "alias": self.read_alias}},
                {"remove": {"index": new, "alias": self.write_alias}},
            ]
        )

    def scan(self, index: str | None = None, batch: int = 500) -> Iterator[dict[str, Any]]:
        """Every document of an index (default: the read alias), with a point in time and search_after."""
        pit = self._es.open_point_in_time(index=index or self.read_alias, keep_alive="2m")["id"]
        after: list[Any] | None = None
        try:
            while True:
                page = self._es.search(
                    pit={"id": pit, "keep_alive": "2m"}, size=batch, sort=["_shard_doc"], search_after=after
                )
                hits = page["hits"]["hits"]
                if not hits:
                    return
                for hit in hits:
                    yield hit["_source"]
                after = hits[-1]["sort"]
                pit = page.get("pit_id", pit)
        finally:
            self._es.close_point_in_time(id=pit)

    def create_next_version(self) -> str:
        """A new, empty version from the current template, behind no alias yet (for a rebuild)."""
        self.ensure_ready()
        new = self.version_name(self.current_version() + 1)
        self._es.indices.put_index_template(name=self.prefix, **self.template_body(self.has_english_analyzer()))
        self._es.indices.create(index=new)
        return new

    def put_many_to(self, index: str, docs: Iterable[Mapping[str, Any]], only_new: bool = False) -> dict[str, str]:
        """Bulk-write into one version; ``only_new`` keeps a document already there (written later, so newer)."""
        op = "create" if only_new else "index"
        actions = ({"_op_type": op, "_index": index, "_id": d["story_id"], "_source": dict(d)} for d in docs)
        failed: dict[str, str] = {}
        try:
            for ok, item in helpers.streaming_bulk(
                self._es, actions, max_retries=5, initial_backoff=0.5, raise_on_error=False, chunk_size=500
            ):
                result = next(iter(item.values()))
                if not ok and result.get("status") != 409:
                    failed[str(result.get("_id"))] = json.dumps(result.get("error", result))[:1000]
        except (ApiError, TransportError) as exc:
            raise _translate(exc, "bulk indexing") from exc
        return failed

    def swap_to(self, new: str) -> None:
        """Read and write aliases to ``new`` and away from every other version, in one atomic step."""
        actions: list[dict[str, Any]] = [
            {"add": {"index": new, "alias": self.read_alias}},
            {"add": {"index": new, "alias": self.write_alias, "is_write_index": True}},
        ]
        for alias in (self.read_alias, self.write_alias):
            actions += [{"remove": {"index": old, "alias": alias}} for old in self._indices_of(alias) if old != new]
        self._es.indices.update_aliases(actions=actions)

    def drop_version(self, name: str) -> None:
        self._es.options(ignore_status=404).indices.delete(index=name)

    def migrate(self, on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """A new version with the current template, holding every document of the old one.

        Documents are copied by the client (the server may have no _reindex); one already written
        to the new version by live ingestion is newer and is kept. ``on_progress(done, total)`` is
        called after each batch of 500.
        """
        old = self.version_name(self.current_version())
        total = int(self._es.count(index=old)["count"])
        new = self.start_version()
        copied = skipped = seen = 0
        batch: list[dict[str, Any]] = []

        def write(docs: list[dict[str, Any]]) -> None:
            nonlocal copied, skipped, seen
            actions = ({"_op_type": "create", "_index": new, "_id": d["story_id"], "_source": d} for d in docs)
            for ok, item in helpers.streaming_bulk(self._es, actions, raise_on_error=False, max_retries=5):
                status = next(iter(item.values())).get("status")
                copied += ok
                skipped += (not ok) and status == 409
            seen += len(docs)
            if on_progress is not None:
                on_progress(seen, max(total, seen))

        if on_progress is not None:
            on_progress(0, total)
        for doc in self.scan(old):
            batch.append(doc)
            if len(batch) >= 500:
                write(batch)
                batch = []
        if batch:
            write(batch)
        self._es.indices.refresh(index=new)
        self.finish_version(new)
        return {"from": old, "to": new, "copied": copied, "kept_newer": skipped}

    # --- writes -------------------------------------------------------------------------------

    def put(self, doc: Mapping[str, Any]) -> None:
        try:
            self._es.index(index=self.write_alias, id=doc["story_id"], document=dict(doc))
        except (ApiError, TransportError) as exc:
            raise _translate(exc, f"indexing {doc['story_id']}") from exc

    def put_many(self, docs: Iterable[Mapping[str, Any]]) -> dict[str, str]:
        """Bulk-write; 429s are retried with backoff per document. Returns the errors by story id."""
        actions = ({"_index": self.write_alias, "_id": d["story_id"], "_source": dict(d)} for d in docs)
        failed: dict[str, str] = {}
        try:
            for ok, item in helpers.streaming_bulk(
                self._es,
                actions,
                max_retries=5,
                initial_backoff=0.5,
                max_backoff=30,
                raise_on_error=False,
                raise_on_exception=True,
                chunk_size=500,
                max_chunk_bytes=10 * 1024 * 1024,
            ):
                if not ok:
                    result = next(iter(item.values()))
                    failed[str(result.get("_id"))] = json.dumps(result.get("error", result))[:1000]
        except (ApiError, TransportError) as exc:
            raise _translate(exc, "bulk indexing") from exc
        return failed

    def delete(self, story_ids: Iterable[str]) -> set[str]:
        """Delete by id from every version behind the read or write alias (a migration spans two).

        One bulk request of delete actions: the server may have no _delete_by_query. Returns the ids
        deleted somewhere; an id found nowhere is no error.
        """
        ids = list(dict.fromkeys(story_ids))
        if not ids:
            return set()
        try:
            indices = sorted(set(self._indices_of(self.read_alias)) | set(self._indices_of(self.write_alias)))
        except (ApiError, TransportError) as exc:
            raise _translate(exc, "deleting stories") from exc
        return self._delete_in(indices, ids)

    def delete_from(self, index: str, story_ids: Iterable[str]) -> set[str]:
        """Delete by id from one version (a rebuild's new version, behind no alias yet)."""
        return self._delete_in([index], story_ids)

    def _delete_in(self, indices: list[str], story_ids: Iterable[str]) -> set[str]:
        ids = list(dict.fromkeys(story_ids))
        if not ids:
            return set()
        actions = ({"_op_type": "delete", "_index": index, "_id": sid} for index in indices for sid in ids)
        deleted: set[str] = set()
        retry: list[str] = []
        try:
            for ok, item in helpers.streaming_bulk(
                self._es, actions, max_retries=5, initial_backoff=0.5, raise_on_error=False, chunk_size=500
            ):
                result = next(iter(item.values()))
                if result.get("result") == "deleted":
                    deleted.add(str(result.get("_id")))
                elif not ok and result.get("status") != 404:
                    if result.get("status") in RETRYABLE:
                        retry.append(str(result.get("_id")))
                    log.error("could not delete %s from %s: %s", result.get("_id"), result.get("_index"),
                              json.dumps(result.get("error", result))[:500])
        except (ApiError, TransportError) as exc:
            raise _translate(exc, "deleting stories") from exc
        if retry:
            raise TransientError(f"deleting stories: Elasticsearch was busy for {len(retry)} of them")
        return deleted

    def refresh(self) -> None:
        self._es.indices.refresh(index=self.read_alias)

    # --- reads --------------------------------------------------------------------------------

    def _has_english_fields(self) -> bool:
        if self._english is None:
            mapping = self._es.indices.get_mapping(index=self.read_alias).body
            props = next(iter(mapping.values()))["mappings"]["properties"]
            self._english = "english" in props["text"].get("fields", {})
        return self._english

    def get(self, story_id: str) -> dict[str, Any] | None:
        try:
            found = self._es.search(index=self.read_alias, query={"ids": {"values": [story_id]}}, size=1)
        except NotFoundError:
            return None
        except (ApiError, TransportError) as exc:
            raise _translate(exc, f"reading {story_id}") from exc
        hits = found["hits"]["hits"]
        return copy.deepcopy(hits[0]["_source"]) if hits else None

    def present(self, story_ids: Iterable[str]) -> set[str]:
        ids = list(story_ids)
        found: set[str] = set()
        for i in range(0, len(ids), 1000):
            chunk = ids[i : i + 1000]
            try:
                resp = self._es.search(
                    index=self.read_alias, query={"ids": {"values": chunk}}, size=len(chunk), source=False
                )
            except (ApiError, TransportError) as exc:
                raise _translate(exc, "looking up stories") from exc
            found.update(h["_id"] for h in resp["hits"]["hits"])
        return found

    def search(self, query: SearchQuery) -> SearchResult:
        try:
            body = search_request(query, english=self._has_english_fields())
            response = self._es.search(index=self.read_alias, **body)
        except (ApiError, TransportError) as exc:
            raise _translate(exc, "searching") from exc
        return search_result(response.body, query)

    def select_page(
        self, query: SearchQuery, after: str | None, size: int, index: str | None = None
    ) -> list[dict[str, Any]]:
        """Whole documents matching the query, in story id order after ``after`` (resumable paging)."""
        try:
            found = self._es.search(index=index or self.read_alias, **selection_request(query, after, size))
        except (ApiError, TransportError) as exc:
            raise _translate(exc, "selecting stories") from exc
        return [dict(h["_source"]) for h in found["hits"]["hits"]]

    def search_claims(self, query: ClaimQuery) -> ClaimResult:
        try:
            response = self._es.search(index=self.read_alias, **claims_request(query))
        except (ApiError, TransportError) as exc:
            raise _translate(exc, "searching claims") from exc
        return claims_result(response.body)

    def count(self) -> int:
        try:
            return int(self._es.count(index=self.read_alias)["count"])
        except (ApiError, TransportError) as exc:
            raise _translate(exc, "counting") from exc
