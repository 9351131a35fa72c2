"""Reprocess jobs without workers: batches, resume after a restart, cancel, partial in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.models import SearchQuery
from tests.integration.test_index_contract import make_doc
from workers import reprocess as jobs_module
from workers.runtime import Runtime
from workers.settings import Settings


def _runtime(tmp_path: Path, redis_url: str, es_url: str | None = None, prefix: str = "") -> Runtime:
    (tmp_path / "none.yaml").write_text("feeds: []\n")
    extra = {"elasticsearch_url": es_url, "index_prefix": prefix} if es_url else {}
    return Runtime(Settings(redis_url=redis_url, data_dir=tmp_path, feeds_file=str(tmp_path / "none.yaml"), **extra))


def _fill(rt: Runtime, n: int) -> None:
    rt.redis.flushdb()
    rt.index.put_many([make_doc(f"{i:032x}", f"Stored story {i} about the Baltic.") for i in range(n)])
    rt.index.refresh()


def test_rebuild_resumes_after_a_restart_and_swaps_once(tmp_path: Path, redis_url: str, es_url: str,
                                                        es_prefix: str) -> None:
    rt = _runtime(tmp_path, redis_url, es_url, es_prefix)
    _fill(rt, 25)
    old = rt.index.version_name(rt.index.current_version())  # type: ignore[attr-defined]
    job = jobs_module.start_job(rt, jobs_module.JobSpec(SearchQuery(collapse=False), "index", True, 10))
    assert jobs_module.run_batch(rt, job)  # 10 done, then the worker "dies"
    rt2 = _runtime(tmp_path, redis_url, es_url, es_prefix)  # a new process picks the job up
    while jobs_module.run_batch(rt2, job):
        pass
    jobs = jobs_module.ReprocessJobs(rt2.redis)
    progress = jobs.progress(job)
    assert (progress["status"], progress["done"], progress["failed"]) == ("done", 25, 0)
    assert int(jobs.get(job)["swaps"]) == 1
    status = rt2.index.status()  # type: ignore[attr-defined]
    new = jobs.get(job)["target"]
    assert status["indices"][new]["documents"] == 25 and status["indices"][old]["aliases"] == []
    assert rt2.index_queue.also_write_to() is None
    # Running the finished job again does nothing (a redelivered message is harmless).
    assert jobs_module.run_batch(rt2, job) is False


def test_cancel_keeps_the_old_version_live(tmp_path: Path, redis_url: str, es_url: str, es_prefix: str) -> None:
    rt = _runtime(tmp_path, redis_url, es_url, es_prefix)
    _fill(rt, 12)
    old = rt.index.version_name(rt.index.current_version())  # type: ignore[attr-defined]
    job = jobs_module.start_job(rt, jobs_module.JobSpec(SearchQuery(collapse=False), "index", True, 5))
    assert rt.index_queue.also_write_to() == jobs_module.ReprocessJobs(rt.redis).get(job)["target"]
    jobs_module.run_batch(rt, job)
    jobs_module.cancel(rt, job)
    assert jobs_module.run_batch(rt, job) is False
    status = rt.index.status()  # type: ignore[attr-defined]
    assert list(status["indices"]) == [old]
    assert status["indices"][old]["documents"] == 12
    assert rt.index_queue.also_write_to() is None


@pytest.mark.parametrize("backend", ["embedded", "elasticsearch"])
def test_partial_reprocess_updates_only_the_selection_in_place(backend: str, tmp_path: Path, redis_url: str,
                                                               request: pytest.FixtureRequest) -> None:
    if backend == "elasticsearch":
        rt = _runtime(tmp_path, redis_url, request.getfixturevalue("es_url"), request.getfixturevalue("es_prefix"))
    else:
        rt = _runtime(tmp_path, redis_url)
    _fill(rt, 10)
    selected = tuple(f"{i:032x}" for i in (1, 4, 7))
    before = {sid: rt.index.get(sid)["indexed_at"] for sid in selected}  # type: ignore[index]
    job = jobs_module.start_job(rt, jobs_module.JobSpec(SearchQuery(ids=selected, collapse=False), "index", False, 2))
    while jobs_module.run_batch(rt, job):
        pass
    rt.index.refresh()
    assert jobs_module.ReprocessJobs(rt.redis).progress(job)["done"] == 3
    assert rt.index.count() == 10
    for sid in selected:
        assert rt.index.get(sid)["indexed_at"] != before[sid]  # type: ignore[index]
    untouched = rt.index.get(f"{2:032x}")
    assert untouched is not None and untouched["indexed_at"] == "2026-11-20T08:15:00+00:00"
