"""Bulk indexing through the Redis queue, on both index backends."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from pipeline.ports import StoryIndex
from tests.integration.test_index_contract import make_doc, story_index  # noqa: F401 - the fixture
from workers.adapters.redis_state import RedisEntryLedger, connect
from workers.indexing import BatchLimits, IndexQueue, flush


def _bad_doc(index: StoryIndex) -> dict[str, Any]:
    doc = make_doc("bad", "A document the index must refuse.")
    if type(index).__name__ == "ElasticsearchIndex":
        doc["published"] = "the day after tomorrow"  # not a date: the strict mapping refuses it
    else:
        del doc["cluster"]  # the embedded index needs the cluster
    return doc


def test_batch_written_and_one_bad_document_fails_alone(story_index: StoryIndex, redis_url: str) -> None:  # noqa: F811
    client = connect(redis_url)
    client.flushdb()
    queue, ledger = IndexQueue(client), RedisEntryLedger(client)
    for i in range(30):
        queue.push(make_doc(f"b{i}", f"Bulk story number {i} about Kaliningrad."))
    queue.push(_bad_doc(story_index))
    written = flush(queue, story_index, ledger, BatchLimits(max_docs=7, linger_s=0))
    story_index.refresh()
    assert written == 31 and queue.pending() == 0
    assert story_index.count() == 30
    assert ledger.trace("bad")[-1]["outcome"] == "failed"
    assert ledger.trace("b3")[-1] == {**ledger.trace("b3")[-1], "stage": "index", "outcome": "ok"}
    assert [d["story_id"] for d in ledger.dead_letters()] == ["bad"]


def test_concurrent_pushers_lose_nothing(story_index: StoryIndex, redis_url: str) -> None:  # noqa: F811
    client = connect(redis_url)
    client.flushdb()
    queue, ledger = IndexQueue(client), RedisEntryLedger(client)

    def worker(w: int) -> None:
        for i in range(25):
            queue.push(make_doc(f"w{w}-{i}", f"Story {i} from worker {w}."))
            flush(queue, story_index, ledger, BatchLimits(max_docs=10, linger_s=0.001))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    story_index.refresh()
    assert queue.pending() == 0
    assert story_index.count() == 100


def test_nothing_is_lost_when_the_index_is_down(story_index: StoryIndex, redis_url: str) -> None:  # noqa: F811
    from pipeline.errors import TransientError

    class Down:
        def put_many(self, docs: Any) -> dict[str, str]:
            raise TransientError("Elasticsearch answered 503")

    client = connect(redis_url)
    client.flushdb()
    queue, ledger = IndexQueue(client), RedisEntryLedger(client)
    queue.push(make_doc("d1", "Waiting for the index to come back."))
    with pytest.raises(TransientError):
        flush(queue, Down(), ledger, BatchLimits(linger_s=0))  # type: ignore[arg-type]
    assert queue.pending() == 1
    assert flush(queue, story_index, ledger, BatchLimits(linger_s=0)) == 1
    story_index.refresh()
    assert story_index.present(["d1"]) == {"d1"}


def test_a_written_story_is_searchable_when_the_writer_returns_without_waiting_for_the_periodic_refresh(
        es_url: str, es_prefix: str, redis_url: str) -> None:
    from tests.integration.test_index_contract import REPO
    from workers.adapters.elasticsearch_index import ElasticsearchIndex, make_client

    index = ElasticsearchIndex(make_client(es_url), REPO / "config" / "index-template.json", es_prefix)
    index.ensure_ready()
    # No periodic refresh at all: only the writer's own refresh can make a story searchable.
    index._es.indices.put_settings(index=index.read_alias, settings={"refresh_interval": "-1"})  # noqa: SLF001
    client = connect(redis_url)
    client.flushdb()
    queue, ledger = IndexQueue(client), RedisEntryLedger(client)
    queue.push(make_doc("quiet1", "Refresh left to the index: not searchable yet."), live=True)
    flush(queue, index, ledger, BatchLimits(linger_s=0, refresh_gap_s=0))
    assert index.present(["quiet1"]) == set()
    # Backfill (a feed's history) rides the periodic refresh, even with the shipped limits.
    queue.push(make_doc("old1", "A story from a feed's history."))
    flush(queue, index, ledger, BatchLimits(linger_s=0))
    assert index.present(["quiet1", "old1"]) == set()
    # News: searchable the moment its writer returns, and so is everything written before it.
    queue.push(make_doc("old2", "Another story from the history."))
    queue.push(make_doc("live1", "A live story, searchable the moment its writer returns."), live=True)
    flush(queue, index, ledger, BatchLimits(linger_s=0, max_docs=1))  # the shipped limits, one document a batch
    assert index.present(["quiet1", "old1", "old2", "live1"]) == {"quiet1", "old1", "old2", "live1"}


def test_refreshes_after_live_writes_are_paced_and_a_failed_refresh_loses_nothing(redis_url: str) -> None:
    import time

    from pipeline.errors import TransientError

    class Recording:
        """An index that takes every write and notes when it was asked to refresh."""

        def __init__(self, fail: bool = False) -> None:
            self.written: list[str] = []
            self.refreshes: list[float] = []
            self.fail = fail

        def put_many(self, docs: Any) -> dict[str, str]:
            self.written += [d["story_id"] for d in docs]
            return {}

        def refresh(self) -> None:
            self.refreshes.append(time.time())
            if self.fail:
                raise TransientError("Elasticsearch answered 503")

    client = connect(redis_url)
    client.flushdb()
    queue, ledger = IndexQueue(client), RedisEntryLedger(client)
    index = Recording()
    limits = BatchLimits(linger_s=0, refresh_gap_s=0.3)
    for i in range(4):  # four writes back to back: each is refreshed, no two refreshes closer than the gap
        queue.push(make_doc(f"p{i}", f"Story {i}."), live=True)
        assert flush(queue, index, ledger, limits) == 1  # type: ignore[arg-type]
    assert index.written == ["p0", "p1", "p2", "p3"] and len(index.refreshes) == 4
    gaps = [b - a for a, b in zip(index.refreshes, index.refreshes[1:], strict=False)]
    assert min(gaps) >= 0.29, gaps
    queue.push(make_doc("b1", "Backfill: no refresh of its own."))
    assert flush(queue, index, ledger, limits) == 1  # type: ignore[arg-type]
    assert index.written[-1] == "b1" and len(index.refreshes) == 4
    # The refresh fails (the index is struggling): the write stands, the queue is drained, nothing raises.
    failing = Recording(fail=True)
    queue.push(make_doc("f1", "Written, then the refresh fails."), live=True)
    assert flush(queue, failing, ledger, limits) == 1  # type: ignore[arg-type]
    assert failing.written == ["f1"] and len(failing.refreshes) == 1 and queue.pending() == 0
    assert ledger.trace("f1")[-1]["outcome"] == "ok"
