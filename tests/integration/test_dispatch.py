"""Bounded fan-out and backpressure on a real Redis: the per-poll cap with deferred entries, and a
dispatcher that stops handing out work while the process stage is behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.models import FeedEntry
from workers.adapters.frontier import POLL
from workers.adapters.redis_state import connect
from workers.dispatcher import Dispatcher
from workers.runtime import Runtime
from workers.settings import Settings


def _runtime(redis_url: str, tmp_path: Path, **overrides: Any) -> Runtime:
    connect(redis_url).flushdb()
    return Runtime(Settings(redis_url=redis_url, data_dir=tmp_path, **overrides))


def _entries(n: int) -> list[FeedEntry]:
    return [
        FeedEntry(story_id=f"{i:064x}", url=f"https://big.example/a/{i}", feed_url="https://big.example/all",
                  title=f"Story {i}", published=f"2026-11-{1 + i // 1440:02d}T{(i // 60) % 24:02d}:{i % 60:02d}:00+00:00")
        for i in range(n)
    ]


def _fetch(rt: Runtime, n: int) -> None:
    """The fetch workers take ``n`` items from the hosts' lines and finish them."""
    for _ in range(n):
        slot, _wait = rt.frontier.take()
        assert slot is not None
        rt.frontier.done(slot.host, slot.token)


def test_a_poll_starts_at_most_the_cap_newest_first_and_later_polls_take_the_rest(redis_url: str,
                                                                                  tmp_path: Path) -> None:
    from workers.tasks import _start_entries

    feed = "https://big.example/all"
    rt = _runtime(redis_url, tmp_path, max_new_per_poll=100, host_min_gap_s=0.0)
    entries = _entries(250)
    assert _start_entries(rt, feed, entries) == (100, 0, 150)
    assert rt.frontier.queued("big.example") == 100 and rt.frontier.outstanding(feed) == 100
    newest = {e.story_id for e in entries[-100:]}
    assert all(rt.frontier.holds("big.example", "f", sid, feed) for sid in newest)
    # Nothing fetched yet: the cap also bounds what the feed has waiting in the line, so a poll adds none.
    assert _start_entries(rt, feed, entries) == (0, 0, 150)
    assert rt.frontier.queued("big.example") == 100
    # 60 fetched: the next poll tops the feed's share of the line up to the cap with the next newest.
    _fetch(rt, 60)
    assert rt.frontier.outstanding(feed) == 40
    assert _start_entries(rt, feed, entries) == (60, 0, 90)
    assert all(rt.frontier.holds("big.example", "f", e.story_id, feed) for e in entries[90:150])
    assert rt.frontier.queued("big.example") == 100
    # A 304 brings no entries, but the deferred ones keep coming.
    _fetch(rt, 100)
    assert _start_entries(rt, feed, []) == (90, 0, 0)
    assert rt.feed_state.deferred_count(feed) == 0
    _fetch(rt, 90)
    assert rt.frontier.outstanding(feed) == 0 and not rt.redis.hexists("ww:fr:outstanding", feed)
    assert _start_entries(rt, feed, entries) == (0, 0, 0)


def test_dispatcher_pauses_while_the_process_stage_is_behind(redis_url: str, tmp_path: Path) -> None:
    rt = _runtime(redis_url, tmp_path, process_backlog_high=10, host_min_gap_s=0.0)
    sent: list[str] = []
    dispatcher = Dispatcher(rt, capacity=50)
    dispatcher._send = lambda slot: sent.append(slot.ref)  # type: ignore[method-assign]
    for i in range(5):
        rt.frontier.add("news.example", POLL, f"https://news.example/{i}.xml", f"https://news.example/{i}.xml")
    rt.redis.lpush("process", *["m"] * 11)
    assert dispatcher.run_once() > 0 and dispatcher.paused and sent == []
    rt.redis.ltrim("process", 0, 5)  # 6 left: above half the mark, still paused (hysteresis)
    dispatcher.run_once()
    assert dispatcher.paused and sent == []
    rt.extract_line.add(["x"] * 1)
    rt.redis.ltrim("process", 0, 2)  # 3 + 1 waiting for extraction: under half, hands out again
    dispatcher.run_once()
    assert not dispatcher.paused
    assert len(sent) == 2  # two at once to one host: its concurrency, not the dispatcher, is the limit
    assert rt.redis.hget("ww:stats", "backpressure_pauses") == b"1"  # one pause, counted once


def test_wirewatch_feeds_names_hosts_over_budget_and_paused_fetching(redis_url: str, tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    connect(redis_url).flushdb()
    feeds = tmp_path / "feeds.yaml"
    rows = [{"name": f"s{i}", "url": f"https://busy.example/s{i}.xml", "interval_s": 60} for i in range(70)]
    rows.append({"name": "calm", "url": "https://calm.example/rss", "interval_s": 300})
    feeds.write_text(json.dumps({"feeds": rows}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env.update(WIREWATCH_REDIS_URL=redis_url, WIREWATCH_FEEDS_FILE=str(feeds), WIREWATCH_DATA_DIR=str(tmp_path))
    connect(redis_url).hset("ww:dispatch:backpressure", mapping={"paused": 1, "backlog": 250, "at": 0})

    def feeds_cmd(*extra: str) -> str:
        out = subprocess.run([sys.executable, "-m", "workers.cli", "feeds", *extra], env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    text = feeds_cmd()
    assert "host busy.example is over its politeness budget by 17%: its 70 feeds need 70 requests/min" in text
    assert "calm.example is over" not in text
    assert "fetching is paused: 250 stories wait for processing" in text
    listed = {r["name"]: r for r in json.loads(feeds_cmd("--json"))}
    assert listed["s3"]["host_over_budget_pct"] == 16.7 and listed["calm"]["host_over_budget_pct"] == 0.0
    # The workers refused an edit of the feeds file: the listing says so, and why.
    connect(redis_url).hset("ww:config:feeds_problem", mapping={"problem": "ParserError: expected ']'",
                                                                "path": str(feeds), "at": 0})
    out = subprocess.run([sys.executable, "-m", "workers.cli", "feeds"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert (f"the workers refused the last edit of {feeds} at 1970-01-01T00:00:00+00:00 and run on the feed set "
            "before it: ParserError: expected ']'") in out.stderr


def test_a_feeds_history_and_its_backlog_start_as_backfill_and_news_does_not(redis_url: str, tmp_path: Path) -> None:
    from workers.tasks import _start_entries

    rt = _runtime(redis_url, tmp_path, max_new_per_poll=100, host_min_gap_s=0.0)

    def backfill(sid: str) -> bool:
        return bool(rt.stages.load("entry", sid).get("backfill"))

    entries = _entries(260)
    # A feed's first poll finds its history: backfill, even under the cap.
    assert _start_entries(rt, "https://big.example/all", entries[:5], first_poll=True) == (5, 0, 0)
    assert all(backfill(e.story_id) for e in entries[:5])
    # Later polls that find a few new entries and have nothing waiting: news.
    assert _start_entries(rt, "https://big.example/all", entries[:7]) == (2, 0, 0)
    assert not any(backfill(e.story_id) for e in entries[5:7])
    # A poll over the cap: what starts is backfill, and so is what the next polls take from the backlog.
    _fetch(rt, 7)
    assert _start_entries(rt, "https://big.example/all", entries) == (100, 0, 153)
    assert all(backfill(e.story_id) for e in entries[-100:])
    _fetch(rt, 100)
    assert _start_entries(rt, "https://big.example/all", []) == (100, 0, 53)
    _fetch(rt, 100)
    assert _start_entries(rt, "https://big.example/all", []) == (53, 0, 0)
    assert all(backfill(e.story_id) for e in entries[7:])
    # The backlog is gone: the next new entry is news again.
    more = _entries(261)[-1:]
    assert _start_entries(rt, "https://big.example/all", more) == (1, 0, 0)
    assert not backfill(more[0].story_id)


def test_backfill_waits_behind_live_stories_for_the_process_stage(redis_url: str, tmp_path: Path,
                                                                 monkeypatch: Any) -> None:
    from types import SimpleNamespace

    from workers import tasks
    from workers.runtime import current
    from workers.topology import PRIORITY

    rt = _runtime(redis_url, tmp_path)
    # The extract line: a backfill story that came first is taken after a live one that came later.
    rt.extract_line.add(["archive"], backfill=True)
    rt.extract_line.add(["news"])
    token = rt.extract_line.schedule()
    assert token is not None
    assert rt.extract_line.take(token) == ["news"]
    # The process queue: a backfill story's clean goes at the back, with reprocessing; a live one ahead.
    monkeypatch.setenv("WIREWATCH_REDIS_URL", redis_url)
    monkeypatch.setenv("WIREWATCH_DATA_DIR", str(tmp_path))
    current.cache_clear()
    sent: list[list[tuple[str, Any, Any]]] = []

    def chain(*sigs: Any) -> Any:
        return SimpleNamespace(apply_async=lambda: sent.append(
            [(s.task, s.options.get("priority"), s.args[0].get("backfill")) for s in sigs]))

    monkeypatch.setattr(tasks, "chain", chain)
    try:
        tasks.chain_from("clean", "a" * 64, backfill=True)
        tasks.chain_from("clean", "b" * 64)
    finally:
        current.cache_clear()
    assert sent == [
        [("wirewatch.clean", PRIORITY["wirewatch.reprocess"], True), ("wirewatch.dedupe", PRIORITY["wirewatch.dedupe"], True)],
        [("wirewatch.clean", PRIORITY["wirewatch.clean"], None), ("wirewatch.dedupe", PRIORITY["wirewatch.dedupe"], None)],
    ]
    assert PRIORITY["wirewatch.clean"] < PRIORITY["backfill"]


def test_an_edit_of_feeds_yaml_reaches_the_running_schedule_and_a_bad_edit_keeps_the_last_good_set(
        redis_url: str, tmp_path: Path, monkeypatch: Any) -> None:
    import json
    import os

    import workers.tasks as tasks
    from workers.runtime import FEEDS_PROBLEM_KEY

    feeds = tmp_path / "feeds.yaml"

    def write(text: str, tick: int) -> None:
        feeds.write_text(text)
        os.utime(feeds, ns=(tick * 10**9, tick * 10**9))  # a new stamp even within one clock tick

    urls = [f"https://wire{i}.example/rss" for i in range(3)]
    write(json.dumps({"feeds": [{"url": u, "interval_s": 60} for u in urls]}), 1)
    rt = _runtime(redis_url, tmp_path, feeds_file=str(feeds))
    monkeypatch.setattr(tasks, "current", lambda: rt)

    def scheduled() -> set[str]:
        return {u.decode() for u in rt.redis.zrange("ww:feeds:due", 0, -1)}

    tasks.dispatch_polls.run()
    assert scheduled() == set(urls)
    # The running process sees the edit: the removed feed leaves the schedule, the new one joins it.
    write(json.dumps({"feeds": [{"url": u, "interval_s": 60} for u in [*urls[:2], "https://new.example/atom"]]}), 2)
    tasks.dispatch_polls.run()
    assert scheduled() == {*urls[:2], "https://new.example/atom"}
    assert not rt.redis.exists(FEEDS_PROBLEM_KEY)
    # A half-saved edit is refused with a recorded reason; the workers go on with the last good set.
    write("feeds:\n  - url: https://wire0.example/rss\n    interval_s: [60\n", 3)
    tasks.dispatch_polls.run()
    assert scheduled() == {*urls[:2], "https://new.example/atom"}
    problem = {k.decode(): v.decode() for k, v in rt.redis.hgetall(FEEDS_PROBLEM_KEY).items()}
    assert problem["path"] == str(feeds)
    assert problem["problem"].startswith("ParserError: while parsing a flow sequence") and "line 3" in problem["problem"]
    # Fixed: the problem is cleared and the edit applies.
    write(json.dumps({"feeds": [{"url": urls[0], "interval_s": 60}]}), 4)
    tasks.dispatch_polls.run()
    assert scheduled() == {urls[0]}
    assert not rt.redis.exists(FEEDS_PROBLEM_KEY)
