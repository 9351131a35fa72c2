"""The queue topology, declared in one place: which task goes to which queue, and which kind of
worker consumes it with what pool.

Network waits and CPU work never share a pool. Control tasks have a queue nothing else uses, so a
backlog of stories can never make a dispatch, a flush or a reconcile wait (or expire unrun).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kombu import Exchange, Queue

# Queues. "feeds" and "fetch" are fed by the per-host frontier (workers/frontier.py), never directly.
CONTROL, FEEDS, FETCH, PROCESS, INDEX, WEBHOOKS = "control", "feeds", "fetch", "process", "index", "webhooks"
QUEUES = (CONTROL, FEEDS, FETCH, PROCESS, INDEX, WEBHOOKS)

ROUTES: dict[str, str] = {
    "wirewatch.dispatch_polls": CONTROL,
    "wirewatch.flush_index": CONTROL,
    "wirewatch.reconcile": CONTROL,
    "wirewatch.poll_feed": FEEDS,
    "wirewatch.fetch_article": FETCH,
    "wirewatch.clean": PROCESS,
    "wirewatch.dedupe": PROCESS,
    "wirewatch.extract": PROCESS,
    "wirewatch.reprocess": PROCESS,
    "wirewatch.index": INDEX,
    "wirewatch.match_watches": INDEX,  # after each bulk write, beside indexing
    "wirewatch.deliver_webhooks": WEBHOOKS,  # network waits: never behind stories, never blocking them
}



def celery_queues() -> list[Queue]:
    """One direct exchange per queue, routed by the queue's name: a message lands in one queue only."""
    return [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES]


def celery_routing() -> dict[str, Any]:
    """The Celery settings that send each task to its queue (for the worker app and every sender)."""
    return {
        "task_queues": celery_queues(),
        "task_default_queue": CONTROL,
        "task_default_exchange": CONTROL,
        "task_default_routing_key": CONTROL,
        "task_routes": {name: {"queue": queue} for name, queue in ROUTES.items()},
        "task_create_missing_queues": False,
    }


# Within the process queue a story already under way goes before a new one (depth first), so
# stories do not move down the chain in waves. Redis priorities: 0 is served first.
# Backfill (a feed's history, entries over the per-poll cap) starts at the back with reprocessing, so
# live stories of other feeds go first while an archive drains.
PRIORITY: dict[str, int] = {
    "wirewatch.extract": 0,
    "wirewatch.dedupe": 3,
    "wirewatch.clean": 6,
    "wirewatch.reprocess": 9,
    "backfill": 9,
}
PRIORITY_STEPS = [0, 3, 6, 9]


@dataclass(frozen=True)
class WorkerKind:
    """One kind of worker process: the queues it consumes and the pool that fits its work."""

    name: str
    queues: tuple[str, ...]
    pool: str  # "threads" for network waits, "prefork" for CPU work
    concurrency: int
    beat: bool = False  # the control kind also runs beat (exactly one per deployment)
    what: str = ""


def worker_kinds(cpus: int | None = None, fetch_threads: int = 32) -> dict[str, WorkerKind]:
    """The kinds, sized for a machine with ``cpus`` cores."""
    cores = max(1, cpus or os.cpu_count() or 1)
    kinds = (
        WorkerKind("control", (CONTROL,), "threads", 2, beat=True,
                   what="beat, feed dispatch, index flush, reconcile"),
        WorkerKind("fetch", (FEEDS, FETCH, WEBHOOKS), "threads", fetch_threads,
                   what="feed polls and article fetches from the per-host frontier; watch webhooks"),
        WorkerKind("process", (PROCESS,), "prefork", cores,
                   what="clean, dedupe, extract (one process per core, spaCy loaded at start)"),
        WorkerKind("index", (INDEX,), "threads", 2, what="bulk writes to the index; matching watches"),
    )
    return {k.name: k for k in kinds}


KIND_NAMES = ("control", "fetch", "process", "index")
