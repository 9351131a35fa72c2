"""The Celery app: Redis broker, JSON only, at-least-once delivery settings, the beat schedule."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging

from workers import logs
from workers import metrics as _metrics  # noqa: F401 - Prometheus counts and times every task (Celery signals)
from workers.adapters.redis_state import celery_broker_url
from workers.runtime import Runtime, current
from workers.schedule import beat_schedule
from workers.sender import QUEUE, broker_tls
from workers.settings import Settings


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
        task_default_queue=QUEUE,
        # Far above the longest task (a fetch at its total timeout); a message not acknowledged within
        # it (its worker died) is handed to another worker.
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        broker_use_ssl=broker_tls(settings.redis_url, settings.redis_ca_certs),
        worker_concurrency=settings.worker_concurrency,
        worker_hijack_root_logger=False,
        timezone="UTC",
        enable_utc=True,
        beat_schedule=beat_schedule(settings.dispatch_every_s),
    )
    return app


@setup_logging.connect
def _setup_logging(**_kwargs: Any) -> None:
    logs.configure(current().settings.log_level)


app = create_app(current())
