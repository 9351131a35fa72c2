"""`wirewatch run --only KIND` starts one kind of worker; a process worker's children load spaCy when
they start, before any task arrives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workers.adapters.redis_state import connect

pytestmark = pytest.mark.e2e


def test_run_only_process_starts_that_kind_and_loads_models_at_start(redis_url: str, tmp_path: Path) -> None:
    connect(redis_url).flushdb()
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env.update(WIREWATCH_REDIS_URL=redis_url, WIREWATCH_DATA_DIR=str(tmp_path),
               WIREWATCH_FEEDS_FILE=str(tmp_path / "feeds.yaml"), WIREWATCH_WORKER_CONCURRENCY="2")
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "workers.cli", "run", "--only", "process"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and log.read_text().count("loading spaCy model") < 2:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.5)
        text = log.read_text()
        # Both children loaded the model with no task sent at all.
        assert text.count("loading spaCy model") == 2, text[-3000:]
        assert "process worker (prefork x2, queues process)" in text
        for other in ("control worker", "fetch worker", "index worker", "beat: Starting"):
            assert other not in text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
