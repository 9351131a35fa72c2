"""One contract for the Redis adapters, on Debian's redis-server and on the embedded server."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pipeline.errors import PermanentError
from workers.adapters.redis_state import (
    RedisDedupeState,
    RedisEntryLedger,
    RedisFeedState,
    RedisStageStore,
    connect,
)


@pytest.fixture(params=["redis-server", "embedded"])
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    value = request.getfixturevalue("redis_url" if request.param == "redis-server" else "embedded_redis_url")
    client = connect(value)
    client.flushdb()
    yield value
    client.flushdb()
    client.close()


def test_stage_store_round_trip_with_ttl(url: str) -> None:
    client = connect(url)
    store = RedisStageStore(client, ttl_s=120)
    store.save("clean", "s1", {"title": "Jets", "n": 3})
    assert store.load("clean", "s1") == {"title": "Jets", "n": 3}
    assert 0 < client.ttl("ww:stage:clean:s1") <= 120
    with pytest.raises(PermanentError):
        store.load("clean", "nope")


def test_dedupe_claim_first_wins_and_expires_with_window(url: str) -> None:
    client = connect(url)
    state = RedisDedupeState(client, window_s=60)
    assert state.claim("hash1", "first") == "first"
    assert state.claim("hash1", "second") == "first"
    assert state.claim("hash2", "second") == "second"
    assert 0 < client.ttl("ww:dedupe:exact:hash1") <= 60


def _claim_many(args: tuple[str, int]) -> list[str]:
    url, worker = args
    state = RedisDedupeState(connect(url), window_s=60)
    return [state.claim(f"race-{i}", f"w{worker}-{i}") for i in range(200)]


def test_dedupe_race_between_processes_ends_in_one_cluster(url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.map(_claim_many, [(url, w) for w in range(4)])
    for i in range(200):
        holders = {r[i] for r in results}
        assert len(holders) == 1, f"copy race-{i} ended in {holders}"


def test_ledger_first_sighting_once_and_trace(url: str) -> None:
    ledger = RedisEntryLedger(connect(url))
    assert ledger.first_sighting("s1") is True
    assert ledger.first_sighting("s1") is False
    ledger.record("s1", "fetch", "ok", "1200 bytes")
    ledger.record("s1", "clean", "too_short", "main text has 12 characters")
    trace = ledger.trace("s1")
    assert [(e["stage"], e["outcome"]) for e in trace] == [("fetch", "ok"), ("clean", "too_short")]
    assert ledger.outcome_counts() == {"fetch:ok": 1, "clean:too_short": 1}
    ledger.dead_letter({"stage": "index", "story_id": "s1", "error": "boom"})
    assert ledger.dead_letters()[0]["error"] == "boom"


def test_feed_state(url: str) -> None:
    feeds = RedisFeedState(connect(url))
    feeds.update("https://f.example/rss", etag='"abc"', status="ok", skipped=None)
    assert feeds.incr("https://f.example/rss", "errors") == 1
    state: dict[str, Any] = feeds.all()["https://f.example/rss"]
    assert state == {"etag": '"abc"', "status": "ok", "errors": "1"}


def test_unix_socket_and_tcp_urls_both_work(url: str) -> None:
    assert isinstance(connect(url), redis.Redis)
    assert connect(url).ping() is True
