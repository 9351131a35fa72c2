"""Locks are owned and fenced, not only timed: a Redis restart right after a lock was taken stalls
indexing a few seconds at most, and a flusher whose lock lapsed cannot trim what it did not write."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.harness import free_port
from workers.adapters.redis_state import connect
from workers.indexing import BatchLimits, IndexQueue
from workers.services import redis_server_args, wait_for_redis


def _start(directory: Path, port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    proc = subprocess.Popen([binary, *redis_server_args(directory, port=port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_redis(f"redis://127.0.0.1:{port}/0")
    return proc


def test_bulk_lock_restored_from_the_aof_stalls_indexing_briefly() -> None:
    directory, port = Path(tempfile.mkdtemp(prefix="ww-lock-")), free_port()
    proc = _start(directory, port)
    url = f"redis://127.0.0.1:{port}/0"
    limits = BatchLimits()
    try:
        queue = IndexQueue(connect(url))
        holder = queue.acquire(limits)
        assert holder is not None
        queue.push({"story_id": "a" * 64})
        taken_at = time.monotonic()
        proc.terminate()  # a graceful shutdown writes the AOF, lock included
        proc.wait(timeout=10)
        proc = _start(directory, port)
        queue = IndexQueue(connect(url))
        assert queue.pending() == 1  # nothing lost across the restart
        # The old holder's token still fences the queue: a new flusher must wait, but not for long.
        while (token := queue.acquire(limits)) is None:
            assert time.monotonic() - taken_at < limits.lock_s + 1.0, "the restored lock outlived its lease"
            time.sleep(0.05)
        assert time.monotonic() - taken_at <= limits.lock_s + 1.0
        assert not queue.drop(1, holder, limits)  # the lapsed holder may not trim the queue
        assert queue.pending() == 1
        assert queue.drop(1, token, limits)
        assert queue.pending() == 0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)
