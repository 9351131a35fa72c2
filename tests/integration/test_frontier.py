"""The per-host frontier and the extract batch line on a real Redis, with a controlled clock."""

from __future__ import annotations

import threading
import time

import redis

from workers.adapters.batch_line import RedisBatchLine
from workers.adapters.frontier import FETCH, POLL, RedisFrontier, Slot
from workers.adapters.redis_state import RedisFeedState, connect


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _fresh(url: str) -> redis.Redis:
    client = connect(url)
    client.flushdb()
    return client


def drain(frontier: RedisFrontier, clock: Clock, count: int, hold_s: float = 0.0) -> list[tuple[float, Slot]]:
    """Take ``count`` items as a dispatcher would, moving the clock to each host's next moment; each
    request holds its slot ``hold_s``."""
    taken: list[tuple[float, Slot]] = []
    pending: list[tuple[float, Slot]] = []
    while len(taken) < count:
        for end, slot in [p for p in pending if p[0] <= clock.t]:
            frontier.done(slot.host, slot.token)
            pending.remove((end, slot))
        slot, wait = frontier.take()
        if slot is None:
            nxt = [clock.t + wait] if wait is not None else []
            nxt += [end for end, _ in pending]
            assert nxt, "work is queued but the frontier offers nothing and nothing is in flight"
            clock.t = max(clock.t + 0.001, min(nxt))
            continue
        taken.append((clock.t, slot))
        pending.append((clock.t + hold_s, slot))
    return taken


def test_sixty_feeds_on_one_host_are_all_polled_within_the_gap_budget(redis_url: str) -> None:
    clock = Clock()
    frontier = RedisFrontier(_fresh(redis_url), limit=2, gap_s=1.0, clock=clock)
    start = clock.t
    for i in range(60):
        frontier.add("busy.example", POLL, f"https://busy.example/feed/{i}", f"https://busy.example/feed/{i}")
    taken = drain(frontier, clock, 60, hold_s=0.3)
    times = [t for t, _ in taken]
    assert {s.ref for _, s in taken} == {f"https://busy.example/feed/{i}" for i in range(60)}
    assert times[-1] - start <= 1.25 * 60 * 1.0
    assert all(b - a >= 1.0 - 1e-6 for a, b in zip(times, times[1:], strict=False)), "gap broken"


def test_a_huge_feed_does_not_hold_back_the_other_feeds_of_its_host(redis_url: str) -> None:
    clock = Clock()
    frontier = RedisFrontier(_fresh(redis_url), limit=2, gap_s=1.0, clock=clock)
    for i in range(500):
        frontier.add("wire.example", FETCH, f"big{i:04d}", "https://wire.example/all")
    drain(frontier, clock, 10)
    for i in range(3):
        frontier.add("wire.example", FETCH, f"small{i}", "https://wire.example/politics")
    frontier.add("wire.example", POLL, "https://wire.example/sport", "https://wire.example/sport")
    taken = [s.ref for _, s in drain(frontier, clock, 8)]
    # The poll goes first, then the small feed's items alternate with the big feed's.
    assert taken[0] == "https://wire.example/sport"
    assert [r for r in taken if r.startswith("small")] == ["small0", "small1", "small2"]
    assert taken.index("small2") <= 6


def test_concurrency_limit_and_hosts_are_independent(redis_url: str) -> None:
    clock = Clock()
    frontier = RedisFrontier(_fresh(redis_url), limit=2, gap_s=0.0, clock=clock)
    for i in range(5):
        frontier.add("a.example", FETCH, f"a{i}", "fa")
    frontier.add("b.example", FETCH, "b0", "fb")
    first, _ = frontier.take()
    second, _ = frontier.take()
    third, _ = frontier.take()
    assert first and second and third
    hosts = sorted([first.host, second.host, third.host])
    assert hosts == ["a.example", "a.example", "b.example"]
    clock.t += 10
    nothing, wait = frontier.take()
    assert nothing is None and wait is None  # a.example is at its limit: not offered at all
    a_slot = first if first.host == "a.example" else second
    frontier.done(a_slot.host, a_slot.token)
    again, _ = frontier.take()
    assert again is not None and again.host == "a.example"


def test_a_slot_whose_worker_died_is_freed_when_its_lease_ends(redis_url: str) -> None:
    clock = Clock()
    frontier = RedisFrontier(_fresh(redis_url), limit=1, gap_s=0.0, lease_s=30, clock=clock)
    frontier.add("h.example", FETCH, "x1", "f")
    frontier.add("h.example", FETCH, "x2", "f")
    slot, _ = frontier.take()
    assert slot is not None and slot.ref == "x1"
    assert frontier.take()[0] is None  # never given back
    clock.t += 31
    assert frontier.reap() == 1
    later, _ = frontier.take()
    assert later is not None and later.ref == "x2"


def test_adding_the_same_work_twice_queues_it_once(redis_url: str) -> None:
    frontier = RedisFrontier(_fresh(redis_url), limit=2, gap_s=0.0)
    assert frontier.add("h.example", FETCH, "s1", "f")
    assert not frontier.add("h.example", FETCH, "s1", "f")
    assert frontier.holds("h.example", FETCH, "s1", "f")
    assert frontier.queued("h.example") == 1
    assert frontier.hosts()["h.example"]["queued"] == 1


def test_politeness_is_exact_across_many_concurrent_workers(redis_url: str) -> None:
    """Eight threads, each with its own client, act as workers: at most 2 requests at once, and the
    request starts recorded in Redis at least the gap apart, on the real clock."""
    _fresh(redis_url)
    gap = 0.05
    base = RedisFrontier(connect(redis_url), limit=2, gap_s=gap)
    for i in range(40):
        base.add("polite.example", FETCH, f"s{i}", f"feed{i % 4}")
    starts: list[float] = []
    active = [0]
    peak = [0]
    lock = threading.Lock()

    def worker() -> None:
        frontier = RedisFrontier(connect(redis_url), limit=2, gap_s=gap)
        while True:
            slot, wait = frontier.take()
            if slot is None:
                if frontier.queued("polite.example") == 0:
                    return
                time.sleep(min(wait or 0.01, 0.01))
                continue
            started = frontier.wait_turn(slot.host)
            with lock:
                starts.append(started)
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.08)  # the request
            with lock:
                active[0] -= 1
            frontier.done(slot.host, slot.token)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    starts.sort()
    assert len(starts) == 40
    assert peak[0] <= 2
    assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) >= gap - 0.0015  # ms resolution


def test_deferred_entries_are_kept_newest_first_and_bounded(redis_url: str) -> None:
    feeds = RedisFeedState(_fresh(redis_url))
    entries = [(f"{i:02d}", f'{{"story_id": "{i:02d}", "published": "2026-11-20T08:{i:02d}:00+00:00"}}')
               for i in range(30)]
    assert feeds.defer("https://f.example/rss", entries, limit=20) == 20
    newest = feeds.deferred("https://f.example/rss", 3)
    assert [e["story_id"] for e in newest] == ["29", "28", "27"]
    feeds.undefer("https://f.example/rss", ["29", "28"])
    assert feeds.deferred_count("https://f.example/rss") == 18
    assert feeds.get("https://f.example/rss")["deferred_dropped"] == "10"


def test_extract_line_batches_grow_with_the_backlog_and_come_back_after_a_crash(redis_url: str) -> None:
    clock = Clock()
    line = RedisBatchLine(_fresh(redis_url), "extract", parallel=2, max_batch=16, lease_s=60, clock=clock)
    line.add(["a"])
    one = line.schedule()
    assert one is not None and line.schedule() is None  # one story: one batch is enough
    assert line.take(one) == ["a"]
    line.finish(one, ["a"])
    line.add([f"s{i:02d}" for i in range(40)])
    t1, t2 = line.schedule(), line.schedule()
    assert t1 and t2 and line.schedule() is None  # never more batches out than process children
    first = line.take(t1)
    assert len(first) == 16  # capped
    second = line.take(t2)
    assert len(second) == 12  # an even share of what is left
    line.finish(t1, first)
    # The second batch's worker dies: its stories wait again once the lease is over.
    clock.t += 61
    t3 = line.schedule()
    assert t3 is not None
    assert line.waiting() == 12 + 12
    again = set(line.take(t3))
    assert set(second) & again


def test_a_feeds_outstanding_fetches_are_counted_over_all_hosts_and_polls_are_not(redis_url: str) -> None:
    frontier = RedisFrontier(_fresh(redis_url), limit=2, gap_s=0.0)
    feed, other = "https://agg.example/rss", "https://other.example/rss"

    def take(n: int) -> list[Slot]:
        out = []
        for _ in range(n):
            slot, _wait = frontier.take()
            assert slot is not None
            frontier.done(slot.host, slot.token)
            out.append(slot)
        return out

    frontier.add("agg.example", POLL, feed, feed)
    for i in range(3):  # an aggregator's entries link to articles on other hosts
        frontier.add("a.example", FETCH, f"a{i}", feed)
        frontier.add("b.example", FETCH, f"b{i}", feed)
    assert not frontier.add("a.example", FETCH, "a0", feed)  # already queued: counted once
    frontier.add("a.example", FETCH, "x0", other)
    assert frontier.outstanding(feed) == 6 and frontier.outstanding(other) == 1
    taken = take(5)
    assert frontier.outstanding(feed) == 6 - sum(1 for s in taken if s.kind == FETCH and s.feed == feed)
    assert frontier.outstanding(other) == 1 - sum(1 for s in taken if s.feed == other)
    take(3)
    assert frontier.take()[0] is None
    assert frontier.outstanding(feed) == 0 and frontier.outstanding(other) == 0
    assert not frontier._r.hlen("ww:fr:outstanding")  # noqa: SLF001 - nothing left behind


def test_the_front_of_a_hosts_line_is_earliest_deadline_first(redis_url: str) -> None:
    clock = Clock(0.0)
    frontier = RedisFrontier(_fresh(redis_url), limit=2, gap_s=1.0, clock=clock, poll_slack_s=3.0)

    def take_at(t: float) -> str:
        clock.t = t
        slot, wait = frontier.take()
        assert slot is not None, f"nothing offered at {t} s (next in {wait} s)"
        frontier.done(slot.host, slot.token)
        return slot.ref

    polls = [f"https://busy.example/feed/{i}" for i in range(4)]
    for url in polls:
        frontier.add("busy.example", POLL, url, url)
    assert take_at(0.0) == polls[0]
    # The poll found an old story and a new one; the new one goes ahead of the polls queued less
    # than their slack before it, the old one waits for its feed's turn in the round.
    clock.t = 0.5
    frontier.add("busy.example", FETCH, "old-story", polls[0])
    frontier.add("busy.example", FETCH, "new-story", polls[0], live=True)
    assert take_at(1.0) == "new-story"
    assert take_at(2.0) == polls[1]
    # A story found after the polls' slack has run out waits for them: polls slip by a bounded amount.
    clock.t = 3.5
    frontier.add("busy.example", FETCH, "later-story", polls[1], live=True)
    assert take_at(3.5) == polls[2]
    assert take_at(4.5) == polls[3]
    assert take_at(5.5) == "later-story"
    assert take_at(6.5) == "old-story"
    assert frontier.take()[0] is None


def test_the_front_keeps_its_order_and_the_round_resumes_after_it(redis_url: str) -> None:
    clock = Clock()
    frontier = RedisFrontier(_fresh(redis_url), limit=2, gap_s=1.0, clock=clock, poll_slack_s=0.0)
    # A backlog of backfill fetches from two feeds is part-way through its round.
    for i in range(6):
        frontier.add("wire.example", FETCH, f"a{i}", "https://wire.example/a")
        frontier.add("wire.example", FETCH, f"b{i}", "https://wire.example/b")
    first = [s.ref for _, s in drain(frontier, clock, 3)]
    arrivals = []
    for i in range(4):
        clock.t += 0.01  # with no slack, polls and live fetches go in the order they came
        if i % 2:
            frontier.add("wire.example", POLL, f"https://wire.example/p{i}", f"https://wire.example/p{i}")
            arrivals.append(f"https://wire.example/p{i}")
        else:
            frontier.add("wire.example", FETCH, f"live{i}", "https://wire.example/a", live=True)
            arrivals.append(f"live{i}")
    rest = [s.ref for _, s in drain(frontier, clock, 13)]
    assert rest[:4] == arrivals, "the front lost its arrival order"
    # The round-robin resumes where it stopped: no backfill item skipped or doubled.
    assert sorted(first + rest[4:]) == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(6)])
    backfill = first + rest[4:]
    assert all(backfill[k][0] != backfill[k + 1][0] for k in range(11)), "the feeds stopped alternating"
    # Once the line has emptied, the front starts afresh and still goes first (the slots the
    # drains above left in flight end with their leases).
    clock.t += 121.0
    assert frontier.reap() == 2
    frontier.add("wire.example", FETCH, "late-backfill", "https://wire.example/b")
    frontier.add("wire.example", POLL, "https://wire.example/p9", "https://wire.example/p9")
    assert [s.ref for _, s in drain(frontier, clock, 2)] == ["https://wire.example/p9", "late-backfill"]
