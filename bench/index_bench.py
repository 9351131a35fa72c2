"""Indexing latency and bulk throughput on real Redis and Elasticsearch with real worker processes.

Latency: stories whose clean, dedupe and extract results are stored are handed to the index task
at a steady rate (10 stories/s), as the dedupe→extract→index chain does; the time from the hand-over
(the end of dedupe, less the extract step) to the story being searchable is measured by polling
search. Throughput: documents bulk-written straight through the adapter.
Usage: python -m bench.index_bench [--rate 10] [--seconds 30] [--es-url URL --redis-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import report
from bench.dedupe_bench import build_corpus
from bench.progress import track

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def services(es_url: str | None, redis_url: str | None) -> Iterator[tuple[str, str]]:
    from tests.harness import ElasticsearchProcess, RedisProcess

    with contextlib.ExitStack() as stack:
        if not redis_url:
            redis = RedisProcess.start()
            stack.callback(redis.stop)
            redis_url = redis.url
        if not es_url:
            home = Path(os.environ.get("WIREWATCH_TEST_ES_HOME", "/opt/wirewatch/elasticsearch-8.19.3"))
            es = ElasticsearchProcess.start(home)
            stack.callback(es.stop)
            es_url = es.url
        yield es_url, redis_url


def _stage_data(i: int, text: str) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
    from pipeline.models import CleanStory, DedupeResult, Extraction

    sid = f"{i:032x}"
    story = CleanStory(sid, f"https://bench.example/{i}", f"https://bench.example/{i}", "https://bench.example/rss",
                       "Bench Herald", f"Bench story {i}", text, published="2026-11-20T08:00:00+00:00", language="en")
    return (sid, story.to_json(), DedupeResult(sid, f"{i:016x}", sid, True).to_json(),
            Extraction(sid, topic_score=0.5).to_json())


def run(rate: float, seconds: float, es_url: str | None, redis_url: str | None) -> dict[str, Any]:
    from pipeline.index import story_document
    from pipeline.models import CleanStory, DedupeResult, Extraction
    from tests.harness import temporary_prefix
    from workers.runtime import Runtime
    from workers.services import WorkerSet
    from workers.settings import Settings

    texts = [item.text for item in build_corpus(3)]
    with services(es_url, redis_url) as (es, rd), temporary_prefix(es) as prefix, \
            tempfile.TemporaryDirectory() as data:
        settings = Settings(redis_url=rd, elasticsearch_url=es, index_prefix=prefix, data_dir=Path(data),
                            feeds_file=str(Path(data) / "none.yaml"), log_level="WARNING")
        (Path(data) / "none.yaml").write_text("feeds: []\n")
        runtime = Runtime(settings)
        runtime.redis.flushdb()
        index = runtime.index
        count = int(rate * seconds)
        ids = []
        for i in range(count):
            sid, clean, dup, ext = _stage_data(i, texts[i % len(texts)])
            runtime.stages.save("clean", sid, clean)
            runtime.stages.save("dedupe", sid, dup)
            runtime.stages.save("extract", sid, ext)
            ids.append(sid)
        os.environ.update(settings.to_env())
        from workers.sender import task_sender

        sender = task_sender(rd)
        workers = WorkerSet(settings, beat=True, log_dir=Path(data) / "logs")
        workers.start()
        try:
            time.sleep(8)  # workers up and the spaCy-free index path warm
            sent: dict[str, float] = {}
            seen: dict[str, float] = {}
            start = time.monotonic()
            for n, sid in enumerate(track(ids, f"index: stories sent at {rate:g}/s")):
                due = start + n / rate
                while time.monotonic() < due:
                    pending = [s for s in sent if s not in seen]
                    if pending:
                        now = time.monotonic()
                        for s in index.present(pending):
                            seen[s] = now
                    time.sleep(0.02)
                sender.send_task("wirewatch.index", args=[{"story_id": sid}])
                sent[sid] = time.monotonic()
            deadline = time.monotonic() + 30
            while len(seen) < len(sent) and time.monotonic() < deadline:
                now = time.monotonic()
                for s in index.present([s for s in sent if s not in seen]):
                    seen[s] = now
                time.sleep(0.02)
        finally:
            workers.stop()
        latencies = sorted(seen[s] - sent[s] for s in seen)
        # Bulk throughput straight through the adapter.
        docs = []
        for i in range(5000):
            sid, clean, dup, ext = _stage_data(10**6 + i, texts[i % len(texts)])
            docs.append(story_document(CleanStory.from_json(clean), DedupeResult.from_json(dup),
                                       Extraction.from_json(ext), "2026-11-20T09:00:00+00:00"))
        t = time.perf_counter()
        for k in track(range(0, len(docs), 500), "index: bulk writes of 500"):
            index.put_many(docs[k : k + 500])
        bulk_s = time.perf_counter() - t
    return {
        "rate_per_s": rate,
        "stories": len(sent),
        "searchable": len(seen),
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(latencies[int(len(latencies) * 0.95) - 1], 3),
        "max_s": round(latencies[-1], 3),
        "bulk_docs_per_s": round(len(docs) / bulk_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--es-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    r = run(args.rate, args.seconds, args.es_url, args.redis_url)
    md = f"""## Index: time to searchable and bulk throughput (Elasticsearch 8.19, real workers)

`python -m bench.index_bench` — {r['stories']} stories handed to the index task at a steady
{r['rate_per_s']} stories/s (Celery worker processes on Redis; bulk writes through the Redis queue,
index refresh interval 1 s, no per-story refresh); searchable = found by a search for its id.

| rate | stories searchable | p50 | p95 | max | bulk throughput |
|---|---|---|---|---|---|
| {r['rate_per_s']}/s | {r['searchable']}/{r['stories']} | {r['p50_s']} s | **{r['p95_s']} s** | {r['max_s']} s | **{r['bulk_docs_per_s']:,} docs/s** |

Target: p95 ≤ 2 s at 10 stories/s.
"""
    report.write("index", r, md)
    print(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
