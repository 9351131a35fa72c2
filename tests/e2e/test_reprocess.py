"""Reprocessing on real Redis and Elasticsearch with real workers: a gazetteer change reaches every story.

Ingest the demo stories, add an actor to the gazetteer, rebuild from the extract stage while live
stories keep arriving and search keeps answering, and check the new entity is searchable, no story
is lost or doubled, and the aliases moved exactly once.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.models import SearchQuery
from tests.harness import temporary_prefix
from workers import reprocess as jobs_module
from workers.demo import DemoServer
from workers.indexing import BatchLimits, flush
from workers.runtime import Runtime
from workers.services import WorkerSet
from workers.settings import Settings

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
FAST: dict[str, Any] = {"poll_min_interval_s": 1.0, "dispatch_every_s": 0.5, "host_min_gap_s": 0.0,
                        "host_max_concurrency": 16}


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_rebuild_after_gazetteer_change(tmp_path: Path, redis_url: str, es_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    server = DemoServer(config / "demo" / "stories.yaml", port=0, spacing_s=0.02).start()
    # Half the stories first; the rest are released while the rebuild runs.
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(json.dumps({"feeds": [{"name": n, "url": u, "interval_s": 1} for n, u in server.feed_urls()]}))
    with contextlib.ExitStack() as stack:
        prefix = stack.enter_context(temporary_prefix(es_url))
        settings = Settings(redis_url=redis_url, elasticsearch_url=es_url, index_prefix=prefix, data_dir=tmp_path,
                            config_dir=config, feeds_file=str(feeds), allow_hosts=(server.base_url.split("//")[1],),
                            log_level="WARNING", **FAST)
        runtime = Runtime(settings)
        index = runtime.index
        expected = {server.story_id(a): a for a in server.articles}
        workers = WorkerSet(settings, log_dir=tmp_path / "logs")
        workers.start()
        stack.callback(workers.stop)
        _wait(lambda: len(index.present(expected)) == len(expected), 180, "the demo ingested")
        index.refresh()
        keyword = "Silvergull"
        assert index.search(SearchQuery(entity="Q99999901")).total == 0

        # A new actor in the gazetteer; the workers restart with it, as after a deploy.
        gazetteer = yaml.safe_load((config / "gazetteer.yaml").read_text())
        gazetteer["entities"].append({"id": "Q99999901", "name": "Silvergull Mission", "type": "org",
                                      "aliases": [keyword]})
        (config / "gazetteer.yaml").write_text(yaml.safe_dump(gazetteer, allow_unicode=True))
        workers.stop()
        workers = WorkerSet(settings, log_dir=tmp_path / "logs")
        workers.start()
        stack.callback(workers.stop)
        runtime = Runtime(settings)
        old_version = index.version_name(index.current_version())

        # Search must answer throughout.
        answers: list[int] = []
        errors: list[str] = []
        stop = threading.Event()

        def searcher() -> None:
            while not stop.is_set():
                try:
                    answers.append(index.search(SearchQuery(text="NATO", size=1)).total)
                except Exception as exc:  # noqa: BLE001 - recorded and asserted below
                    errors.append(repr(exc))
                time.sleep(0.05)

        thread = threading.Thread(target=searcher)
        thread.start()
        job = jobs_module.start_job(runtime, jobs_module.JobSpec(SearchQuery(collapse=False), "extract", True, 8))
        # A live story written while the rebuild runs goes to the live version and the new one.
        live = dict(index.get(next(iter(expected))))  # type: ignore[arg-type]
        # Its own page: a document on another story's canonical URL is that story's copy, and the writer skips it.
        live.update(story_id="f" * 32, title="A live story written during the rebuild", url="http://live.example/",
                    canonical_url="http://live.example/")
        runtime.index_queue.push(live)
        flush(runtime.index_queue, index, runtime.ledger, BatchLimits(linger_s=0))
        from workers.sender import task_sender

        sender = task_sender(redis_url)
        sender.send_task("wirewatch.reprocess", args=[job])
        jobs = jobs_module.ReprocessJobs(runtime.redis)
        _wait(lambda: jobs.progress(job)["status"] != "running", 180, "the rebuild")
        stop.set()
        thread.join()
        progress = jobs.progress(job)
        assert progress["status"] == "done", progress
        assert progress["failed"] == 0 and progress["done"] == len(expected) + 1  # with the live story
        assert errors == [] and len(answers) > 5 and min(answers) > 0

        index.refresh()
        status = index.status()  # type: ignore[attr-defined]
        new_version = jobs.get(job)["target"]
        assert status["indices"][new_version]["aliases"] == sorted([index.read_alias, index.write_alias])  # type: ignore[attr-defined]
        assert status["indices"][old_version]["aliases"] == []
        assert int(jobs.get(job)["swaps"]) == 1
        # No story lost or doubled: the new version holds each story once.
        assert status["indices"][new_version]["documents"] == len(expected) + 1
        assert index.present([*expected, "f" * 32]) == {*expected, "f" * 32}
        # The new actor is searchable: every story mentioning it links it.
        mentioning = {sid for sid, a in expected.items() if any(keyword in p for p in a.paragraphs)}
        assert mentioning
        linked = index.search(SearchQuery(entity="Q99999901", collapse=False, size=100))
        assert {h.story_id for h in linked.hits} == mentioning
        # New live stories still go to the (new) write alias.
        assert runtime.index_queue.also_write_to() is None
