"""The Celery app: Redis broker, JSON only, at-least-once delivery settings, the beat schedule."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import (
    setup_logging,
    task_postrun,
    task_retry,
    task_revoked,
    worker_process_init,
    worker_ready,
)

from workers import logs
from workers import metrics as _metrics  # noqa: F401 - Prometheus counts and times every task (Celery signals)
from workers.adapters.redis_state import celery_broker_url
from workers.runtime import Runtime, current
from workers.schedule import beat_schedule
from workers.sender import broker_tls
from workers.settings import Settings
from workers.topology import CONTROL, PRIORITY_STEPS, ROUTES, celery_routing


def create_app(runtime: Runtime) -> Celery:
    settings: Settings = runtime.settings
    app = Celery("wirewatch", broker=celery_broker_url(runtime.redis_url), include=["workers.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A task that dies of an unexpected error (Redis gone mid-way) is rejected, not acknowledged as
        # done; Celery does not requeue it, so the story stays "in flight" in the ledger and the
        # reconciler restarts it from its last finished stage. Stage errors never get here: _run_stage
        # turns them into a retry, a drop or a dead-letter record.
        task_acks_on_failure_or_timeout=False,
        worker_prefetch_multiplier=1,
        # A process child loads spaCy before it reports for work (seconds, more on a loaded machine);
        # Celery's default of 4 s would kill it for being slow and start another, for ever.
        worker_proc_alive_timeout=120.0,
        # Queues by kind of work (workers/topology.py): each kind of worker consumes its own.
        **celery_routing(),
        broker_transport_options={
            # Far above the longest task (a fetch at its total timeout); a message not acknowledged
            # within it (its worker died) is handed to another worker.
            "visibility_timeout": settings.visibility_timeout_s,
            # Depth first inside the process queue: extract before dedupe before clean.
            "queue_order_strategy": "priority",
            "priority_steps": PRIORITY_STEPS,
        },
        broker_connection_retry_on_startup=True,
        broker_use_ssl=broker_tls(settings.redis_url, settings.redis_ca_certs),
        worker_concurrency=settings.worker_concurrency or None,
        worker_hijack_root_logger=False,
        timezone="UTC",
        enable_utc=True,
        beat_schedule=beat_schedule(settings.dispatch_every_s),
    )
    return app


@setup_logging.connect
def _setup_logging(**_kwargs: Any) -> None:
    logs.configure(current().settings.log_level)


@worker_process_init.connect
def _load_models(**_kwargs: Any) -> None:
    """A process child loads spaCy and the stage options when it starts, not inside its first task."""
    runtime = current()
    if runtime.settings.worker_kind in ("process", ""):
        runtime.preload()


@worker_ready.connect
def _start_dispatcher(**_kwargs: Any) -> None:
    """A fetch worker hands out frontier work to itself (and to every other fetch worker)."""
    if current().settings.worker_kind == "fetch":
        from workers.dispatcher import start_dispatcher

        start_dispatcher(current())


@task_revoked.connect
def _count_expired(request: Any = None, expired: bool = False, **_kwargs: Any) -> None:
    if expired:
        name = getattr(request, "task", None) or getattr(request, "name", "")
        current().redis.hincrby("ww:stats", f"expired:{ROUTES.get(str(name), CONTROL)}", 1)


@task_retry.connect
def _count_retry(**_kwargs: Any) -> None:
    current().redis.hincrby("ww:stats", "requeued", 1)


@task_postrun.connect
def _count_task(sender: Any = None, **_kwargs: Any) -> None:
    current().redis.hincrby("ww:stats", f"tasks:{ROUTES.get(getattr(sender, 'name', ''), CONTROL)}", 1)


app = create_app(current())
