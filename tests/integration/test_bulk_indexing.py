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
