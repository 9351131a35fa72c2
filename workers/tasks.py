"""Celery tasks: thin. Load, call the stage, save, hand on. Retry or dead-letter by exception type."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import redis
from celery import Task, chain
from celery.exceptions import Ignore, Retry

from pipeline.boilerplate import remove_learned_boilerplate
from pipeline.clean import better_copy, clean
from pipeline.dedupe import dedupe, detect_wire, paragraph_changes
from pipeline.errors import DropStory, HostBusy, PermanentError, StageError, TransientError
from pipeline.extract import extract
from pipeline.fetch import check_article, parse_feed, story_id_for, utc_now
from pipeline.index import story_document
from pipeline.models import CleanStory, DedupeResult, Extraction, FeedEntry, FetchedPage
from pipeline.polling import entry_version, items_per_day, next_interval
from workers import reprocess as reprocess_jobs
from workers.celery_app import app
from workers.indexing import flush
from workers.runtime import current

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 300.0


def backoff_s(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter; a server's Retry-After is a floor."""
    delay = random.uniform(0, min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt))
    return max(delay, retry_after or 0.0)


CHAIN = ("fetch", "clean", "dedupe", "extract", "index")


def story_chain(entry: FeedEntry) -> Any:
    """The one place the chain of a story is built."""
    return chain_from("fetch", entry.story_id, entry)


def chain_from(stage: str, story_id: str, entry: FeedEntry | None = None) -> Any:
    """The rest of a story's chain from ``stage`` on (replays and the reconciler start mid-way)."""
    ref = {"story_id": story_id}
    tasks = {"clean": clean_story, "dedupe": dedupe_story, "extract": extract_story, "index": index_story}
    steps = []
    for name in CHAIN[CHAIN.index(stage) :]:
        if name == "fetch":
            if entry is None:
                raise PermanentError(f"story {story_id}: no feed entry to fetch from")
            steps.append(fetch_article.si(entry.to_json()))
        else:
            steps.append(tasks[name].si(ref))
    return chain(*steps)


def _run_stage(
    task: Task, stage: str, story_id: str, work: Callable[[], str], record_ok: bool = True
) -> dict[str, str]:
    """Run one stage for one story, record its outcome, and decide what happens on failure."""
    ledger = current().ledger
    extra = {"story_id": story_id, "stage": stage, "task_id": task.request.id}
    try:
        try:
            detail = work()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise TransientError(f"redis: {exc}") from exc
    except HostBusy as exc:
        # Waiting for a polite moment is not a failure: no retry is spent on it.
        # Celery reads max_retries=None as "the task's default" (3), not "no limit": allow one more each time.
        raise task.retry(
            exc=exc,
            countdown=(exc.retry_after or 1.0) + random.uniform(0, 1),
            max_retries=task.request.retries + 1,
        ) from exc
    except DropStory as exc:
        ledger.record(story_id, stage, exc.reason, str(exc))
        ledger.settle(story_id)
        log.info("dropped: %s", exc, extra={**extra, "outcome": exc.reason})
        raise Ignore() from exc
    except TransientError as exc:
        if task.request.retries < current().settings.task_max_retries:
            with contextlib.suppress(redis.RedisError):  # the retry matters more than its record
                ledger.record(story_id, stage, "retrying", str(exc), attempt=task.request.retries + 1)
            log.warning("transient failure, will retry: %s", exc, extra={**extra, "outcome": "retrying"})
            # The limit is ours: without it Celery applies its default of 3, re-raises the error, and
            # the failed message is rejected without requeue (dropped), with no dead-letter record.
            raise task.retry(
                exc=exc,
                countdown=backoff_s(task.request.retries, exc.retry_after),
                max_retries=current().settings.task_max_retries,
            ) from exc
        _dead_letter(task, stage, story_id, exc)
        raise Ignore() from exc
    except (Ignore, Retry):
        raise
    except Exception as exc:  # noqa: BLE001 - every other failure is recorded, never lost
        _dead_letter(task, stage, story_id, exc)
        raise Ignore() from exc
    if record_ok:
        ledger.record(story_id, stage, "ok", detail)
        ledger.in_flight(story_id, stage)  # (the index stage is settled by the bulk writer instead)
    log.info("%s done: %s", stage, detail, extra={**extra, "outcome": "ok"})
    return {"story_id": story_id}


def _dead_letter(task: Task, stage: str, story_id: str, exc: Exception) -> None:
    reason = exc.reason if isinstance(exc, StageError) else type(exc).__name__
    current().ledger.record(story_id, stage, "failed", f"{reason}: {exc}")
    current().ledger.settle(story_id)
    current().ledger.dead_letter(
        {
            "t": time.time(),
            "task": task.name,
            "stage": stage,
            "story_id": story_id,
            "error": f"{type(exc).__name__}: {exc}",
            "attempts": task.request.retries + 1,
            "args": list(task.request.args or ()),
        }
    )
    log.error(
        "failed permanently: %s",
        exc,
        extra={"story_id": story_id, "stage": stage, "task_id": task.request.id, "outcome": "failed"},
    )


# --- feeds -----------------------------------------------------------------------------------

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"


@app.task(name="wirewatch.dispatch_polls", bind=True, acks_late=True)
def dispatch_polls(self: Task) -> int:
    """Hand every feed that is due to the workers (beat runs this every few seconds)."""
    rt = current()
    now = time.time()
    rt.feed_state.sync({f.url: f.interval_s for f in rt.feeds}, now)
    lease = max(60.0, rt.settings.total_timeout_s * 4)
    due = rt.feed_state.take_due(now, lease_s=lease)
    for url in due:
        poll_feed.apply_async(args=[url], expires=lease)
    return len(due)


@app.task(name="wirewatch.poll_feed", bind=True, acks_late=True)
def poll_feed(self: Task, feed_url: str) -> dict[str, Any]:
    """Fetch one feed (conditionally), start a chain for every new or revised entry, schedule the next poll."""
    rt = current()
    now = time.time()
    state = rt.feed_state.get(feed_url)
    host = urlsplit(feed_url).hostname or ""
    token = uuid.uuid4().hex
    wait = rt.host_gate.try_acquire(host, token)
    if wait > 0:
        rt.feed_state.schedule(feed_url, now + wait + random.uniform(0, 1))
        return {"feed": feed_url, "deferred_s": wait}
    headers = {"Accept": FEED_ACCEPT}
    if state.get("etag"):
        headers["If-None-Match"] = state["etag"]
    if state.get("last_modified"):
        headers["If-Modified-Since"] = state["last_modified"]
    try:
        resp = rt.http.get(feed_url, headers=headers)
        parsed = None if resp.status == 304 else parse_feed(resp.body, feed_url, resp.headers.get("content-type", ""))
    except StageError as exc:
        failures = rt.feed_state.incr(feed_url, "consecutive_failures")
        rt.feed_state.incr(feed_url, "errors")
        delay = next_interval(rt.poll_policy, _configured(state), failures, None, random.Random())
        if isinstance(exc, TransientError) and exc.retry_after:
            delay = max(delay, exc.retry_after)  # the server asked us to wait
        rt.feed_state.update(
            feed_url,
            status="failing",
            last_poll=now,
            last_error=f"{exc.reason}: {exc}",
            last_error_at=now,
            next_due=now + delay,
        )
        rt.feed_state.schedule(feed_url, now + delay)
        log.warning(
            "feed failed (%d in a row), next try in %.0fs: %s",
            failures,
            delay,
            exc,
            extra={"feed": feed_url, "outcome": "failed"},
        )
        return {"feed": feed_url, "error": str(exc)}
    finally:
        rt.host_gate.release(host, token)
    new = revised = 0
    for entry in parsed.entries if parsed else ():
        seen = rt.ledger.sighting(entry.story_id, entry_version(entry), rt.settings.seen_ttl_s,
                                  json.dumps(entry.to_json()), rt.settings.stage_ttl_s)
        if seen == "same":
            continue
        outcome = "queued" if seen == "new" else "revision"
        rt.ledger.record(entry.story_id, "poll", outcome, entry.url, feed=feed_url)
        story_chain(entry).apply_async()
        new += seen == "new"
        revised += seen == "changed"
    last_success = float(state["last_success"]) if state.get("last_success") else None
    # Until a rate is known, start from the pace the configured interval implies: one empty poll soon
    # after the first lengthens the interval a step; it must not send the feed to the maximum at once.
    previous_rate = (
        float(state["items_per_day"])
        if state.get("items_per_day")
        else 86400.0 / (_configured(state) * rt.poll_policy.polls_per_item)
    )
    rate = items_per_day(previous_rate, new, now - last_success) if last_success else None
    delay = next_interval(rt.poll_policy, _configured(state), 0, rate, random.Random())
    rt.feed_state.incr(feed_url, "entries_seen", new)
    rt.feed_state.update(
        feed_url,
        status="not_modified" if parsed is None else "ok",
        title=parsed.title if parsed else None,
        last_poll=now,
        last_success=now,
        consecutive_failures=0,
        etag=resp.headers.get("etag") or state.get("etag"),
        last_modified=resp.headers.get("last-modified") or state.get("last_modified"),
        last_problems="; ".join(parsed.problems)[:1000] if parsed else None,
        items_per_day=round(rate, 3) if rate is not None else None,
        next_due=now + delay,
        last_new=now if new else None,
    )
    rt.feed_state.schedule(feed_url, now + delay)
    log.info(
        "polled: %s, %d new, %d revised, next in %.0fs",
        "not modified" if parsed is None else f"{len(parsed.entries)} entries",
        new,
        revised,
        delay,
        extra={"feed": feed_url},
    )
    return {"feed": feed_url, "new": new, "revised": revised, "not_modified": parsed is None}


def _configured(state: dict[str, str]) -> float:
    return float(state.get("interval_s") or 300)


# --- the story chain -------------------------------------------------------------------------


@app.task(name="wirewatch.fetch_article", bind=True, acks_late=True)
def fetch_article(self: Task, entry_json: dict[str, Any]) -> dict[str, str]:
    entry = FeedEntry.from_json(entry_json)

    def work() -> str:
        rt = current()
        host = urlsplit(entry.url).hostname or ""
        token = uuid.uuid4().hex
        wait = rt.host_gate.try_acquire(host, token)
        if wait > 0:
            raise HostBusy(f"{host} is busy (politeness limits)", retry_after=wait)
        try:
            resp = rt.http.get(entry.url, headers={"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"})
        finally:
            rt.host_gate.release(host, token)
        check_article(resp)
        key = rt.raw_store.put(resp.body)
        page = FetchedPage(
            story_id=entry.story_id,
            url=resp.url,
            raw_key=key,
            status=resp.status,
            content_type=resp.headers.get("content-type", ""),
            fetched_at=utc_now(),
            entry=entry,
        )
        rt.stages.save("fetch", entry.story_id, page.to_json())
        return f"{len(resp.body)} bytes from {resp.url}"

    return _run_stage(self, "fetch", entry.story_id, work)


@app.task(name="wirewatch.clean", bind=True, acks_late=True)
def clean_story(self: Task, ref: dict[str, str]) -> dict[str, str]:
    def work() -> str:
        rt = current()
        page = FetchedPage.from_json(rt.stages.load("fetch", ref["story_id"]))
        story = clean(page, rt.raw_store.get(page.raw_key), rt.clean_options)
        # Two feed URLs (or a URL and its redirect) for one canonical page are one story: the best copy,
        # whatever the order they arrive in; the others are recorded as its copies.
        def better_than(holder: str) -> bool:
            other = _stage_or_none("clean", holder)
            return other is not None and better_copy(story, CleanStory.from_json(other))

        holder, displaced = rt.ledger.claim_canonical_best(
            story_id_for(story.canonical_url), story.story_id, rt.settings.seen_ttl_s, better_than
        )
        if holder != story.story_id:
            raise DropStory("duplicate_url", f"{story.canonical_url}: a copy of story {holder}, the better copy")
        if displaced:
            rt.ledger.record(displaced, "clean", "copy", f"{story.story_id} is a better copy of {story.canonical_url}")
        # After the claim, so a second URL of one article is not counted as another story of its outlet.
        story, learned = remove_learned_boilerplate(story, rt.boilerplate, rt.boilerplate_options)
        rt.stages.save("clean", story.story_id, story.to_json())
        return f"{len(story.text)} characters, language {story.language}" + (
            f", {len(learned)} learned boilerplate paragraphs removed" if learned else "")

    return _run_stage(self, "clean", ref["story_id"], work)


@app.task(name="wirewatch.dedupe", bind=True, acks_late=True)
def dedupe_story(self: Task, ref: dict[str, str]) -> dict[str, str]:
    def work() -> str:
        rt = current()
        story = CleanStory.from_json(rt.stages.load("clean", ref["story_id"]))
        previous = _stage_or_none("dedupe", story.story_id)
        result = dedupe(story, rt.dedupe_state, rt.dedupe_options)
        # A redelivered dedupe (its worker died after saving) finds its own result too: only a story that
        # reached the index on an earlier trip has nothing new to carry.
        if (
            result.match == "revision"
            and previous is not None
            and previous.get("text_hash") == result.text_hash
            and _indexed_before(story.story_id)
        ):
            raise DropStory("unchanged", "the entry changed in its feed but the article text did not")
        wire = detect_wire(story.credit, story.credit_lines, story.text, rt.wire_rules)
        changes = None
        if not result.is_canonical:
            canonical = _stage_or_none("clean", result.cluster_id)
            if canonical is not None:
                diff = paragraph_changes(canonical["text"], story.text)
                changes = {
                    "added": list(diff.added),
                    "removed": list(diff.removed),
                    "changed": [list(pair) for pair in diff.changed],
                }
            if not wire and (first := _stage_or_none("dedupe", result.cluster_id)) is not None:
                wire = first.get("wire", "")
        result = replace(result, wire=wire, changes=changes)
        rt.stages.save("dedupe", story.story_id, result.to_json())
        if result.is_canonical:
            return f"{result.match}: canonical of its cluster" + (f", wire {wire}" if wire else "")
        return f"{result.match} copy of {result.cluster_id} (similarity {result.similarity})"

    return _run_stage(self, "dedupe", ref["story_id"], work)


def _indexed_before(story_id: str) -> bool:
    return any(e.get("stage") == "index" and e.get("outcome") == "ok" for e in current().ledger.trace(story_id))


def _stage_or_none(stage: str, story_id: str) -> dict[str, Any] | None:
    try:
        return current().stages.load(stage, story_id)
    except PermanentError:
        return None


@app.task(name="wirewatch.extract", bind=True, acks_late=True)
def extract_story(self: Task, ref: dict[str, str]) -> dict[str, str]:
    def work() -> str:
        rt = current()
        story = CleanStory.from_json(rt.stages.load("clean", ref["story_id"]))
        result = extract(story, rt.nlp, rt.extract_options)
        rt.stages.save("extract", story.story_id, result.to_json())
        return result.skipped or (
            f"{len(result.entities)} entities, {len(result.claims)} claims, topic {result.topic_score}"
        )

    return _run_stage(self, "extract", ref["story_id"], work)


@app.task(name="wirewatch.index", bind=True, acks_late=True)
def index_story(self: Task, ref: dict[str, str]) -> dict[str, str]:
    """Queue the story's document for the next bulk write, and write the queue if no one else is."""

    def work() -> str:
        rt = current()
        sid = ref["story_id"]
        doc = story_document(
            CleanStory.from_json(rt.stages.load("clean", sid)),
            DedupeResult.from_json(rt.stages.load("dedupe", sid)),
            Extraction.from_json(rt.stages.load("extract", sid)),
            indexed_at=utc_now(),
        )
        rt.index_queue.push(doc)
        try:
            written = flush(rt.index_queue, rt.index, rt.ledger, rt.batch_limits)
        except TransientError as exc:
            # The document is queued in Redis and the periodic flush_index writes it when the index is
            # back; retrying (and finally dead-lettering) this story would fail a story that is not lost.
            return f"queued; bulk write deferred: {exc}"
        return f"queued; this worker bulk-wrote {written} documents"

    # The flusher records each story's outcome when its batch is written.
    return _run_stage(self, "index", ref["story_id"], work, record_ok=False)


@app.task(name="wirewatch.flush_index", bind=True, acks_late=True)
def flush_index(self: Task) -> int:
    """Periodic safety net: write anything left pending (for instance after Elasticsearch was down)."""
    rt = current()
    try:
        return flush(rt.index_queue, rt.index, rt.ledger, rt.batch_limits)
    except TransientError as exc:
        log.warning("bulk indexing deferred: %s", exc)
        return 0


# --- recovery --------------------------------------------------------------------------------

RECONCILE_MAX_ATTEMPTS = 3


@app.task(name="wirewatch.reconcile", bind=True, acks_late=True)
def reconcile(self: Task) -> int:
    """Put stories stuck between stages (a lost message, a dead worker) back in their chain."""
    rt = current()
    requeued = 0
    for story_id, last_stage, attempts in rt.ledger.stuck(time.time() - rt.settings.stuck_after_s):
        following = "fetch" if last_stage == "poll" else CHAIN[min(CHAIN.index(last_stage) + 1, len(CHAIN) - 1)]
        if attempts >= RECONCILE_MAX_ATTEMPTS:
            rt.ledger.record(story_id, following, "failed", f"stuck after {attempts} restarts")
            rt.ledger.dead_letter(
                {
                    "t": time.time(),
                    "task": "wirewatch.reconcile",
                    "stage": following,
                    "story_id": story_id,
                    "error": "stuck between stages",
                    "attempts": attempts,
                    "args": [{"story_id": story_id}],
                }
            )
            rt.ledger.settle(story_id)
            continue
        try:
            entry = FeedEntry.from_json(rt.stages.load("entry", story_id)) if following == "fetch" else None
            chain_from(following, story_id, entry).apply_async()
        except PermanentError as exc:
            rt.ledger.record(story_id, following, "failed", str(exc))
            rt.ledger.settle(story_id)
            continue
        rt.ledger.record(story_id, following, "requeued", f"stuck after {last_stage}; restart {attempts + 1}")
        rt.ledger.in_flight(story_id, last_stage, restarted=True)
        requeued += 1
    return requeued


def replay_dead_letter(record: dict[str, Any]) -> None:
    """Start a dead-lettered story again at the stage that failed."""
    stage = record.get("stage", "fetch")
    args = record.get("args") or [{}]
    if stage == "fetch" and "url" in args[0]:
        story_chain(FeedEntry.from_json(args[0])).apply_async()
    else:
        chain_from(stage if stage in CHAIN else "fetch", record["story_id"]).apply_async()


# --- reprocessing ----------------------------------------------------------------------------


@app.task(name="wirewatch.reprocess", bind=True, acks_late=True)
def reprocess(self: Task, job_id: str) -> dict[str, Any]:
    """One batch of a reprocess job, then back of the queue for the next: live stories are not starved."""
    rt = current()
    try:
        more = reprocess_jobs.run_batch(rt, job_id)
    except TransientError as exc:
        # No limit (Celery reads max_retries=None as its default of 3): allow one more each time.
        raise self.retry(
            exc=exc, countdown=backoff_s(self.request.retries, exc.retry_after), max_retries=self.request.retries + 1
        ) from exc
    except Exception as exc:  # noqa: BLE001 - the job is marked failed with the error; nothing is lost
        reprocess_jobs.ReprocessJobs(rt.redis).update(job_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        log.exception("reprocess %s failed", job_id)
        return {"job": job_id, "status": "failed"}
    if more:
        reprocess.apply_async(args=[job_id])
    return {"job": job_id, "more": more}
