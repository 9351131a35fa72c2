"""Bulk indexing: documents wait in a Redis list; one worker at a time flushes them in batches.

The index task pushes its document and then tries to become the flusher (a short lock in Redis).
The flusher drains the list in batches bounded by count and bytes, writes each batch with one bulk
request, and removes a batch from the list only after the write, so a flusher that dies loses
nothing (the next one writes the same ids again, which is harmless). After releasing the lock it
looks at the list once more, which closes the gap where a document arrives just as it finishes.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from pipeline.errors import PermanentError, TransientError
from pipeline.fetch import story_id_for
from pipeline.ports import StoryIndex
from workers.adapters.redis_state import KEY, RedisEntryLedger

log = logging.getLogger(__name__)

_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# Trim written documents only while still holding the lock, and extend it: a flusher whose lock ran
# out (a slow bulk request) must not remove documents another flusher has not written yet.
_DROP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[2], tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


@dataclass(frozen=True)
class BatchLimits:
    max_docs: int = 500
    max_bytes: int = 8 * 1024 * 1024
    linger_s: float = 0.05  # wait this long for company before writing a small batch
    # A flusher that dies (or a lock restored from the AOF after a Redis restart) holds the lock no
    # longer than this; a live flusher renews it per batch. Writes are fenced by the lock's token
    # (only the holder may trim the queue), so a lapsed lock costs a rewrite, never a loss.
    lock_s: float = 5.0
    # After writing a live story (news, not backfill) the writer makes it searchable at once (an
    # index refresh) instead of leaving it to the index's periodic refresh (1 s): searchable ~0.1 s
    # after its write rather than 0.5 s on average and up to 1 s. Refreshes are paced at most one
    # per this many seconds (the writer waits out the rest, and documents arriving meanwhile join
    # its next batch). Backfill and reprocessing ride the periodic refresh: a feed's history needs
    # no instant search, and throughput does not pay for it. 0 leaves everything to the periodic one.
    refresh_gap_s: float = 0.25


class IndexQueue:
    """Pending documents in a Redis list, shared by every worker."""

    def __init__(self, client: redis.Redis, name: str = f"{KEY}index:pending") -> None:
        self._r = client
        self.name = name
        self._lock = f"{name}:lock"
        self._release = client.register_script(_RELEASE)
        self._drop = client.register_script(_DROP)

    def push(self, doc: Mapping[str, Any], live: bool = False) -> None:
        """Queue a document; ``live`` (news, not backfill) asks the writer to make it searchable at once."""
        try:
            pipe = self._r.pipeline(transaction=True)  # the writer sees the document and its mark together
            pipe.rpush(self.name, json.dumps(doc))
            if live:
                pipe.set(f"{self.name}:live", 1)
            pipe.execute()
        except redis.ConnectionError as exc:
            raise TransientError(f"redis: {exc}") from exc

    def take_live(self) -> bool:
        """Whether a live document was queued since the last look (and forget it)."""
        return bool(self._r.getdel(f"{self.name}:live"))

    def also_write_to(self) -> str | None:
        """During a rebuild, the new version that live writes go to as well."""
        value = self._r.get(f"{KEY}index:also")
        return value.decode() if value else None

    def set_also_write_to(self, index: str | None) -> None:
        if index:
            self._r.set(f"{KEY}index:also", index)
        else:
            self._r.delete(f"{KEY}index:also")

    def pending(self) -> int:
        return int(self._r.llen(self.name))

    def last_refresh(self) -> float:
        """When a writer last refreshed the index after a write (0: not lately)."""
        return float(self._r.get(f"{self.name}:refreshed") or 0.0)

    def mark_refresh(self, at: float, keep_s: float) -> None:
        self._r.set(f"{self.name}:refreshed", at, px=max(1, int(keep_s * 1000)))

    def acquire(self, limits: BatchLimits) -> str | None:
        token = uuid.uuid4().hex
        return token if self._r.set(self._lock, token, nx=True, px=int(limits.lock_s * 1000)) else None

    def release(self, token: str) -> None:
        self._release(keys=[self._lock], args=[token])

    def peek(self, limits: BatchLimits) -> list[bytes]:
        raw: list[bytes] = self._r.lrange(self.name, 0, limits.max_docs - 1)
        batch, size = [], 0
        for item in raw:
            if batch and size + len(item) > limits.max_bytes:
                break
            batch.append(item)
            size += len(item)
        return batch

    def drop(self, count: int, token: str, limits: BatchLimits) -> bool:
        """Remove the first ``count`` documents (written) if this flusher still holds the lock; renews it."""
        return bool(self._drop(keys=[self._lock, self.name], args=[token, count, int(limits.lock_s * 1000)]))


# Called with the ids of each batch written successfully (the watch matcher enqueues its task here).
# A hook never fails indexing: the documents are written; matching is a follower, not a stage.
_written_hooks: list[Callable[[list[str]], None]] = []


def on_written(hook: Callable[[list[str]], None]) -> None:
    """Register a function called with the story ids of every batch the bulk writer wrote."""
    if hook not in _written_hooks:
        _written_hooks.append(hook)


def _notify_written(story_ids: list[str]) -> None:
    for hook in _written_hooks if story_ids else ():
        try:
            hook(story_ids)
        except Exception:  # noqa: BLE001 - see above: logged, and indexing goes on
            log.warning("a hook on written stories failed", exc_info=True)


def _page_key(doc: Mapping[str, Any]) -> str | None:
    try:
        return story_id_for(doc.get("canonical_url") or doc["url"])
    except (KeyError, TypeError, ValueError, PermanentError):  # not a URL the chain would have claimed
        return None


def sort_out(
    docs: list[dict[str, Any]], ledger: RedisEntryLedger
) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, str]]:
    """Split a batch by who holds each document's page (its canonical URL), asked of the ledger now:
    (documents to write; documents not to write, a better copy holds their page: id -> holder; stories to
    take out of the index, a story no longer the holder or a displaced copy of a page written: id -> holder).

    Asked here, inside the single writer and in queue order, so a worse copy queued before a better one
    displaced it is never written after the better copy took it out, whatever the timing.
    """
    keys = [_page_key(d) for d in docs]
    known = sorted({k for k in keys if k})
    claims = dict(zip(known, ledger.canonical_claims(known), strict=True))
    keep: list[dict[str, Any]] = []
    dropped: dict[str, str] = {}
    remove: dict[str, str] = {}
    for doc, key in zip(docs, keys, strict=True):
        sid = doc["story_id"]
        holder, copies = claims.get(key or "", (None, set()))
        if holder is not None and holder != sid:
            dropped[sid] = remove[sid] = holder
            continue
        keep.append(doc)
        for copy in copies:
            remove.setdefault(copy, sid)
    for doc in keep:
        remove.pop(doc["story_id"], None)
    return keep, dropped, remove


def _paced_refresh(queue: IndexQueue, index: StoryIndex, limits: BatchLimits) -> None:
    """Make what was just written searchable, no sooner than ``refresh_gap_s`` after the last
    refresh by any writer (called by the lock holder only, so writers never race on the mark)."""
    if limits.refresh_gap_s <= 0:
        return
    try:
        wait = queue.last_refresh() + limits.refresh_gap_s - time.time()
        if wait > 0:
            time.sleep(min(wait, limits.refresh_gap_s))
        queue.mark_refresh(time.time(), keep_s=limits.refresh_gap_s * 4)
        index.refresh()
    except Exception as exc:  # noqa: BLE001 - written is written: the periodic refresh shows it soon
        log.warning("refresh after the bulk write failed (the index's periodic refresh will show it): %s", exc)


def flush(queue: IndexQueue, index: StoryIndex, ledger: RedisEntryLedger, limits: BatchLimits) -> int:
    """Write pending documents if no other worker is; returns how many this call wrote."""
    written = 0
    while True:
        token = queue.acquire(limits)
        if token is None:
            return written  # the flusher at work will see our document (see the module doc)
        try:
            if limits.linger_s and queue.pending() < limits.max_docs:
                time.sleep(limits.linger_s)
            live = False  # a live document was queued: refresh once the queue is written
            while True:
                live = queue.take_live() or live  # looked at before the batch, so its documents are in it
                if not (batch := queue.peek(limits)):
                    break
                docs = [json.loads(item) for item in batch]
                keep, dropped, remove = sort_out(docs, ledger)
                errors = index.put_many(keep) if keep else {}
                also = queue.also_write_to()
                if also and hasattr(index, "put_many_to"):
                    # A rebuild is filling a new version: live stories must be in it too.
                    errors.update(index.put_many_to(also, [d for d in keep if d["story_id"] not in errors]))
                removed = index.delete(remove) if remove else set()
                if remove and also and hasattr(index, "delete_from"):
                    index.delete_from(also, remove)
                if not queue.drop(len(batch), token, limits):
                    log.warning("bulk writer lost its lock mid-way; the next writer rewrites this batch")
                    return written
                for sid, holder in remove.items():
                    if sid in removed and sid not in dropped:
                        ledger.record(sid, "index", "removed", f"taken out of the index: story {holder} is a "
                                                                f"better copy of its page")
                for sid, holder in dropped.items():
                    gone = " (taken out of the index)" if sid in removed else ""
                    ledger.record(sid, "index", "duplicate_url",
                                  f"not indexed: story {holder} is a better copy of its page{gone}")
                    ledger.settle(sid)
                for doc in keep:
                    sid = doc["story_id"]
                    if sid in errors:
                        ledger.record(sid, "index", "failed", errors[sid])
                        ledger.dead_letter(
                            {
                                "t": time.time(),
                                "stage": "index",
                                "story_id": sid,
                                "error": errors[sid],
                                "attempts": 1,
                                "args": [{"story_id": sid}],
                            }
                        )
                    else:
                        ledger.record(sid, "index", "ok", f"indexed as {sid}")
                    ledger.settle(sid)
                _notify_written([d["story_id"] for d in keep if d["story_id"] not in errors])
                written += len(docs)
                log.info("bulk wrote %d documents (%d failed)", len(docs), len(errors))
            if live:
                _paced_refresh(queue, index, limits)
        finally:
            queue.release(token)
        if queue.pending() == 0:
            return written
