"""Queues by kind of work: every task lands in its own queue only, on a real Redis broker."""

from __future__ import annotations

from workers.adapters.redis_state import connect
from workers.dispatcher import queue_depth
from workers.sender import task_sender
from workers.topology import PRIORITY, QUEUES, ROUTES, worker_kinds


def test_each_task_lands_in_its_queue_and_nowhere_else(redis_url: str) -> None:
    client = connect(redis_url)
    sender = task_sender(redis_url)
    for name, queue in ROUTES.items():
        client.flushdb()
        sender.send_task(name, args=[{"story_id": "0" * 64}], priority=PRIORITY.get(name))
        depths = {q: queue_depth(client, q) for q in QUEUES}
        assert depths == {q: int(q == queue) for q in QUEUES}, name
    client.flushdb()


def test_every_queue_has_a_kind_of_worker_and_pools_fit_the_work() -> None:
    kinds = worker_kinds(cpus=2)
    consumed = [q for k in kinds.values() for q in k.queues]
    assert sorted(consumed) == sorted(QUEUES)  # each queue consumed by exactly one kind
    assert kinds["process"].pool == "prefork" and kinds["process"].concurrency == 2
    assert kinds["fetch"].pool == "threads" and kinds["fetch"].concurrency >= 16
    assert kinds["control"].queues == ("control",) and kinds["control"].beat
