"""How ingestion is doing, read from Redis and the index: the one source of `wirewatch status` and the
state half of the Prometheus metrics (the other half, per-task counts and durations, comes from the workers).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from pipeline.models import SearchQuery
from pipeline.polling import HostBudget, host_budgets
from workers.adapters.redis_state import KEY
from workers.dispatcher import PAUSE_KEY, host_of, queue_depth
from workers.runtime import Runtime
from workers.topology import QUEUES

FEED_STATES = ("healthy", "failing", "stale", "gone", "never polled")
_GONE = re.compile(r"\b(404|410)\b")


def queue_names() -> list[str]:
    """The Celery queues, one per kind of work (workers/topology.py)."""
    return list(QUEUES)


def host_budget_table(runtime: Runtime, states: dict[str, dict[str, str]]) -> dict[str, HostBudget]:
    """Each host's demand (polls at each feed's current interval, articles at its rate) against the
    budget its politeness gap allows."""
    rows = []
    for feed in runtime.feeds:
        st = states.get(feed.url, {})
        interval = float(feed.interval_s)
        if st.get("next_due") and st.get("last_poll"):
            interval = max(1.0, float(st["next_due"]) - float(st["last_poll"]))
        rows.append((host_of(feed.url), interval, float(st["items_per_day"]) if st.get("items_per_day") else None))
    return {b.host: b for b in host_budgets(rows, runtime.settings.host_min_gap_s)}


def over_budget_text(b: HostBudget, gap_s: float) -> str:
    return (
        f"over by {b.over_by:.0%}: its {b.feeds} feeds need {b.demand_per_min:.0f} requests/min "
        f"({b.polls_per_min:.0f} polls, {b.fetches_per_min:.0f} articles), one request every {gap_s:g} s "
        f"allows {b.budget_per_min:.0f}"
    )


def feed_health(state: dict[str, str], now: float, stale_after_s: float) -> str:
    """healthy, failing, stale (no success for a long time), gone (404/410) or never polled."""
    if not state.get("last_poll") and not state.get("last_success"):
        return "never polled"
    if int(state.get("consecutive_failures") or 0) > 0:
        return "gone" if _GONE.search(state.get("last_error", "")) else "failing"
    last_success = float(state.get("last_success") or 0)
    if now - last_success > stale_after_s:
        return "stale"
    return "healthy"


@dataclass
class Snapshot:
    """Everything `wirewatch status` shows; JSON-ready."""

    taken_at: float
    queues: dict[str, int] = field(default_factory=dict)
    workers: dict[str, Any] = field(default_factory=dict)
    feeds: list[dict[str, Any]] = field(default_factory=list)
    feed_counts: dict[str, int] = field(default_factory=dict)
    hosts_over_budget: dict[str, str] = field(default_factory=dict)
    fetching_paused: bool = False  # backpressure: too many stories wait for the process stage
    frontier: dict[str, dict[str, float]] = field(default_factory=dict)  # per host: queued, active, oldest wait
    dead_letters: int = 0
    in_flight: int = 0
    index: dict[str, Any] = field(default_factory=dict)
    stage_outcomes: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "taken_at": self.taken_at,
            "queues": self.queues,
            "workers": self.workers,
            "feeds": {"counts": self.feed_counts, "feeds": self.feeds},
            "hosts_over_budget": self.hosts_over_budget,
            "fetching_paused": self.fetching_paused,
            "frontier": self.frontier,
            "dead_letters": self.dead_letters,
            "in_flight": self.in_flight,
            "index": self.index,
            "stage_outcomes": self.stage_outcomes,
        }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def queue_depths(redis: Any, names: list[str]) -> dict[str, int]:
    return {name: queue_depth(redis, name) for name in names}


def take(runtime: Runtime, workers: dict[str, Any] | None = None, now: float | None = None) -> Snapshot:
    """Read the state of ingestion: queues, feeds, hosts, dead letters, in-flight stories, the index."""
    now = time.time() if now is None else now
    redis = runtime.redis
    snap = Snapshot(taken_at=now, workers=workers or {})
    snap.queues = queue_depths(redis, queue_names())
    stale_after = 3 * runtime.settings.poll_max_interval_s
    states = runtime.feed_state.all()
    configured = {f.url: f.name for f in runtime.feeds}
    for url in sorted(set(configured) | set(states), key=lambda u: (u not in configured, u)):
        state = states.get(url, {})
        health = feed_health(state, now, stale_after)
        snap.feeds.append(
            {
                "name": configured.get(url, url),
                "url": url,
                "health": health,
                "configured": url in configured,
                "last_success": float(state["last_success"]) if state.get("last_success") else None,
                "consecutive_failures": int(state.get("consecutive_failures") or 0),
                "errors": int(state.get("errors") or 0),
                "last_error": state.get("last_error", ""),
            }
        )
    snap.feed_counts = {h: sum(1 for f in snap.feeds if f["health"] == h) for h in FEED_STATES}
    gap = runtime.settings.host_min_gap_s
    snap.hosts_over_budget = {
        host: over_budget_text(b, gap) for host, b in host_budget_table(runtime, states).items() if b.over_by > 0
    }
    pause = {_text(k): _text(v) for k, v in redis.hgetall(PAUSE_KEY).items()}
    snap.fetching_paused = pause.get("paused") == "1"
    snap.frontier = runtime.frontier.hosts()
    snap.dead_letters = int(redis.llen(f"{KEY}dead-letter"))
    snap.in_flight = int(redis.zcard(f"{KEY}inflight"))
    oldest = redis.zrange(f"{KEY}inflight", 0, 0, withscores=True)
    snap.stage_outcomes = runtime.ledger.outcome_counts()
    index = runtime.search_index
    documents = index.count()
    stories = index.search(SearchQuery(size=0)).total
    snap.index = {
        "documents": documents,
        "stories": stories,
        "copies_folded": max(0, documents - stories),
        "pending_writes": runtime.index_queue.pending(),
        # How far search is behind: the longest a story seen is waiting to become searchable.
        "lag_s": round(max(0.0, now - float(oldest[0][1])), 3) if oldest else 0.0,
    }
    return snap


def ping_workers(runtime: Runtime, timeout_s: float = 1.0) -> dict[str, Any]:
    """The Celery workers answering a ping within the timeout, with what each consumes."""
    from workers.sender import task_sender

    app = task_sender(runtime.redis_url, runtime.settings.redis_ca_certs)
    try:
        inspect = app.control.inspect(timeout=timeout_s)
        replies = inspect.ping() or {}
        active_queues = inspect.active_queues() or {} if replies else {}
    finally:
        app.close()
    return {name: {"queues": sorted(q["name"] for q in active_queues.get(name, []))} for name in sorted(replies)}
