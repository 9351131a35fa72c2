"""Rebuild rate, and live latency with and without a rebuild running (real Redis, Elasticsearch, workers).

The index is filled with stories; live stories then arrive at a steady rate through the extract and
index stages (their clean and dedupe results stored, as after those stages), first alone, then while
a full rebuild from the extract stage runs. Live latency is from hand-over to searchable.
Usage: python -m bench.reprocess_bench [--stories 2000] [--live-rate 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import report
from bench.dedupe_bench import build_corpus
from bench.index_bench import services
from bench.progress import bar, track


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)]


def run(stories: int, live_rate: float, live_seconds: float) -> dict[str, Any]:
    from celery.canvas import chain

    from pipeline.index import story_document
    from pipeline.models import CleanStory, DedupeResult, Extraction, SearchQuery
    from tests.harness import temporary_prefix
    from workers import reprocess as jobs_module
    from workers.runtime import Runtime
    from workers.sender import task_sender
    from workers.services import WorkerSet
    from workers.settings import Settings

    texts = [item.text for item in build_corpus(5)]
    with services(None, None) as (es, rd), temporary_prefix(es) as prefix, tempfile.TemporaryDirectory() as data:
        (Path(data) / "none.yaml").write_text("feeds: []\n")
        settings = Settings(redis_url=rd, elasticsearch_url=es, index_prefix=prefix, data_dir=Path(data),
                            feeds_file=str(Path(data) / "none.yaml"), log_level="WARNING")
        rt = Runtime(settings)
        rt.redis.flushdb()
        docs = []
        for i in range(stories):
            story = CleanStory(f"{i:032x}", f"https://b.example/{i}", f"https://b.example/{i}", "f", "Bench Herald",
                               f"Stored story {i}", texts[i % len(texts)], published="2026-11-20T08:00:00+00:00",
                               language="en")
            docs.append(story_document(story, DedupeResult(story.story_id, f"{i:016x}", story.story_id, True),
                                       Extraction(story.story_id), "2026-11-20T09:00:00+00:00"))
        for k in track(range(0, len(docs), 500), "reprocess: stored stories written, 500 a request"):
            rt.index.put_many(docs[k : k + 500])
        rt.index.refresh()
        os.environ.update(settings.to_env())
        sender = task_sender(rd)
        workers = WorkerSet(settings, beat=True, log_dir=Path(data) / "logs")
        workers.start()
        counter = [10**7]

        def live_round(seconds: float) -> list[float]:
            sent: dict[str, float] = {}
            seen: dict[str, float] = {}
            start = time.monotonic()
            n = 0
            while time.monotonic() - start < seconds or len(seen) < len(sent):
                if time.monotonic() - start < seconds and time.monotonic() >= start + n / live_rate:
                    counter[0] += 1
                    sid = f"{counter[0]:032x}"
                    story = CleanStory(sid, f"https://live.example/{sid}", f"https://live.example/{sid}", "f",
                                       "Live Wire", "Live story", texts[counter[0] % len(texts)],
                                       published="2026-11-21T08:00:00+00:00", language="en")
                    rt.stages.save("clean", sid, story.to_json())
                    rt.stages.save("dedupe", sid, DedupeResult(sid, sid[:16], sid, True).to_json())
                    chain(sender.signature("wirewatch.extract", args=[{"story_id": sid}], immutable=True),
                          sender.signature("wirewatch.index", args=[{"story_id": sid}], immutable=True)).apply_async()
                    sent[sid] = time.monotonic()
                    n += 1
                pending = [s for s in sent if s not in seen]
                if pending:
                    now = time.monotonic()
                    for s in rt.index.present(pending):
                        seen[s] = now
                if time.monotonic() - start > seconds + 120:
                    break
                time.sleep(0.02)
            return [seen[s] - sent[s] for s in seen]

        try:
            time.sleep(10)  # workers up; their spaCy models load on the first extract
            live_round(5)  # warm
            normal = live_round(live_seconds)
            job = jobs_module.start_job(rt, jobs_module.JobSpec(SearchQuery(collapse=False), "extract", True, 16))
            sender.send_task("wirewatch.reprocess", args=[job])
            during = live_round(live_seconds)
            jobs = jobs_module.ReprocessJobs(rt.redis)
            deadline = time.monotonic() + 1800
            with bar("reprocess: the rebuild job, stories done", stories) as shown:
                while (now := jobs.progress(job))["status"] == "running" and time.monotonic() < deadline:
                    shown.update(now["done"] + now["failed"])
                    time.sleep(0.5)
                shown.update(now["done"] + now["failed"])
            job_state = jobs.get(job)
            progress = jobs.progress(job)
        finally:
            workers.stop()
        elapsed = float(job_state.get("finished", job_state["updated"])) - float(job_state["started"])
        return {
            "stories": stories,
            "rebuild_per_s": round((progress["done"] + progress["failed"]) / elapsed, 1),
            "rebuild_status": progress["status"],
            "live_rate_per_s": live_rate,
            "live_p50_s_normal": round(statistics.median(normal), 3),
            "live_p95_s_normal": round(_p95(normal), 3),
            "live_p50_s_during": round(statistics.median(during), 3),
            "live_p95_s_during": round(_p95(during), 3),
            "live_ratio_p95": round(_p95(during) / _p95(normal), 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stories", type=int, default=2000)
    parser.add_argument("--live-rate", type=float, default=2.0)
    parser.add_argument("--live-seconds", type=float, default=30.0)
    args = parser.parse_args()
    r = run(args.stories, args.live_rate, args.live_seconds)
    md = f"""## Reprocess: full rebuild while live stories arrive

`python -m bench.reprocess_bench` — {r['stories']:,} stored stories rebuilt from the extract stage into a
new index version (batches of 16, one batch in flight, re-queued behind live work), while live stories
arrive at {r['live_rate_per_s']}/s through extract and index (2 worker processes, this 2-core machine).

| rebuild rate | live p50 / p95 without rebuild | live p50 / p95 during rebuild | p95 ratio |
|---|---|---|---|
| **{r['rebuild_per_s']} stories/s** | {r['live_p50_s_normal']} s / {r['live_p95_s_normal']} s | {r['live_p50_s_during']} s / **{r['live_p95_s_during']} s** | **{r['live_ratio_p95']}** |

Target: live latency within 2x of normal during a rebuild.
"""
    report.write("reprocess", r, md)
    print(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
