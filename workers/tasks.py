"""Celery tasks: thin. Load, call the stage, save, hand on. Retry or dead-letter by exception type."""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import redis
from celery import Task, chain
from celery.exceptions import Ignore, Retry

from pipeline.boilerplate import remove_learned_boilerplate
from pipeline.clean import better_copy, clean
from pipeline.dedupe import dedupe, detect_wire, paragraph_changes
from pipeline.errors import DropStory, Gone, PermanentError, StageError, TransientError
from pipeline.extract import extract, extract_many
from pipeline.fetch import ParsedFeed, check_article, parse_feed, story_id_for, utc_now
from pipeline.index import story_document
from pipeline.models import CleanStory, DedupeResult, Extraction, FeedEntry, FetchedPage
from pipeline.polling import entry_version, items_per_day, newest_first, next_interval
from workers import reprocess as reprocess_jobs
from workers.adapters.frontier import FETCH as FRONTIER_FETCH
from workers.celery_app import app
from workers.dispatcher import enqueue_due_polls, host_of
from workers.indexing import flush, on_written
from workers.runtime import current
from workers.topology import PRIORITY

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 300.0


def backoff_s(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter; a server's Retry-After is a floor."""
    delay = random.uniform(0, min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt))
    return max(delay, retry_after or 0.0)


CHAIN = ("fetch", "clean", "dedupe", "extract", "index")


def story_chain(entry: FeedEntry, rt: Any = None) -> None:
    """Start a story: its fetch joins its host's line in the frontier (politeness decides when); a
    live story's at the front, by deadline with polls; backfill's in its feed's turn."""
    (rt or current()).frontier.add(host_of(entry.url), FRONTIER_FETCH, entry.story_id, entry.feed_url,
                                   live=not entry.backfill)


def chain_from(stage: str, story_id: str, entry: FeedEntry | None = None, backfill: bool = False) -> None:
    """Send the rest of a story's chain from ``stage`` on (fetch, replays and the reconciler start mid-way).

    Fetch goes through the frontier; clean and dedupe are one Celery chain on the process queue;
    extract is batched (dedupe hands each story to the extract line); index has its own queue. A
    backfill story starts at the back of the process queue and waits behind live ones for extraction.
    """
    rt = current()
    ref: dict[str, Any] = {"story_id": story_id}
    if backfill:
        ref["backfill"] = True
    if stage == "fetch":
        if entry is None:
            entry = FeedEntry.from_json(rt.stages.load("entry", story_id))
        story_chain(entry)
    elif stage == "clean":
        chain(clean_story.si(ref).set(priority=PRIORITY["backfill" if backfill else "wirewatch.clean"]),
              dedupe_story.si(ref).set(priority=PRIORITY["wirewatch.dedupe"])).apply_async()
    elif stage == "dedupe":
        dedupe_story.apply_async(args=[ref], priority=PRIORITY["wirewatch.dedupe"])
    elif stage == "extract":
        hand_to_extract([story_id], backfill=backfill)
    else:
        index_story.apply_async(args=[ref])


def hand_to_extract(story_ids: list[str], backfill: bool = False) -> None:
    """Stories wait in the extract line; a batch task is sent if fewer than one per child are out."""
    line = current().extract_line
    line.add(story_ids, backfill=backfill)
    while (token := line.schedule()) is not None:
        extract_story.apply_async(args=[{"batch": token}], priority=PRIORITY["wirewatch.extract"])


def _run_stage(
    task: Task, stage: str, story_id: str, work: Callable[[], str], record_ok: bool = True
) -> dict[str, str]:
    """Run one stage for one story, record its outcome, and decide what happens on failure."""
    ledger = current().ledger
    extra = {"story_id": story_id, "stage": stage, "task_id": task.request.id}
    try:
        cpu = time.thread_time()
        try:
            detail = work()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise TransientError(f"redis: {exc}") from exc
        finally:
            _account(stage, time.thread_time() - cpu)
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


def _account(stage: str, cpu_s: float, stories: int = 1) -> None:
    """CPU seconds spent in each stage (this thread's), for the status view and the benchmarks."""
    with contextlib.suppress(redis.RedisError):
        pipe = current().redis.pipeline()
        pipe.hincrbyfloat("ww:stats", f"cpu:{stage}", round(cpu_s, 6))
        pipe.hincrby("ww:stats", f"stories:{stage}", stories)
        pipe.execute()


def _dead_letter(task: Task, stage: str, story_id: str, exc: Exception, args: list[Any] | None = None) -> None:
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
            "args": args if args is not None else list(task.request.args or ()),
        }
    )
    log.error(
        "failed permanently: %s",
        exc,
        extra={"story_id": story_id, "stage": stage, "task_id": task.request.id, "outcome": "failed"},
    )


# --- feeds -----------------------------------------------------------------------------------

GONE_RECHECK_S = 86400.0  # a feed answering 410 is asked again once a day
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"


@app.task(name="wirewatch.dispatch_polls", bind=True, acks_late=True)
def dispatch_polls(self: Task) -> int:
    """Keep the schedule in step with feeds.yaml and move due feeds into their hosts' lines.

    Fetch workers' dispatchers do the second part the moment a feed falls due; this beat tick is the
    safety net, and the one place a changed feeds.yaml reaches the schedule.
    """
    rt = current()
    now = time.time()
    rt.feed_state.sync({f.url: f.interval_s for f in rt.feeds}, now)
    return enqueue_due_polls(rt, now)


@contextlib.contextmanager
def _frontier_slot(task: Task, slot: dict[str, Any] | None, url: str) -> Iterator[float]:
    """Hold one of the host's slots for one request and wait out its gap (in this thread), then give
    the slot back; yields the request's start time. Work handed out by the frontier brings its slot;
    a retry takes a fresh one."""
    frontier = current().frontier
    host = host_of(url)
    token = slot.get("token") if slot and not task.request.retries else None
    if token is None:
        token = frontier.acquire(host)
    try:
        yield frontier.wait_turn(host)
    finally:
        frontier.done(host, token)


@app.task(name="wirewatch.poll_feed", bind=True, acks_late=True)
def poll_feed(self: Task, feed_url: str, slot: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fetch one feed (conditionally), start the newest new or revised entries (up to the per-poll cap,
    the rest wait for later polls), schedule the next poll."""
    rt = current()
    now = time.time()
    state = rt.feed_state.get(feed_url)
    headers = {"Accept": FEED_ACCEPT}
    if state.get("etag"):
        headers["If-None-Match"] = state["etag"]
    if state.get("last_modified"):
        headers["If-Modified-Since"] = state["last_modified"]
    try:
        with _frontier_slot(self, slot, feed_url) as started_at:
            resp = rt.http.get(feed_url, headers=headers)
        parsed = None if resp.status == 304 else parse_feed(resp.body, feed_url, resp.headers.get("content-type", ""))
    except StageError as exc:
        failures = rt.feed_state.incr(feed_url, "consecutive_failures")
        rt.feed_state.incr(feed_url, "errors")
        delay = next_interval(rt.poll_policy, _configured(state), failures, None, random.Random())
        if isinstance(exc, TransientError) and exc.retry_after:
            delay = max(delay, exc.retry_after)  # the server asked us to wait
        if isinstance(exc, Gone):
            delay = max(delay, GONE_RECHECK_S)  # removed on purpose: look again rarely, in case it comes back
        rt.feed_state.update(
            feed_url,
            status="gone" if isinstance(exc, Gone) else "failing",
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
    _record_problems(feed_url, parsed)
    last_success = float(state["last_success"]) if state.get("last_success") else None
    new, revised, deferred = _start_entries(rt, feed_url, parsed.entries if parsed else (),
                                            first_poll=last_success is None)
    # Until a rate is known, start from the pace the configured interval implies: one empty poll soon
    # after the first lengthens the interval a step; it must not send the feed to the maximum at once.
    previous_rate = (
        float(state["items_per_day"])
        if state.get("items_per_day")
        else 86400.0 / (_configured(state) * rt.poll_policy.polls_per_item)
    )
    rate = items_per_day(previous_rate, new, now - last_success) if last_success else None
    delay = next_interval(rt.poll_policy, _configured(state), 0, rate, random.Random())
    if deferred:
        # Entries over the cap are taken on the following polls: come back at the shortest interval.
        delay = min(delay, rt.poll_policy.min_interval_s)
    due = float(state["next_due"]) if state.get("next_due") else None
    # How late this poll started against its due time, as a share of the interval it was scheduled at.
    overshoot = None
    if due and state.get("last_poll"):
        overshoot = max(0.0, started_at - due) / max(1.0, due - float(state["last_poll"]))
        overshoot = round(max(overshoot, float(state.get("max_overshoot") or 0.0)), 4)
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
        items_per_day=round(rate, 3) if rate is not None else None,
        next_due=now + delay,
        last_new=now if new else None,
        deferred=deferred,
        last_lateness_s=round(max(0.0, started_at - due), 3) if due else None,
        max_overshoot=overshoot,
    )
    rt.feed_state.schedule(feed_url, now + delay)
    log.info(
        "polled: %s, %d new, %d revised, %d deferred, next in %.0fs",
        "not modified" if parsed is None else f"{len(parsed.entries)} entries",
        new,
        revised,
        deferred,
        delay,
        extra={"feed": feed_url},
    )
    return {"feed": feed_url, "new": new, "revised": revised, "deferred": deferred, "not_modified": parsed is None}


def _start_entries(rt: Any, feed_url: str, entries: Sequence[FeedEntry], first_poll: bool = False
                   ) -> tuple[int, int, int]:
    """Start up to the per-poll cap of new or revised entries, newest first, from this poll and the ones
    deferred by earlier polls; defer the rest. Returns (new, revised, still deferred).

    What a feed's first poll finds is its history, and what waits over the cap is a backlog: both are
    started as backfill, behind live stories.

    The cap also bounds what a feed has waiting for its hosts: a poll starts no more than the cap less
    the feed's article fetches still in the frontier, so a 10,000-item archive keeps at most a cap's
    worth in its host's line (the rest waits, deferred, in one place) and leaves quickly if removed."""
    cap = rt.settings.max_new_per_poll
    versions = rt.ledger.seen_versions([e.story_id for e in entries])
    fresh = [e for e, seen in zip(entries, versions, strict=True) if seen != entry_version(e)]
    waiting = [FeedEntry.from_json(d) for d in rt.feed_state.deferred(feed_url, cap)]
    start, over = newest_first(fresh + waiting, max(0, cap - rt.frontier.outstanding(feed_url)))
    if first_poll or over or waiting:
        start = [replace(e, backfill=True) for e in start]
    new = revised = 0
    for entry in start:
        # Each entry is queued inside its own boundary: one that cannot be is recorded, the rest go on.
        try:
            seen = rt.ledger.sighting(entry.story_id, entry_version(entry), rt.settings.seen_ttl_s,
                                      json.dumps(entry.to_json()), rt.settings.stage_ttl_s)
            if seen == "same":
                continue
            rt.ledger.record(entry.story_id, "poll", "queued" if seen == "new" else "revision", entry.url,
                             feed=feed_url)
            story_chain(entry, rt)
        except (redis.ConnectionError, redis.TimeoutError):
            raise
        except Exception as exc:  # noqa: BLE001 - recorded against the item and its feed
            reason = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(redis.RedisError):
                rt.ledger.record(entry.story_id, "poll", "rejected", reason, feed=feed_url)
                rt.feed_state.incr(feed_url, "items_rejected")
            log.warning("entry not queued: %s", reason, extra={"feed": feed_url, "story_id": entry.story_id})
            continue
        new += seen == "new"
        revised += seen == "changed"
    rt.feed_state.undefer(feed_url, [e.story_id for e in start])
    still = rt.feed_state.defer(feed_url, [(e.story_id, json.dumps(e.to_json())) for e in over]) if over else (
        rt.feed_state.deferred_count(feed_url))
    return new, revised, still


def _record_problems(feed_url: str, parsed: ParsedFeed | None) -> None:
    """This poll's problems against the feed; each rejected item also in the trace of its link."""
    if parsed is None:  # 304: nothing was read, the last problems still stand
        return
    rt = current()
    for problem in parsed.rejected:
        if problem.trace_id:
            rt.ledger.record(problem.trace_id, "poll", "rejected", problem.detail, feed=feed_url)
    rt.feed_state.record_problems(feed_url, parsed.problems)


def _configured(state: dict[str, str]) -> float:
    return float(state.get("interval_s") or 300)


# --- the story chain -------------------------------------------------------------------------


@app.task(name="wirewatch.fetch_article", bind=True, acks_late=True)
def fetch_article(self: Task, entry_ref: dict[str, Any], slot: dict[str, Any] | None = None) -> dict[str, str]:
    """Fetch one article (its host's frontier slot is held for the request), then send the story on."""
    story_id = entry_ref["story_id"]

    def work() -> str:
        rt = current()
        # The frontier hands out the story id; the entry was stored when the poll first saw it.
        entry = FeedEntry.from_json(entry_ref if "url" in entry_ref else rt.stages.load("entry", story_id))
        with _frontier_slot(self, slot, entry.url):
            resp = rt.http.get(entry.url, headers={"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"})
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

    result = _run_stage(self, "fetch", story_id, work)
    chain_from("clean", story_id, backfill=bool(entry_ref.get("backfill")))
    return result


@app.task(name="wirewatch.clean", bind=True, acks_late=True)
def clean_story(self: Task, ref: dict[str, Any]) -> dict[str, str]:
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
def dedupe_story(self: Task, ref: dict[str, Any]) -> dict[str, str]:
    def work() -> str:
        rt = current()
        story = CleanStory.from_json(rt.stages.load("clean", ref["story_id"]))
        copies = _holding_page(story)
        previous = _stage_or_none("dedupe", story.story_id)
        # A better copy of this page arrived after a worse one went on: it takes that one's place.
        result = dedupe(story, rt.dedupe_state, rt.dedupe_options, displaced=sorted(copies))
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
            canonical = _stage_or_none("clean", result.canonical_story_id)
            if canonical is not None:
                diff = paragraph_changes(canonical["text"], story.text)
                changes = {
                    "added": list(diff.added),
                    "removed": list(diff.removed),
                    "changed": [list(pair) for pair in diff.changed],
                }
            if not wire and (first := _stage_or_none("dedupe", result.canonical_story_id)) is not None:
                wire = first.get("wire", "")
        result = replace(result, wire=wire, changes=changes)
        rt.stages.save("dedupe", story.story_id, result.to_json())
        if result.is_canonical:
            return f"{result.match}: canonical of its cluster" + (
                f" {result.cluster_id}" if result.canonical_id else "") + (f", wire {wire}" if wire else "")
        return f"{result.match} copy of {result.canonical_story_id} (similarity {result.similarity})"

    result = _run_stage(self, "dedupe", ref["story_id"], work)
    hand_to_extract([ref["story_id"]], backfill=bool(ref.get("backfill")))
    return result


def _holding_page(story: CleanStory) -> set[str]:
    """The stories recorded as copies of this one's page, if it still holds the page; a story a better copy
    displaced meanwhile goes no further (DropStory)."""
    [(holder, copies)] = current().ledger.canonical_claims([story_id_for(story.canonical_url)])
    if holder is not None and holder != story.story_id:
        raise DropStory("duplicate_url", f"{story.canonical_url}: a copy of story {holder}, the better copy")
    return copies


def _indexed_before(story_id: str) -> bool:
    return any(e.get("stage") == "index" and e.get("outcome") == "ok" for e in current().ledger.trace(story_id))


def _stage_or_none(stage: str, story_id: str) -> dict[str, Any] | None:
    try:
        return current().stages.load(stage, story_id)
    except PermanentError:
        return None


@app.task(name="wirewatch.extract", bind=True, acks_late=True)
def extract_story(self: Task, ref: dict[str, str]) -> dict[str, Any]:
    """Extract the stories waiting in the extract line, batched through one ``nlp.pipe``, and send each
    on to the index. ``ref`` is a batch token (or, from an old message, one story id)."""
    rt = current()
    if "batch" not in ref:
        hand_to_extract([ref["story_id"]])
        return {"handed_over": ref["story_id"]}
    token = ref["batch"]
    try:
        ids = rt.extract_line.take(token)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise self.retry(exc=exc, countdown=backoff_s(self.request.retries),
                         max_retries=self.request.retries + 1) from exc
    done: list[str] = []
    try:
        stories = {}
        for sid in ids:
            try:
                stories[sid] = CleanStory.from_json(rt.stages.load("clean", sid))
            except Exception as exc:  # noqa: BLE001 - recorded against the story, the batch goes on
                _batch_failure(self, "extract", sid, exc)
        cpu = time.thread_time()
        try:
            results = list(extract_many(list(stories.values()), rt.nlp, rt.extract_options))
        except Exception:  # noqa: BLE001 - one bad story must not fail the others: go one by one
            log.exception("batched extraction failed; extracting one story at a time")
            results = []
            for story in stories.values():
                try:
                    results.append(extract(story, rt.nlp, rt.extract_options))
                except Exception as exc:  # noqa: BLE001
                    _batch_failure(self, "extract", story.story_id, exc)
        for result in results:
            if _save_extraction(self, result):
                done.append(result.story_id)
        _account("extract", time.thread_time() - cpu, len(stories))
    finally:
        rt.extract_line.finish(token, ids)
    for sid in done:
        index_story.apply_async(args=[{"story_id": sid}])
    hand_to_extract([])  # more may have arrived while this batch ran
    return {"batch": len(ids), "extracted": len(done)}


def _save_extraction(task: Task, result: Extraction) -> bool:
    sid = result.story_id
    try:
        current().stages.save("extract", sid, result.to_json())
        detail = result.skipped or (
            f"{len(result.entities)} entities, {len(result.claims)} claims, topic {result.topic_score}"
        )
        current().ledger.record(sid, "extract", "ok", detail)
        current().ledger.in_flight(sid, "extract")
    except Exception as exc:  # noqa: BLE001
        _batch_failure(task, "extract", sid, exc)
        return False
    log.info("extract done: %s", detail, extra={"story_id": sid, "stage": "extract", "task_id": task.request.id,
                                                 "outcome": "ok"})
    return True


def _batch_failure(task: Task, stage: str, story_id: str, exc: Exception) -> None:
    """A story of a batch failed: a transient error sends it back to wait for a later batch (up to the
    retry limit), anything else is a dead-letter record; the rest of the batch goes on."""
    if isinstance(exc, redis.RedisError):
        exc = TransientError(f"redis: {exc}")
    if isinstance(exc, TransientError):
        with contextlib.suppress(redis.RedisError):
            attempts = int(current().redis.hincrby(f"ww:batch:{stage}:attempts", story_id, 1))
            if attempts <= current().settings.task_max_retries:
                current().ledger.record(story_id, stage, "retrying", str(exc), attempt=attempts)
                current().redis.hincrby("ww:stats", "requeued", 1)
                current().extract_line.add([story_id])
                return
    _dead_letter(task, stage, story_id, exc, args=[{"story_id": story_id}])


def _is_news(rt: Any, story_id: str) -> bool:
    """Whether the story came in as news (searchable at once) rather than backfill or a replay."""
    try:
        return not rt.stages.load("entry", story_id).get("backfill")
    except PermanentError:  # no entry kept (a replay after it expired): no hurry
        return False


@app.task(name="wirewatch.index", bind=True, acks_late=True)
def index_story(self: Task, ref: dict[str, str]) -> dict[str, str]:
    """Queue the story's document for the next bulk write, and write the queue if no one else is."""

    def work() -> str:
        rt = current()
        sid = ref["story_id"]
        story = CleanStory.from_json(rt.stages.load("clean", sid))
        _holding_page(story)  # (the bulk writer checks again: a better copy may come while this one waits)
        doc = story_document(
            story,
            DedupeResult.from_json(rt.stages.load("dedupe", sid)),
            Extraction.from_json(rt.stages.load("extract", sid)),
            indexed_at=utc_now(),
        )
        rt.index_queue.push(doc, live=_is_news(rt, sid))
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
    # A batch whose worker died frees its place when its lease ends: send the next one if stories wait.
    hand_to_extract([])
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
            if entry is not None and rt.frontier.holds(host_of(entry.url), FRONTIER_FETCH, story_id, entry.feed_url):
                rt.ledger.in_flight(story_id, last_stage)  # waiting its turn at a busy host: not stuck
                continue
            chain_from(following, story_id, entry)
        except PermanentError as exc:
            rt.ledger.record(story_id, following, "failed", str(exc))
            rt.ledger.settle(story_id)
            continue
        rt.ledger.record(story_id, following, "requeued", f"stuck after {last_stage}; restart {attempts + 1}")
        rt.ledger.in_flight(story_id, last_stage, restarted=True)
        requeued += 1
    try:
        reconcile_webhooks()
    except redis.RedisError:
        log.warning("could not look for undelivered webhooks", exc_info=True)
    return requeued


def replay_dead_letter(record: dict[str, Any]) -> None:
    """Start a dead-lettered story again at the stage that failed."""
    stage = record.get("stage", "fetch")
    args = record.get("args") or [{}]
    if stage == "fetch" and "url" in args[0]:
        story_chain(FeedEntry.from_json(args[0]))
    else:
        chain_from(stage if stage in CHAIN else "fetch", record["story_id"])


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


# --- watches ---------------------------------------------------------------------------------

# The matcher runs beside the bulk writer (issue 14 gives each kind of work its queue). Webhooks wait on
# other people's servers: a queue of their own, so they never hold up indexing and never wait behind
# the stories' backlog (it belongs with the network-bound pool when queues by kind land).
MATCH_QUEUE = "index"
WEBHOOK_QUEUE = "webhooks"


def hand_to_watches(story_ids: list[str]) -> None:
    """Called by the bulk writer after each written batch: match it against the watches, in a task."""
    match_watches.apply_async(args=[story_ids], queue=MATCH_QUEUE)


on_written(hand_to_watches)


def _written_document(story_id: str) -> dict[str, Any] | None:
    """The document as the bulk writer wrote it, rebuilt from the stage results still in Redis.

    Not read back from the index: a search there sees a write only after the next refresh, and the
    matcher runs right after the write. The index is the fallback when the stage results expired.
    """
    rt = current()
    try:
        return story_document(
            CleanStory.from_json(rt.stages.load("clean", story_id)),
            DedupeResult.from_json(rt.stages.load("dedupe", story_id)),
            Extraction.from_json(rt.stages.load("extract", story_id)),
            indexed_at=utc_now(),
        )
    except PermanentError:
        return rt.index.get(story_id)


def _first_seen(story_ids: list[str]) -> dict[str, float]:
    """When each story's feed entry was first seen (the start of seen -> alert)."""
    ledger = current().ledger
    out: dict[str, float] = {}
    for sid in story_ids:
        polls = [float(e["t"]) for e in ledger.trace(sid) if e.get("stage") == "poll"]
        if polls:
            out[sid] = min(polls)
    return out


@app.task(name="wirewatch.match_watches", bind=True, acks_late=True)
def match_watches(self: Task, story_ids: list[str]) -> dict[str, Any]:
    """Match newly written stories against every watch; record each event once; start webhook deliveries."""
    rt = current()
    try:
        docs = [doc for sid in story_ids if (doc := _written_document(sid)) is not None]
        recorded = rt.watch_matcher.match(docs, _first_seen([d["story_id"] for d in docs]))
        hooked = [n for n in sorted({r.event.watch for r in recorded})
                  if (w := rt.watch_matcher.watch(n)) is not None and w.webhook_url]
        _schedule_webhooks(hooked)
    except (TransientError, redis.ConnectionError, redis.TimeoutError) as exc:
        if self.request.retries < rt.settings.task_max_retries:
            raise self.retry(exc=exc, countdown=backoff_s(self.request.retries),
                             max_retries=rt.settings.task_max_retries) from exc
        log.error("watch matching gave up on %d stories: %s", len(story_ids), exc)
        return {"stories": len(story_ids), "error": str(exc)}
    log.info("matched %d stories against the watches: %d events", len(docs), len(recorded))
    return {"stories": len(docs), "events": len(recorded)}


WEBHOOK_BUDGET_S = 2.0  # one delivery task keeps sending what arrives for this long, then hands over


def _schedule_webhooks(names: list[str]) -> None:
    """One delivery task for the watches that have none queued (a flag per watch: no pile of tasks)."""
    log_ = current().watch_log
    due = [n for n in names if log_.schedule(n, current().settings.watch_webhook_backoff_max_s)]
    if due:
        deliver_webhooks.apply_async(args=[due], queue=WEBHOOK_QUEUE)


@app.task(name="wirewatch.deliver_webhooks", bind=True, acks_late=True)
def deliver_webhooks(self: Task, names: list[str]) -> dict[str, Any]:
    """Post the watches' undelivered events to their webhooks, in order; a failing one backs off alone."""
    from workers.watches import deliver_webhook

    rt = current()
    deadline = time.monotonic() + WEBHOOK_BUDGET_S
    sent = summarised = 0
    todo = list(names)
    while todo:
        again = []
        for name in todo:
            watch = rt.watch_store.get(name)
            if watch is None or not watch.webhook_url:
                rt.watch_log.unschedule(name)
                continue
            out = deliver_webhook(watch, rt.watch_log, rt.webhook_client, rt.settings.watch_backlog_max,
                                  uuid.uuid4().hex)
            sent, summarised = sent + out.sent, summarised + out.summarised
            if out.busy:
                continue  # the worker holding it delivers, and clears the flag
            if out.pending:
                failures = int(rt.watch_log.hook_state(name).get("consecutive_failures", "1"))
                delay = min(rt.settings.watch_webhook_backoff_max_s,
                            max(backoff_s(failures - 1), out.retry_after or 0.0))
                rt.watch_log.reschedule(name, delay + 120)  # the reconciler takes over if this message is lost
                log.warning("webhook of watch %s failed (%d in a row), next try in %.1fs: %s", name, failures,
                            delay, out.error)
                deliver_webhooks.apply_async(args=[[name]], countdown=delay, queue=WEBHOOK_QUEUE)
                continue
            if rt.watch_log.pending(name, 1)[1]:
                again.append(name)  # more arrived while posting
            else:
                rt.watch_log.unschedule(name)
                # An event recorded between the check and the unschedule found the flag set: look once more.
                if rt.watch_log.pending(name, 1)[1] and rt.watch_log.schedule(name, 60):
                    again.append(name)
        todo = again
        if todo and time.monotonic() > deadline:
            deliver_webhooks.apply_async(args=[todo], queue=WEBHOOK_QUEUE)  # the flags stay set: it carries them
            break
    return {"watches": len(names), "sent": sent, "summarised": summarised}


def reconcile_webhooks() -> int:
    """Restart deliveries whose task was lost (a worker restart): any watch with undelivered events."""
    rt = current()
    lost = [w.name for w in rt.watch_store.all()
            if w.webhook_url and rt.watch_log.last_seq(w.name) > rt.watch_log.delivered_through(w.name)]
    _schedule_webhooks(lost)
    return len(lost)
