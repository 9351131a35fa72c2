"""How ingestion is doing, read from Redis and the index: the one source of `wirewatch status` and the
state half of the Prometheus metrics (the other half, per-task counts and durations, comes from the workers).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from pipeline.models import SearchQuery
from workers.adapters.redis_state import KEY
from workers.runtime import Runtime

# kombu's Redis transport keeps priorities 3, 6 and 9 of a queue in lists of their own.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
# The lead's per-host fetch frontier marks hosts it holds back here (host -> why); absent before it exists.
OVERBUDGET_KEY = f"{KEY}frontier:overbudget"
FEED_STATES = ("healthy", "failing", "stale", "gone", "never polled")
_GONE = re.compile(r"\b(404|410)\b")


def queue_names() -> list[str]:
    """The Celery queues: those the app declares (by kind of work), else the single default queue."""
    from workers import sender

    try:
        from workers.celery_app import app

        queues = app.conf.task_queues
    except Exception:  # noqa: BLE001 - the app cannot be built here (no settings): the default queue
        queues = None
    names = [q.name for q in queues] if queues else []
    return names or [sender.QUEUE]


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
            "dead_letters": self.dead_letters,
            "in_flight": self.in_flight,
            "index": self.index,
            "stage_outcomes": self.stage_outcomes,
        }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def queue_depths(redis: Any, names: list[str]) -> dict[str, int]:
    pipe = redis.pipeline()
    for name in names:
        for suffix in _PRIORITY_SUFFIXES:
            pipe.llen(name + suffix)
    counts = pipe.execute()
    step = len(_PRIORITY_SUFFIXES)
    return {name: int(sum(counts[i * step : (i + 1) * step])) for i, name in enumerate(names)}


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
    snap.hosts_over_budget = {_text(k): _text(v) for k, v in redis.hgetall(OVERBUDGET_KEY).items()}
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
