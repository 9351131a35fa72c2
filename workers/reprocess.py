"""Reprocessing stored stories: re-run stages from the raw store over a selection, in batches.

A job lives in Redis (its selection, starting stage, cursor and counters), so it survives a worker
or Redis restart and resumes where it stopped. One batch runs at a time: the task processes a
batch and re-queues itself at the back of the queue, so live stories queued meanwhile go first and
a rebuild of a million stories never floods Redis.

A full rebuild (Elasticsearch) fills a new index version while live ingestion writes to both the
live version and the new one; when every story is done the read and write aliases move to the new
version in one atomic step. Cancelling drops the new version; the old one never stopped serving.
On the embedded index a rebuild updates documents in place (each batch is one transaction).
A partial reprocess (a selection) always updates documents in place.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import redis

from pipeline.boilerplate import remove_learned_boilerplate
from pipeline.clean import clean
from pipeline.dedupe import dedupe
from pipeline.errors import StageError
from pipeline.extract import extract_many
from pipeline.fetch import utc_now
from pipeline.index import story_document, story_from_document
from pipeline.models import CleanStory, DedupeResult, Extraction, FeedEntry, FetchedPage, SearchQuery
from workers.adapters.redis_state import KEY

log = logging.getLogger(__name__)
STAGES = ("clean", "dedupe", "extract", "index")


@dataclass(frozen=True)
class JobSpec:
    selection: SearchQuery
    stage: str = "extract"
    rebuild: bool = False
    batch_size: int = 32

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "selection": dataclasses.asdict(self.selection)})

    @classmethod
    def from_json(cls, raw: str | bytes) -> JobSpec:
        data = json.loads(raw)
        selection = data.pop("selection")
        selection["ids"] = tuple(selection.get("ids", ()))
        return cls(selection=SearchQuery(**selection), **data)


class ReprocessJobs:
    """Jobs and their progress in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def _key(self, job_id: str) -> str:
        return f"{KEY}reprocess:{job_id}"

    def create(self, spec: JobSpec, total: int) -> str:
        job_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
        self._r.hset(
            self._key(job_id),
            mapping={
                "spec": spec.to_json(),
                "status": "running",
                "cursor": "",
                "done": 0,
                "failed": 0,
                "total": total,
                "started": time.time(),
                "updated": time.time(),
                "target": "",
                "old": "",
                "swaps": 0,
            },
        )
        self._r.zadd(f"{KEY}reprocess:jobs", {job_id: time.time()})
        return job_id

    def get(self, job_id: str) -> dict[str, str]:
        raw = self._r.hgetall(self._key(job_id))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def update(self, job_id: str, **fields: Any) -> None:
        self._r.hset(self._key(job_id), mapping={**{k: str(v) for k, v in fields.items()}, "updated": time.time()})

    def advance(self, job_id: str, cursor: str, done: int, failed: int) -> None:
        pipe = self._r.pipeline()
        pipe.hset(self._key(job_id), mapping={"cursor": cursor, "updated": time.time()})
        pipe.hincrby(self._key(job_id), "done", done)
        pipe.hincrby(self._key(job_id), "failed", failed)
        pipe.execute()

    def latest(self) -> str | None:
        found = self._r.zrange(f"{KEY}reprocess:jobs", -1, -1)
        return found[0].decode() if found else None

    def progress(self, job_id: str) -> dict[str, Any]:
        job = self.get(job_id)
        if not job:
            return {}
        done, failed, total = int(job["done"]), int(job["failed"]), int(job["total"])
        elapsed = max(1e-6, float(job["updated"]) - float(job["started"]))
        rate = done / elapsed
        remaining = max(0, total - done - failed)
        return {
            "job": job_id,
            "status": job["status"],
            "done": done,
            "failed": failed,
            "remaining": remaining,
            "total": total,
            "rate_per_s": round(rate, 2),
            "eta_s": round(remaining / rate) if rate > 0 and job["status"] == "running" else None,
            "target": job.get("target") or None,
            "error": job.get("error"),
        }


def _page_of(doc: dict[str, Any]) -> FetchedPage:
    entry = FeedEntry(
        story_id=doc["story_id"],
        url=doc["url"],
        feed_url=doc.get("feed_url", ""),
        title=doc["title"],
        summary=doc.get("summary", ""),
        published=doc.get("published"),
    )
    return FetchedPage(
        story_id=doc["story_id"],
        url=doc["url"],
        raw_key=doc.get("raw_key", ""),
        status=200,
        content_type="text/html",
        fetched_at=doc.get("fetched_at") or utc_now(),
        entry=entry,
    )


def rerun(rt: Any, docs: list[dict[str, Any]], stage: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """New documents for stored ones, re-running the stages from ``stage`` on; a story that fails keeps its
    old document (nothing is lost) and is reported."""
    start = STAGES.index(stage)
    failures: dict[str, str] = {}
    rows: list[tuple[dict[str, Any], CleanStory, DedupeResult, Extraction]] = []
    for doc in docs:
        story, dup, extraction = story_from_document(doc)
        try:
            if start <= STAGES.index("clean"):
                story = clean(_page_of(doc), rt.raw_store.get(doc["raw_key"]), rt.clean_options)
                # As the live clean task does: what the outlet's other stories showed to be its boilerplate
                # goes (this story's own earlier evidence is not counted, nor counted twice).
                story, _learned = remove_learned_boilerplate(story, rt.boilerplate, rt.boilerplate_options)
            if start <= STAGES.index("dedupe"):
                fresh = dedupe(story, rt.dedupe_state, rt.dedupe_options)
                # Outside the dedupe window a story looks new: it keeps the cluster it had.
                dup = fresh if fresh.match in ("exact", "near") else replace(dup, text_hash=fresh.text_hash)
        except StageError as exc:
            failures[doc["story_id"]] = f"{exc.reason}: {exc}"
            continue
        rows.append((doc, story, dup, extraction))
    if start <= STAGES.index("extract") and rows:
        extractions = extract_many([r[1] for r in rows], rt.nlp, rt.extract_options)
        rows = [(d, s, u, x) for (d, s, u, _old), x in zip(rows, extractions, strict=True)]
    now = utc_now()
    out = [story_document(s, u, x, indexed_at=now) for _d, s, u, x in rows]
    kept = [d for d in docs if d["story_id"] in failures]
    return out + kept, failures


def start_job(rt: Any, spec: JobSpec) -> str:
    """Create a job (and for a rebuild, the new version with live writes going to it too)."""
    total = rt.index.search(replace(spec.selection, size=0, collapse=False)).total
    jobs = ReprocessJobs(rt.redis)
    job_id = jobs.create(spec, total)
    if spec.rebuild and hasattr(rt.index, "create_next_version"):
        old = rt.index.version_name(rt.index.current_version())
        target = rt.index.create_next_version()
        rt.index_queue.set_also_write_to(target)
        jobs.update(job_id, target=target, old=old)
    return job_id


def run_batch(rt: Any, job_id: str) -> bool:
    """Process the job's next batch; True while there is more to do."""
    jobs = ReprocessJobs(rt.redis)
    job = jobs.get(job_id)
    if not job or job["status"] != "running":
        return False
    spec = JobSpec.from_json(job["spec"])
    index = rt.index
    source = job.get("old") or None
    page_args: dict[str, Any] = {"index": source} if source else {}
    docs = index.select_page(spec.selection, job["cursor"] or None, spec.batch_size, **page_args)
    if not docs:
        finish(rt, job_id)
        return False
    new_docs, failures = rerun(rt, docs, spec.stage)
    if job.get("target"):
        errors = index.put_many_to(job["target"], new_docs, only_new=True)
    else:
        errors = index.put_many(new_docs)
    failures.update(errors)
    for sid, error in failures.items():
        rt.ledger.record(sid, "reprocess", "failed", error, job=job_id)
    jobs.advance(job_id, docs[-1]["story_id"], len(docs) - len(failures), len(failures))
    return True


def finish(rt: Any, job_id: str) -> None:
    jobs = ReprocessJobs(rt.redis)
    job = jobs.get(job_id)
    if job.get("target"):
        rt.index._es.indices.refresh(index=job["target"])  # noqa: SLF001 - visible before it is read
        rt.index.swap_to(job["target"])
        rt.index_queue.set_also_write_to(None)
        jobs.update(job_id, swaps=int(job.get("swaps", 0)) + 1)
    jobs.update(job_id, status="done", finished=time.time())
    log.info("reprocess %s done", job_id)


def cancel(rt: Any, job_id: str) -> None:
    """Stop a job; a rebuild's new version is dropped and the old one stays live."""
    jobs = ReprocessJobs(rt.redis)
    job = jobs.get(job_id)
    if not job or job["status"] != "running":
        return
    jobs.update(job_id, status="cancelled")
    if job.get("target"):
        rt.index_queue.set_also_write_to(None)
        rt.index.drop_version(job["target"])
