"""Feed schedule, deferred entries and entry ledger on a real Redis (the frontier: test_frontier.py)."""

from __future__ import annotations

import threading

import redis

from workers.adapters.redis_state import RedisEntryLedger, RedisFeedState, connect


def _fresh(url: str) -> redis.Redis:
    client = connect(url)
    client.flushdb()
    return client


def test_schedule_sync_take_due_and_lease(redis_url: str) -> None:
    feeds = RedisFeedState(_fresh(redis_url))
    feeds.sync({"https://a.example/rss": 300, "https://b.example/rss": 60}, now=1000)
    assert sorted(feeds.take_due(1000, lease_s=120)) == ["https://a.example/rss", "https://b.example/rss"]
    assert feeds.take_due(1001, lease_s=120) == []  # leased: not handed out twice
    assert sorted(feeds.take_due(1121, lease_s=120)) == ["https://a.example/rss", "https://b.example/rss"]
    feeds.schedule("https://a.example/rss", 5000)
    assert feeds.take_due(2000, lease_s=120) == ["https://b.example/rss"]
    assert feeds.get("https://a.example/rss")["interval_s"] == "300"
    # Removing a feed from the configuration removes it from the schedule.
    feeds.sync({"https://a.example/rss": 300}, now=6000)
    assert feeds.take_due(10_000, lease_s=120) == ["https://a.example/rss"]
    assert feeds.next_due("https://b.example/rss") is None


def test_concurrent_dispatchers_never_hand_out_a_feed_twice(redis_url: str) -> None:
    feeds = RedisFeedState(_fresh(redis_url))
    feeds.sync({f"https://f{i}.example/rss": 300 for i in range(500)}, now=0)
    taken: list[str] = []
    lock = threading.Lock()

    def dispatcher() -> None:
        got = RedisFeedState(connect(redis_url)).take_due(10, lease_s=300, limit=50)
        with lock:
            taken.extend(got)

    threads = [threading.Thread(target=dispatcher) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == len(set(taken)) == 500


def test_entry_ledger_new_changed_same(redis_url: str) -> None:
    ledger = RedisEntryLedger(_fresh(redis_url))
    assert ledger.sighting("s1", "v1", ttl_s=60) == "new"
    assert ledger.sighting("s1", "v1", ttl_s=60) == "same"
    assert ledger.sighting("s1", "v2", ttl_s=60) == "changed"
    assert ledger.sighting("s1", "v2", ttl_s=60) == "same"
    assert 0 < connect(redis_url).ttl("ww:seen:s1") <= 60
    assert ledger.claim_canonical("c1", "s1", 60) == "s1"
    assert ledger.claim_canonical("c1", "s2", 60) == "s1"
