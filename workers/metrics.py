"""Prometheus metrics: per-task counts, durations and errors from every worker and beat, and the state of
ingestion (queues, feeds, hosts, dead letters, index) read at scrape time.

Imported once by ``workers/celery_app.py``, which connects the Celery signals below. Prefork workers
write to files under ``<data dir>/metrics`` (``PROMETHEUS_MULTIPROC_DIR``: prometheus_client's
multiprocess mode, one registry per process); ``wirewatch serve`` adds them up on ``/metrics``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)


def multiprocess_dir(data_dir: Path) -> Path:
    """Where worker processes write their metrics; set before prometheus_client is first imported.

    Always under this process's data folder, even when a parent's value was inherited: the workers
    of one data folder and the ``serve`` that reads them must meet in the same place."""
    path = data_dir.resolve() / "metrics"
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def _data_dir() -> Path:
    from workers.runtime import current

    return current().settings.data_dir


multiprocess_dir(_data_dir())

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest  # noqa: E402
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily  # noqa: E402
from prometheus_client.multiprocess import MultiProcessCollector  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

NAMESPACE = "wirewatch"
# Celery task name -> the stage it runs.
STAGES = {
    "wirewatch.fetch_article": "fetch",
    "wirewatch.clean": "clean",
    "wirewatch.dedupe": "dedupe",
    "wirewatch.extract": "extract",
    "wirewatch.index": "index",
    "wirewatch.poll_feed": "poll",
    "wirewatch.dispatch_polls": "dispatch",
    "wirewatch.flush_index": "flush",
    "wirewatch.reconcile": "reconcile",
    "wirewatch.reprocess": "reprocess",
}
# Celery's end states -> ours: IGNORED is how a stage ends a drop or a dead-letter record.
OUTCOMES = {"SUCCESS": "ok", "RETRY": "retry", "IGNORED": "ended", "FAILURE": "error", "REJECTED": "rejected"}

TASKS = Counter(
    f"{NAMESPACE}_tasks_total", "Tasks run, by stage and outcome (ok, retry, ended, error).", ["stage", "outcome"]
)
TASK_SECONDS = Histogram(
    f"{NAMESPACE}_task_duration_seconds",
    "Time a task ran, by stage.",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
TASK_ERRORS = Counter(
    f"{NAMESPACE}_task_errors_total", "Tasks that raised, by stage and exception type.", ["stage", "error"]
)
TASKS_SENT = Counter(f"{NAMESPACE}_tasks_sent_total", "Tasks published (by workers and beat), by stage.", ["stage"])
HOST_REQUESTS = Counter(
    f"{NAMESPACE}_host_requests_total",
    "Feed polls and article fetches by host and outcome.",
    ["host", "kind", "outcome"],
)

_started: dict[str, float] = {}


def stage_of(task_name: str | None) -> str:
    return STAGES.get(task_name or "", (task_name or "unknown").removeprefix("wirewatch."))


def _host_of(args: Any) -> tuple[str, str] | None:
    """(host, kind) of a poll or fetch task from its arguments."""
    first = args[0] if args else None
    url = first.get("url") if isinstance(first, dict) else first
    if not isinstance(url, str) or "://" not in url:
        return None
    return urlsplit(url).hostname or "unknown", "article" if isinstance(first, dict) else "feed"


def on_prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.monotonic()


def on_postrun(
    task_id: str | None = None, task: Any = None, args: Any = None, state: str | None = None, **_: Any
) -> None:
    stage = stage_of(getattr(task, "name", None))
    outcome = OUTCOMES.get(state or "", (state or "unknown").lower())
    TASKS.labels(stage, outcome).inc()
    started = _started.pop(task_id or "", None)
    if started is not None:
        TASK_SECONDS.labels(stage).observe(time.monotonic() - started)
    if stage in ("fetch", "poll"):
        where = _host_of(args)
        if where:
            HOST_REQUESTS.labels(where[0], where[1], outcome).inc()


def on_failure(sender: Any = None, exception: BaseException | None = None, **_: Any) -> None:
    TASK_ERRORS.labels(stage_of(getattr(sender, "name", None)), type(exception).__name__).inc()


def on_retry(sender: Any = None, reason: Any = None, **_: Any) -> None:
    error = reason.exc if hasattr(reason, "exc") and reason.exc is not None else reason
    TASK_ERRORS.labels(stage_of(getattr(sender, "name", None)), type(error).__name__).inc()


def on_publish(sender: str | None = None, **_: Any) -> None:
    TASKS_SENT.labels(stage_of(sender)).inc()


def connect_signals() -> None:
    """Hook the counters to Celery's task signals (weak=False: the handlers are module functions)."""
    from celery import signals

    signals.task_prerun.connect(on_prerun, weak=False)
    signals.task_postrun.connect(on_postrun, weak=False)
    signals.task_failure.connect(on_failure, weak=False)
    signals.task_retry.connect(on_retry, weak=False)
    signals.before_task_publish.connect(on_publish, weak=False)


class StateCollector(Collector):
    """Ingestion state read from Redis and the index at each scrape (see ``workers.health``)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        from workers import health

        up = GaugeMetricFamily(f"{NAMESPACE}_state_up", "1 when Redis and the index answered this scrape.")
        try:
            snap = health.take(self.runtime)
        except Exception as exc:  # noqa: BLE001 - a scrape reports a broken service, it does not fail
            log.warning("metrics: cannot read the state: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        queues = GaugeMetricFamily(
            f"{NAMESPACE}_queue_messages", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        for name, depth in snap.queues.items():
            queues.add_metric([name], depth)
        yield queues
        feeds = GaugeMetricFamily(
            f"{NAMESPACE}_feeds", "Feeds by health (healthy, failing, stale, gone, never polled).", labels=["health"]
        )
        for name, count in snap.feed_counts.items():
            feeds.add_metric([name], count)
        yield feeds
        feed_ok = GaugeMetricFamily(
            f"{NAMESPACE}_feed_healthy", "1 when the feed's last poll succeeded recently.", labels=["feed"]
        )
        failures = GaugeMetricFamily(
            f"{NAMESPACE}_feed_consecutive_failures", "Failed polls in a row.", labels=["feed"]
        )
        last = GaugeMetricFamily(
            f"{NAMESPACE}_feed_last_success_timestamp_seconds", "When a poll last succeeded.", labels=["feed"]
        )
        errors = CounterMetricFamily(f"{NAMESPACE}_feed_errors", "Failed polls of each feed, ever.", labels=["feed"])
        for feed in snap.feeds:
            feed_ok.add_metric([feed["url"]], 1 if feed["health"] == "healthy" else 0)
            failures.add_metric([feed["url"]], feed["consecutive_failures"])
            errors.add_metric([feed["url"]], feed["errors"])
            if feed["last_success"]:
                last.add_metric([feed["url"]], feed["last_success"])
        yield from (feed_ok, failures, last, errors)
        hosts = GaugeMetricFamily(f"{NAMESPACE}_hosts_over_budget", "Hosts held back by their politeness budget.")
        hosts.add_metric([], len(snap.hosts_over_budget))
        yield hosts
        dead = GaugeMetricFamily(f"{NAMESPACE}_dead_letters", "Dead-letter records waiting for a look.")
        dead.add_metric([], snap.dead_letters)
        yield dead
        inflight = GaugeMetricFamily(f"{NAMESPACE}_stories_in_flight", "Stories between feed and index.")
        inflight.add_metric([], snap.in_flight)
        yield inflight
        outcomes = CounterMetricFamily(
            f"{NAMESPACE}_stage_outcomes",
            "Recorded outcomes per stage, all workers, ever.",
            labels=["stage", "outcome"],
        )
        for key, count in sorted(snap.stage_outcomes.items()):
            stage, _, outcome = key.partition(":")
            outcomes.add_metric([stage, outcome], count)
        yield outcomes
        for name, help_text, value in (
            ("index_documents", "Documents in the index, copies included.", snap.index["documents"]),
            ("index_stories", "Stories in the index: dedupe clusters, copies folded.", snap.index["stories"]),
            ("dedupe_copies_folded", "Documents folded into another story's cluster.", snap.index["copies_folded"]),
            ("index_pending_writes", "Documents queued for the bulk writer.", snap.index["pending_writes"]),
            ("index_lag_seconds", "Longest a story seen has waited to become searchable.", snap.index["lag_s"]),
        ):
            gauge = GaugeMetricFamily(f"{NAMESPACE}_{name}", help_text)
            gauge.add_metric([], value)
            yield gauge


def registry(runtime: Any) -> CollectorRegistry:
    """What ``/metrics`` serves: every process's task metrics, added up, and the state of ingestion."""
    reg = CollectorRegistry()
    MultiProcessCollector(reg)
    reg.register(StateCollector(runtime))
    return reg


def exposition(reg: CollectorRegistry) -> bytes:
    return generate_latest(reg)


def metric_names(runtime: Any) -> dict[str, str]:
    """Every metric /metrics serves, as written in queries (counters with _total), with its type."""
    families = [f for m in (TASKS, TASK_SECONDS, TASK_ERRORS, TASKS_SENT, HOST_REQUESTS) for f in m.describe()]
    families += list(StateCollector(runtime).collect())
    return {f.name + ("_total" if f.type == "counter" else ""): f.type for f in families}


def sample_names(runtime: Any) -> set[str]:
    """Every sample name a query may use: histograms add _bucket, _sum and _count."""
    out: set[str] = set()
    for name, kind in metric_names(runtime).items():
        out |= {name + s for s in ("_bucket", "_sum", "_count")} if kind == "histogram" else {name}
    return out


connect_signals()
