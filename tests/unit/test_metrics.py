"""Prometheus metrics: task signals counted across processes, ingestion state read from Redis and the index,
and the Grafana dashboard and README naming only metrics that exist."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from pipeline.index import story_document
from pipeline.models import CleanStory, DedupeResult, Extraction
from workers.runtime import Runtime
from workers.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))  # restored after the test
    from workers import metrics as module

    return module


def _doc(sid: str, cluster: str) -> dict[str, Any]:
    story = CleanStory(
        sid,
        f"https://n.example/{sid}",
        f"https://n.example/{sid}",
        "f",
        "Harbour Herald",
        "T",
        "NATO jets over the Baltic.",
        published="2026-11-20T08:00:00+00:00",
        language="en",
    )
    return story_document(
        story,
        DedupeResult(sid, "0" * 16, cluster, sid == cluster),
        Extraction(sid, (), (), 0.5),
        "2026-11-20T09:00:00+00:00",
    )


@pytest.fixture
def runtime(tmp_path: Path, redis_url: str, redis_client: Any) -> Runtime:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        json.dumps(
            {
                "feeds": [
                    {"name": "Good", "url": "https://good.example/feed"},
                    {"name": "Bad", "url": "https://bad.example/feed"},
                    {"name": "Gone", "url": "https://gone.example/feed"},
                    {"name": "Old", "url": "https://old.example/feed"},
                    {"name": "New", "url": "https://new.example/feed"},
                ]
            }
        )
    )
    rt = Runtime(Settings(redis_url=redis_url, data_dir=tmp_path / "data", feeds_file=str(feeds)))
    index = rt.index
    index.put(_doc("a" * 32, "a" * 32))
    index.put(_doc("b" * 32, "a" * 32))  # a copy of a
    index.put(_doc("c" * 32, "c" * 32))
    return rt


def _seed(runtime: Runtime, now: float) -> None:
    state = runtime.feed_state
    state.update("https://good.example/feed", status="ok", last_poll=now, last_success=now - 60)
    state.update(
        "https://bad.example/feed",
        status="failing",
        last_poll=now,
        consecutive_failures=3,
        errors=7,
        last_error="transient: timed out",
        last_success=now - 600,
    )
    state.update(
        "https://gone.example/feed",
        status="failing",
        last_poll=now,
        consecutive_failures=1,
        errors=1,
        last_error="permanent: HTTP 410 from https://gone.example/feed",
    )
    state.update("https://old.example/feed", status="ok", last_poll=now - 86400, last_success=now - 86400)
    r = runtime.redis
    r.rpush("process", "m1", "m2")
    r.rpush("process\x06\x169", "m3")  # a priority-9 message of the same queue
    # A feed publishing far more than one request a second can fetch: its host is over budget.
    state.update("https://good.example/feed", items_per_day=100_000)
    runtime.ledger.dead_letter({"story_id": "x", "stage": "fetch", "error": "boom"})
    runtime.ledger.record("a" * 32, "fetch", "ok")
    runtime.ledger.record("b" * 32, "fetch", "ok")
    runtime.ledger.record("b" * 32, "dedupe", "exact")
    runtime.ledger.in_flight("d" * 32, "clean")
    r.zadd("ww:inflight", {"d" * 32: now - 42})


def _samples(reg: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in reg.collect() for s in f.samples}


def test_state_metrics_from_redis_and_the_index(metrics: Any, runtime: Runtime) -> None:
    import time

    _seed(runtime, time.time())
    reg = CollectorRegistry()
    reg.register(metrics.StateCollector(runtime))
    got = _samples(reg)
    assert got[("wirewatch_state_up", ())] == 1
    assert got[("wirewatch_queue_messages", (("queue", "process"),))] == 3
    assert got[("wirewatch_queue_messages", (("queue", "fetch"),))] == 0
    health = {labels[0][1]: v for (name, labels), v in got.items() if name == "wirewatch_feeds"}
    assert health == {"healthy": 1, "failing": 1, "gone": 1, "stale": 1, "never polled": 1}
    assert got[("wirewatch_feed_consecutive_failures", (("feed", "https://bad.example/feed"),))] == 3
    assert got[("wirewatch_feed_errors_total", (("feed", "https://bad.example/feed"),))] == 7
    assert got[("wirewatch_feed_healthy", (("feed", "https://good.example/feed"),))] == 1
    assert got[("wirewatch_hosts_over_budget", ())] == 1
    assert got[("wirewatch_dead_letters", ())] == 1
    assert got[("wirewatch_stories_in_flight", ())] == 1
    assert got[("wirewatch_stage_outcomes_total", (("outcome", "ok"), ("stage", "fetch")))] == 2
    assert got[("wirewatch_index_documents", ())] == 3
    assert got[("wirewatch_index_stories", ())] == 2
    assert got[("wirewatch_dedupe_copies_folded", ())] == 1
    assert 41 <= got[("wirewatch_index_lag_seconds", ())] < 60


def test_a_scrape_with_redis_down_says_so(metrics: Any, tmp_path: Path) -> None:
    from tests.harness import free_port

    rt = Runtime(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", data_dir=tmp_path))
    reg = CollectorRegistry()
    reg.register(metrics.StateCollector(rt))
    assert _samples(reg) == {("wirewatch_state_up", ()): 0}


WORKER = textwrap.dedent(
    """
    import sys
    from celery import Celery
    from workers import metrics  # connects the signals, in multiprocess mode
    from pipeline.errors import TransientError

    app = Celery("t", broker="memory://")
    app.conf.task_always_eager = True

    @app.task(name="wirewatch.clean")
    def clean(ref):
        return ref

    @app.task(name="wirewatch.fetch_article")
    def fetch(entry):
        if entry["url"].endswith("bad"):
            raise TransientError("timed out")
        return entry

    for _ in range(3):
        clean.apply(args=[{"story_id": "s"}])
    fetch.apply(args=[{"url": "https://news.example/ok"}])
    fetch.apply(args=[{"url": "https://news.example/bad"}])
    """
)


def test_task_signals_are_counted_across_processes(tmp_path: Path) -> None:
    """A worker process writes its counts to the multiprocess folder; another process adds them up."""
    folder = tmp_path / "metrics"
    # An inherited PROMETHEUS_MULTIPROC_DIR is overridden: a process writes under its own data folder.
    env = {"PATH": "/usr/bin:/bin", "PROMETHEUS_MULTIPROC_DIR": "/nonexistent", "WIREWATCH_DATA_DIR": str(tmp_path)}
    for _ in range(2):  # two processes, as two prefork children
        proc = subprocess.run(
            [sys.executable, "-c", WORKER], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
    assert len(list(folder.glob("*.db"))) >= 2
    reg = CollectorRegistry()
    MultiProcessCollector(reg, path=str(folder))
    got = _samples(reg)
    assert got[("wirewatch_tasks_total", (("outcome", "ok"), ("stage", "clean")))] == 6
    assert got[("wirewatch_tasks_total", (("outcome", "ok"), ("stage", "fetch")))] == 2
    assert got[("wirewatch_tasks_total", (("outcome", "error"), ("stage", "fetch")))] == 2
    assert got[("wirewatch_task_errors_total", (("error", "TransientError"), ("stage", "fetch")))] == 2
    assert got[("wirewatch_task_duration_seconds_count", (("stage", "clean"),))] == 6
    assert (
        got[("wirewatch_host_requests_total", (("host", "news.example"), ("kind", "article"), ("outcome", "ok")))] == 2
    )


def _dashboard_names() -> set[str]:
    dashboard = json.loads((ROOT / "config" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 15
    return {n for e in exprs for n in re.findall(r"\bwirewatch_[a-z_]+", e)}


def test_the_dashboard_queries_only_registered_metrics_and_shows_every_one(metrics: Any, runtime: Runtime) -> None:
    registered = metrics.sample_names(runtime)
    used = _dashboard_names()
    assert used <= registered, f"unknown to wirewatch: {sorted(used - registered)}"
    shown = {re.sub(r"_(bucket|sum|count)$", "", n) for n in used}
    names = set(metrics.metric_names(runtime))
    assert names == shown, f"not on the dashboard: {sorted(names - shown)}"


def test_the_readme_documents_every_metric(metrics: Any, runtime: Runtime) -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`(wirewatch_[a-z_]+)`", readme))
    assert documented == set(metrics.metric_names(runtime))
