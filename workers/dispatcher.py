"""The frontier dispatcher: hands out per-host work to the fetch queues exactly when a host may be
asked, and only as fast as the fetch workers and the process stage keep up (backpressure).

It runs as a thread in every fetch worker (several are safe: taking work from the frontier is
atomic). It also moves feeds whose poll is due from the schedule into their host's line, at the
moment they fall due, so a feed's interval is kept to within a request's gap, not a beat tick.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import redis

from pipeline.errors import PermanentError
from workers.adapters.frontier import FETCH, POLL
from workers.topology import FEEDS, PRIORITY_STEPS, PROCESS
from workers.topology import FETCH as FETCH_QUEUE

log = logging.getLogger(__name__)

REAP_EVERY_S = 5.0
PAUSE_KEY = "ww:dispatch:backpressure"  # whether fetching is paused, the backlog, since when


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _queue_lists(queue: str) -> list[str]:
    """A Celery queue's lists on Redis, one per priority step."""
    return [queue] + [f"{queue}\x06\x16{p}" for p in PRIORITY_STEPS if p]


def queue_depth(client: redis.Redis, queue: str) -> int:
    """Messages waiting in a Celery queue on Redis, over all its priority lists."""
    pipe = client.pipeline(transaction=False)
    for name in _queue_lists(queue):
        pipe.llen(name)
    return sum(int(n) for n in pipe.execute())


def load(rt: Any) -> tuple[int, int]:
    """(stories waiting for the CPU stages, messages waiting in the fetch queues), in one round trip.

    The first is process messages plus stories waiting for extraction; the dispatcher reads both on
    every round, so they come together."""
    pipe = rt.redis.pipeline(transaction=False)
    for name in _queue_lists(PROCESS):
        pipe.llen(name)
    rt.extract_line.count_waiting(pipe)
    process_replies = len(pipe.command_stack)
    for queue in (FEEDS, FETCH_QUEUE):
        for name in _queue_lists(queue):
            pipe.llen(name)
    replies = [int(n) for n in pipe.execute()]
    return sum(replies[:process_replies]), sum(replies[process_replies:])


def process_backlog(rt: Any) -> int:
    """Stories waiting for the CPU stages: process messages plus stories waiting for extraction."""
    return load(rt)[0]


def enqueue_due_polls(rt: Any, now: float) -> int:
    """Move feeds whose poll is due from the schedule into their host's line."""
    lease = max(120.0, rt.settings.total_timeout_s * 4)
    due = rt.feed_state.take_due(now, lease_s=lease)
    for url in due:
        rt.frontier.add(host_of(url), POLL, url, url)
    return len(due)


class Dispatcher:
    """One dispatcher loop; ``run_once`` does one round and says how long it may sleep."""

    def __init__(self, rt: Any, capacity: int) -> None:
        self.rt = rt
        self.capacity = max(1, capacity)  # messages allowed to wait in the fetch queues
        self._last_reap = 0.0
        self.paused = False

    def _send(self, slot: Any) -> None:
        from workers.tasks import fetch_article, poll_feed

        ticket = {"host": slot.host, "token": slot.token, "waited_s": round(slot.waited_s, 3)}
        if slot.kind == POLL:
            poll_feed.apply_async(args=[slot.ref], kwargs={"slot": ticket})
        elif slot.kind == FETCH:
            # The message carries the feed entry (small JSON), so a dead-letter record holds what to replay.
            try:
                entry: dict[str, Any] = self.rt.stages.load("entry", slot.ref)
            except PermanentError:
                entry = {"story_id": slot.ref, "feed": slot.feed}  # expired: the task records the failure
            fetch_article.apply_async(args=[entry], kwargs={"slot": ticket})

    def run_once(self) -> float:
        rt = self.rt
        now = time.time()
        if now - self._last_reap >= REAP_EVERY_S:
            rt.frontier.reap()
            self._last_reap = now
        enqueue_due_polls(rt, now)
        backlog, queued = load(rt)
        high = rt.settings.process_backlog_high
        # Hysteresis: pause above the mark, go on again once the backlog is back under half of it.
        if backlog > high or (self.paused and backlog > high // 2):
            if not self.paused:
                log.info("process backlog %d: fetching paused", backlog)
                rt.redis.hincrby("ww:stats", "backpressure_pauses", 1)
            self.paused = True
            rt.redis.hset(PAUSE_KEY, mapping={"paused": 1, "backlog": backlog, "at": now})
            return 0.5
        if self.paused:
            log.info("process backlog %d: fetching resumed", backlog)
            rt.redis.hset(PAUSE_KEY, mapping={"paused": 0, "backlog": backlog, "at": now})
        self.paused = False
        sent = 0
        # Fetch workers only take messages away while this round runs: the depth read at its start
        # plus what it sent bounds what waits, so capacity holds without asking again per message.
        while queued + sent < self.capacity:
            slot, wait = rt.frontier.take()
            if slot is None:
                next_feed = rt.feed_state.next_due_any()
                sleeps = [5.0]
                if wait is not None:
                    sleeps.append(wait)
                if next_feed is not None:
                    sleeps.append(next_feed - time.time())
                return max(0.0, min(sleeps))
            self._send(slot)
            sent += 1
        return 0.05  # the fetch queues are full: look again shortly

    def loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                sleep = self.run_once()
            except (redis.RedisError, OSError) as exc:
                log.warning("dispatcher: %s", exc)
                sleep = 1.0
            except Exception:  # noqa: BLE001 - the loop must outlive any one bad round
                log.exception("dispatcher round failed")
                sleep = 1.0
            if sleep > 0:
                try:
                    self.rt.frontier.wait_for_work(sleep)
                except (redis.RedisError, OSError):
                    stop.wait(1.0)


_started: dict[str, threading.Event] = {}


def start_dispatcher(rt: Any) -> threading.Event:
    """Start this process's dispatcher thread once; set the returned event to stop it."""
    if "stop" in _started:
        return _started["stop"]
    stop = threading.Event()
    # A few messages may wait for a free thread; more would only age in the queue.
    dispatcher = Dispatcher(rt, capacity=max(2, rt.settings.fetch_threads // 8))
    threading.Thread(target=dispatcher.loop, args=(stop,), name="frontier-dispatcher", daemon=True).start()
    _started["stop"] = stop
    return stop
