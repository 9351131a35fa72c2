"""A Celery client for sending wirewatch tasks from outside a worker (the CLI, tests, benchmarks).

Same broker URL spelling and the same verified TLS as the worker app, without building that app.
"""

from __future__ import annotations

import ssl
from typing import Any

from celery import Celery

from workers.adapters.redis_state import celery_broker_url
from workers.topology import PRIORITY_STEPS, celery_routing


def broker_tls(redis_url: str, ca_certs: str = "") -> dict[str, Any] | None:
    """TLS for a rediss:// broker, always verified: against the CA file if given, else the system's."""
    if not redis_url.startswith("rediss://"):
        return None
    options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    if ca_certs:
        options["ssl_ca_certs"] = ca_certs
    return options


def task_sender(redis_url: str, ca_certs: str = "") -> Celery:
    sender = Celery("wirewatch-sender", broker=celery_broker_url(redis_url))
    sender.conf.update(
        task_serializer="json",
        **celery_routing(),
        broker_transport_options={"queue_order_strategy": "priority", "priority_steps": PRIORITY_STEPS},
        broker_use_ssl=broker_tls(redis_url, ca_certs),
    )
    return sender
