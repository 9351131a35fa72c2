"""`wirewatch status`: queues, workers, feeds by health, hosts over budget, dead letters, the index; tables or JSON."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_metrics import _seed, runtime  # noqa: F401 - the same seeded Redis and index
from workers import cli
from workers.health import FEED_STATES, feed_health, queue_depths
from workers.runtime import Runtime


@pytest.fixture
def env(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Runtime:  # noqa: F811
    for key in ("WIREWATCH_ELASTICSEARCH_URL", "WIREWATCH_FEEDS_FILE", "WIREWATCH_REDIS_URL", "WIREWATCH_DATA_DIR"):
        monkeypatch.delenv(key, raising=False)
    s = runtime.settings
    monkeypatch.setenv("WIREWATCH_REDIS_URL", s.redis_url)
    monkeypatch.setenv("WIREWATCH_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("WIREWATCH_FEEDS_FILE", s.feeds_file)
    _seed(runtime, time.time())
    return runtime


def test_status_json(env: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "--json", "--timeout", "0"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["queues"] == {"control": 0, "feeds": 0, "fetch": 0, "process": 3, "index": 0, "webhooks": 0}
    assert status["feeds"]["counts"] == {"healthy": 1, "failing": 1, "stale": 1, "gone": 1, "never polled": 1}
    by_name = {f["name"]: f for f in status["feeds"]["feeds"]}
    assert by_name["Gone"]["health"] == "gone" and "410" in by_name["Gone"]["last_error"]
    assert by_name["Bad"]["consecutive_failures"] == 3
    assert list(status["hosts_over_budget"]) == ["good.example"]
    assert status["hosts_over_budget"]["good.example"].startswith("over by 16%: its 1 feeds need 70 requests/min")
    assert status["fetching_paused"] is False
    assert status["dead_letters"] == 1 and status["in_flight"] == 1
    index = status["index"]
    assert (index["documents"], index["stories"], index["copies_folded"], index["pending_writes"]) == (3, 2, 1, 0)
    assert 41 <= index["lag_s"] < 60
    assert status["workers"] == {}


def test_status_tables(env: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "--timeout", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "Queues" in out and re.search(r"process\s*│\s*3\s*│", out)
    assert "Workers: none answered within 0.5 s" in out
    assert "Feeds: 1 healthy, 1 failing, 1 stale, 1 gone, 1 never polled" in out
    cells = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    healths = [c for c in cells if c in FEED_STATES]
    assert len(healths) == 5 and healths[-1] == "healthy"  # the least healthy first
    assert "good.example" in out and "over by 16%" in out
    assert "Dead letters: 1 (`wirewatch dead-letter list`)" in out
    assert "│         3 │       2 │             1 │              0 │" in out


def test_status_with_redis_down_is_one_line(
    env: Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.harness import free_port

    monkeypatch.setenv("WIREWATCH_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    assert cli.main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach Redis" in err


@pytest.mark.parametrize(
    ("state", "health"),
    [
        ({}, "never polled"),
        ({"last_poll": "100", "last_success": "100"}, "healthy"),
        (
            {"last_poll": "100", "last_success": "100", "consecutive_failures": "2", "last_error": "transient: x"},
            "failing",
        ),
        ({"last_poll": "100", "consecutive_failures": "1", "last_error": "permanent: HTTP 404 from u"}, "gone"),
        ({"last_poll": "100", "last_success": "1"}, "stale"),
    ],
)
def test_feed_health(state: dict[str, str], health: str) -> None:
    assert feed_health(state, now=150.0, stale_after_s=100.0) == health


def test_queue_depths_count_every_priority(redis_client: Any) -> None:
    redis_client.rpush("process", "a")
    redis_client.rpush("process\x06\x163", "b", "c")
    assert queue_depths(redis_client, ["process", "fetch"]) == {"process": 3, "fetch": 0}


def test_queue_names_are_the_kinds_of_work() -> None:
    from workers import health
    from workers.topology import QUEUES

    assert health.queue_names() == list(QUEUES) == ["control", "feeds", "fetch", "process", "index", "webhooks"]


def test_status_help_mentions_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["status", "--help"])
    assert "--json" in capsys.readouterr().out
