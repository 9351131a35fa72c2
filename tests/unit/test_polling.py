"""When feeds are polled next: backoff after failures, pace adapted to the feed, within bounds."""

from __future__ import annotations

import random

import pytest

from pipeline.models import FeedEntry
from pipeline.polling import PollPolicy, entry_version, host_budgets, items_per_day, newest_first, next_interval

POLICY = PollPolicy(min_interval_s=60, max_interval_s=3600, backoff_base_s=60, backoff_max_s=6 * 3600, jitter=0.1)


def test_new_feed_starts_at_its_configured_interval() -> None:
    for seed in range(50):
        assert 270 <= next_interval(POLICY, 300, 0, None, random.Random(seed)) <= 330


@pytest.mark.parametrize("failures", [1, 2, 3, 5, 8, 20])
def test_failures_back_off_exponentially_with_jitter_and_a_ceiling(failures: int) -> None:
    ceiling = min(POLICY.backoff_max_s, POLICY.backoff_base_s * 2 ** (failures - 1))
    delays = [next_interval(POLICY, 300, failures, 10.0, random.Random(seed)) for seed in range(200)]
    assert all(max(POLICY.min_interval_s, ceiling / 2) <= d <= ceiling for d in delays)
    if ceiling / 2 > POLICY.min_interval_s:
        assert len({round(d) for d in delays}) > 20  # spread out, not all at once


def test_pace_follows_the_feed() -> None:
    rng = random.Random(1)
    busy = next_interval(POLICY, 300, 0, 480.0, rng)  # 480 items a day: every 3 minutes
    quiet = next_interval(POLICY, 300, 0, 2.0, rng)  # twice a day
    silent = next_interval(POLICY, 300, 0, 0.0, rng)
    assert 60 <= busy <= 100
    assert quiet == pytest.approx(3600, rel=0.11)  # capped at the maximum
    assert silent == pytest.approx(3600, rel=0.11)
    assert next_interval(POLICY, 300, 0, 100000.0, rng) >= 60 * 0.9  # never below the minimum (less jitter)


def test_items_per_day_is_a_moving_estimate() -> None:
    assert items_per_day(None, 10, 86400) == pytest.approx(10)
    assert items_per_day(10.0, 0, 86400) == pytest.approx(8)
    assert items_per_day(10.0, 5, 3600) == pytest.approx(0.8 * 10 + 0.2 * 120)
    assert items_per_day(7.0, 3, 0) == 7.0


def test_entry_version_changes_with_content_not_with_identity() -> None:
    a = FeedEntry("s1", "https://n.example/a", "f", title="NATO meets", summary="Ministers meet.", published="x")
    same = FeedEntry("s1", "https://n.example/a?utm_source=x", "g", title="NATO meets", summary="Ministers meet.",
                     published="x")
    edited = FeedEntry("s1", "https://n.example/a", "f", title="NATO meets again", summary="Ministers meet.",
                       published="x")
    assert entry_version(a) == entry_version(same)
    assert entry_version(a) != entry_version(edited)


def _entry(i: int, published: str | None) -> FeedEntry:
    return FeedEntry(story_id=f"{i:04d}", url=f"https://x.example/{i}", feed_url="https://x.example/rss",
                     published=published)


def test_the_per_poll_cap_starts_the_newest_and_defers_the_rest() -> None:
    entries = [_entry(i, f"2026-11-20T{8 + i // 60:02d}:{i % 60:02d}:00+00:00") for i in range(150)]
    random.Random(3).shuffle(entries)
    undated = [_entry(900, None), _entry(901, None)]
    start, rest = newest_first([*entries, *undated, entries[0]], cap=100)
    assert len(start) == 100 and len(rest) == 52
    assert [e.story_id for e in start[:3]] == ["0149", "0148", "0147"]
    assert {e.story_id for e in rest} == {f"{i:04d}" for i in range(50)} | {"0900", "0901"}
    assert [e.story_id for e in rest[-2:]] == ["0900", "0901"]  # undated last, in feed order
    assert newest_first(entries, cap=0) == ([], sorted(entries, key=lambda e: e.published or "", reverse=True))


def test_host_budget_says_when_a_host_is_over_and_by_how_much() -> None:
    feeds = [("busy.example", 60.0, None)] * 60 + [("busy.example", 300.0, 1440.0)] + [("quiet.example", 300, 24.0)]
    budgets = {b.host: b for b in host_budgets(feeds, gap_s=1.0)}
    busy = budgets["busy.example"]
    assert busy.feeds == 61 and busy.budget_per_min == 60.0
    assert busy.polls_per_min == 60.2 and busy.fetches_per_min == 1.0
    assert round(busy.over_by, 4) == round(61.2 / 60 - 1, 4)
    assert budgets["quiet.example"].over_by == 0.0
    assert host_budgets(feeds, gap_s=1.0)[0].host == "busy.example"  # busiest first
