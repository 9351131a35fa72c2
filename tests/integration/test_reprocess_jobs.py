"""Reprocess jobs without workers: batches, resume after a restart, cancel, partial in place."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.boilerplate import paragraph_key, remove_learned_boilerplate
from pipeline.clean import clean
from pipeline.dedupe import text_hash
from pipeline.fetch import story_id_for
from pipeline.index import story_document
from pipeline.models import DedupeResult, Extraction, FeedEntry, FetchedPage, SearchQuery
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


OUTLET_TAIL = ("This report was compiled with help from our newsroom's automated drafting assistant and checked "
               "by a Quayside Post editor before publication.")
HARBOUR_TOPICS = ("the ferry timetable", "the harbour dredging", "the fish market lease", "the lighthouse repairs",
                  "the marina fees", "the coastguard budget", "the pier closure", "the tide gauge")


def outlet_page(i: int, host: str = "www.quaysidepost.example", tails: tuple[str, ...] = (OUTLET_TAIL,)
                ) -> tuple[FetchedPage, bytes]:
    """A story of an outlet (``host``), its text of its own, with the outlet's repeated paragraphs at the end."""
    topic = HARBOUR_TOPICS[i % len(HARBOUR_TOPICS)]
    paragraphs = [
        f"KLAIPEDA, Nov {10 + i} - The port authority voted on Tuesday to revisit {topic}, after shipping agents "
        f"complained that delays had cost them {i + 3} sailings since the summer, officials said.",
        f"The harbour master told the council that work on {topic} would start before the winter storms and that "
        f"the quay would stay open to ferries and freight while it was carried out.",
        f"Residents who spoke at the meeting asked for a public timetable for {topic}, which the authority "
        f"promised to publish before the end of the month along with its cost.",
        *tails,
    ]
    html = ("<html><head><meta charset='utf-8'><title>Port authority acts on " + topic + "</title></head><body>"
            "<article>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</article></body></html>").encode()
    url = f"https://{host}/news/{i}-{topic.replace(' ', '-')}"
    entry = FeedEntry(story_id=story_id_for(url), url=url, feed_url=f"https://{host}/rss",
                      title=f"Port authority acts on {topic}")
    page = FetchedPage(story_id=entry.story_id, url=url, raw_key="", status=200, content_type="text/html",
                       fetched_at="2026-11-20T12:00:00+00:00", entry=entry)
    return page, html


def test_reprocess_from_clean_keeps_a_learned_outlet_tail_out(tmp_path: Path, redis_url: str) -> None:
    rt = _runtime(tmp_path, redis_url)
    rt.redis.flushdb()
    options = rt.boilerplate_options
    ids = []
    # The outlet's stories as the live clean task handles them: cleaned, its learned boilerplate removed
    # (the evidence of the stories before), indexed.
    for i in range(options.min_stories + 1):
        page, html = outlet_page(i)
        page = replace(page, raw_key=rt.raw_store.put(html))
        story, _removed = remove_learned_boilerplate(clean(page, html, rt.clean_options), rt.boilerplate, options)
        rt.index.put(story_document(story, DedupeResult(story.story_id, text_hash(story.text), story.story_id, True),
                                    Extraction(story.story_id), "2026-11-20T12:01:00+00:00"))
        ids.append(story.story_id)
    texts = [rt.index.get(sid)["text"] for sid in ids]  # type: ignore[index]
    assert [OUTLET_TAIL in t for t in texts] == [True] * options.min_stories + [False]  # learned on the sixth
    key = paragraph_key(OUTLET_TAIL)
    assert rt.boilerplate.evidence("quaysidepost.example", [key])[key].stories == options.min_stories + 1

    for _ in range(2):  # twice: the evidence must not grow with each reprocess
        job = jobs_module.start_job(rt, jobs_module.JobSpec(SearchQuery(ids=tuple(ids), collapse=False), "clean"))
        while jobs_module.run_batch(rt, job):
            pass
        assert jobs_module.ReprocessJobs(rt.redis).progress(job)["done"] == len(ids)
        for sid in ids:
            doc = rt.index.get(sid)
            assert doc is not None and doc["indexed_at"] != "2026-11-20T12:01:00+00:00"
            # Learned now, the tail stays out of every story of the outlet, the sixth and the first five.
            assert OUTLET_TAIL not in doc["text"] and "The harbour master told the council" in doc["text"]
        assert rt.boilerplate.evidence("quaysidepost.example", [key])[key].stories == options.min_stories + 1
        assert rt.boilerplate.learned(options.min_stories, options.max_outlets)["quaysidepost.example"][0][
            "stories"] == options.min_stories + 1
