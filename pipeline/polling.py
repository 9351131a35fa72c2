"""When to poll a feed next, and what a feed's health record says: pure decisions over plain data."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.models import FeedEntry


@dataclass(frozen=True)
class PollPolicy:
    min_interval_s: float = 60.0
    max_interval_s: float = 3600.0
    backoff_base_s: float = 60.0
    backoff_max_s: float = 6 * 3600.0
    jitter: float = 0.1  # +/- share of the interval, so feeds of one host spread out
    polls_per_item: float = 2.0  # poll about twice for every item a feed publishes


@dataclass(frozen=True)
class PollOutcome:
    ok: bool
    new_items: int = 0
    not_modified: bool = False


def items_per_day(previous: float | None, new_items: int, elapsed_s: float) -> float:
    """A moving estimate of how many new items a feed publishes a day."""
    if elapsed_s <= 0:
        return previous or 0.0
    observed = new_items * 86400.0 / elapsed_s
    return observed if previous is None else 0.8 * previous + 0.2 * observed


def next_interval(
    policy: PollPolicy, configured_s: float, failures: int, rate_per_day: float | None, rng: random.Random
) -> float:
    """Seconds until the next poll: backoff after failures, else adapted to the feed's pace."""
    if failures > 0:
        ceiling = min(policy.backoff_max_s, policy.backoff_base_s * 2 ** (failures - 1))
        # Full jitter: a failing host's feeds do not come back all at once.
        return max(policy.min_interval_s, rng.uniform(ceiling / 2, ceiling))
    if rate_per_day is None:
        base = configured_s
    elif rate_per_day <= 0:
        base = policy.max_interval_s
    else:
        base = 86400.0 / (rate_per_day * policy.polls_per_item)
    base = min(policy.max_interval_s, max(policy.min_interval_s, base))
    return base * rng.uniform(1 - policy.jitter, 1 + policy.jitter)


def entry_version(entry: FeedEntry) -> str:
    """What makes an entry a new revision when its URL stays the same: title, summary, date."""
    basis = "\x00".join((entry.title, entry.summary, entry.published or ""))
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def newest_first(entries: Sequence[FeedEntry], cap: int) -> tuple[list[FeedEntry], list[FeedEntry]]:
    """Split entries waiting to start into the ``cap`` newest (start now) and the rest (deferred).

    Entries without a date follow the dated ones in feed order; one story id appears once.
    """
    unique: dict[str, FeedEntry] = {}
    for entry in entries:
        unique.setdefault(entry.story_id, entry)
    dated = sorted((e for e in unique.values() if e.published), key=lambda e: e.published or "", reverse=True)
    chosen = dated + [e for e in unique.values() if not e.published]
    cap = max(0, cap)
    return chosen[:cap], chosen[cap:]


@dataclass(frozen=True)
class HostBudget:
    """What a host's feeds ask of it per minute against what politeness allows (one request a gap)."""

    host: str
    feeds: int
    polls_per_min: float
    fetches_per_min: float
    budget_per_min: float

    @property
    def demand_per_min(self) -> float:
        return self.polls_per_min + self.fetches_per_min

    @property
    def over_by(self) -> float:
        """0 within budget, else the share by which demand exceeds it (0.25: 25% over)."""
        if self.budget_per_min <= 0 or self.demand_per_min <= self.budget_per_min:
            return 0.0
        return self.demand_per_min / self.budget_per_min - 1.0


def host_budgets(feeds: Sequence[tuple[str, float, float | None]], gap_s: float) -> list[HostBudget]:
    """Per host, from its feeds' (host, poll interval in s, items per day): polls plus article fetches
    per minute, and the budget a gap of ``gap_s`` between requests allows. Busiest first."""
    by_host: dict[str, list[tuple[float, float]]] = {}
    for host, interval_s, per_day in feeds:
        by_host.setdefault(host, []).append((60.0 / max(1.0, interval_s), (per_day or 0.0) / 1440.0))
    budget = 60.0 / gap_s if gap_s > 0 else float("inf")
    out = [
        HostBudget(host, len(rows), sum(p for p, _ in rows), sum(f for _, f in rows), budget)
        for host, rows in by_host.items()
    ]
    return sorted(out, key=lambda b: (-b.demand_per_min / (b.budget_per_min or 1.0), b.host))
