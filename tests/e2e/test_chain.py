"""The whole chain with real worker and beat processes against the demo server.

Runs twice: on real Redis + Elasticsearch, and on the embedded default (embedded Redis + SQLite).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.models import SearchQuery
from tests.harness import temporary_prefix
from workers.demo import DemoServer
from workers.runtime import Runtime
from workers.services import EmbeddedRedis, WorkerSet
from workers.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "config" / "demo" / "stories.yaml"
TIMEOUT_S = 240
# The demo server is one host standing in for four outlets: poll it often, no politeness gap.
FAST: dict[str, Any] = {
    "poll_min_interval_s": 1.0,
    "dispatch_every_s": 0.5,
    "host_min_gap_s": 0.0,
    "host_max_concurrency": 16,
}


@dataclass
class Ingested:
    server: DemoServer
    runtime: Runtime
    expected: dict[str, Any]


@pytest.fixture(params=["services", "embedded"], scope="module")
def ingested(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingested]:
    stack = contextlib.ExitStack()
    data = tmp_path_factory.mktemp(f"data-{request.param}")
    server = DemoServer(CORPUS, port=0, spacing_s=0.05).start()
    feeds = data / "feeds.yaml"
    feeds.write_text(
        json.dumps({"feeds": [{"name": n, "url": u, "interval_s": 1} for n, u in server.feed_urls()]})
    )
    embedded: EmbeddedRedis | None = None
    if request.param == "services":
        redis_url = request.getfixturevalue("redis_url")
        es_url = request.getfixturevalue("es_url")
        prefix = stack.enter_context(temporary_prefix(es_url))
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        settings = Settings(
            redis_url=redis_url,
            elasticsearch_url=es_url,
            index_prefix=prefix,
            data_dir=data,
            feeds_file=str(feeds),
            allow_hosts=(server.base_url.split("//")[1],),
            log_level="WARNING",
            **FAST,
        )
    else:
        embedded = EmbeddedRedis(data / "redis")
        embedded.start()
        settings = Settings(
            data_dir=data, feeds_file=str(feeds), allow_hosts=(server.base_url.split("//")[1],), log_level="WARNING", **FAST
        )
    runtime = Runtime(settings)
    runtime.index  # noqa: B018 - prepared before workers start, as `wirewatch run` does
    expected = {server.story_id(a): a for a in server.articles}
    workers = WorkerSet(settings)
    workers.start()
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline and workers.alive():
            if len(runtime.index.present(expected)) == len(expected):
                break
            time.sleep(0.25)
        assert workers.alive(), "a worker or beat process died"
    finally:
        workers.stop()
        server.stop()
    runtime.index.refresh()
    yield Ingested(server, runtime, expected)
    if embedded is not None:
        embedded.stop()
    stack.close()


def test_every_story_is_searchable(ingested: Ingested) -> None:
    missing = set(ingested.expected) - ingested.runtime.index.present(ingested.expected)
    traces = {sid: ingested.runtime.ledger.trace(sid) for sid in list(missing)[:3]}
    assert not missing, f"{len(missing)} stories never became searchable; traces: {traces}"


def test_each_story_found_by_its_keyword_with_copies_collapsed(ingested: Ingested) -> None:
    originals = [a for a in ingested.server.articles if not a.is_copy]
    copies: dict[str, int] = {}
    for a in ingested.server.articles:
        if a.is_copy:
            copies[a.slug] = copies.get(a.slug, 0) + 1
    assert len(originals) == 36 and sum(copies.values()) == 8
    for article in originals:
        result = ingested.runtime.index.search(SearchQuery(text=f'"{article.keyword}"'))
        assert result.total == 1, f"{article.slug}: {result.total} results for {article.keyword!r}"
        hit = result.hits[0]
        assert hit.title == article.title
        assert len(hit.sources) == 1 + copies.get(article.slug, 0), article.slug
        assert "<mark>" in hit.snippet or article.keyword.lower() in hit.title.lower()


def test_unrelated_stories_are_indexed_with_low_topic_score(ingested: Ingested) -> None:
    index = ingested.runtime.index
    scores = {a.topic: [] for a in ingested.server.articles}  # type: dict[bool, list[float]]
    for sid, article in ingested.expected.items():
        doc = index.get(sid)
        assert doc is not None
        scores[article.topic].append(doc["topic"]["score"])
    assert len(scores[False]) == 10
    assert max(scores[False]) < min(scores[True])


def test_entities_linked_and_copies_share_a_cluster(ingested: Ingested) -> None:
    index = ingested.runtime.index
    nato = index.search(SearchQuery(entity="Q7184", size=100))
    assert nato.total >= 15
    edited = 0
    for slug in {a.slug for a in ingested.server.articles if a.is_copy}:
        pairs = [(a, index.get(sid)) for sid, a in ingested.expected.items() if a.slug == slug]
        clusters = {d["cluster"]["id"] for _a, d in pairs if d}
        assert len(clusters) == 1, slug
        assert sum(1 for _a, d in pairs if d and d["cluster"]["canonical"]) == 1
        canonical = next(a for a, d in pairs if d and d["cluster"]["canonical"])
        for article, doc in pairs:
            assert doc is not None
            edited += bool(article.intro)
            if doc["cluster"]["canonical"]:
                assert doc["cluster"]["match"] == "new"
                continue
            # First seen is canonical (workers may finish a copy before the original); the match
            # is against the closest copy seen before.
            matched = ingested.expected[doc["cluster"]["matched_story_id"]]
            expected = "near" if (article.intro or matched.intro) else "exact"
            assert doc["cluster"]["match"] == expected, (slug, doc["cluster"])
            if article.intro and not canonical.intro:
                assert any(article.intro[:40] in p for p in doc["cluster"]["changes"]["added"])
                assert len(doc["cluster"]["changes"]["removed"]) == 1
            if article.wire:
                assert doc["cluster"]["wire"] == article.wire, (slug, doc["cluster"]["wire"])
    assert edited == 4


def test_every_story_traced_to_indexed(ingested: Ingested) -> None:
    for sid in ingested.expected:
        stages = [(e["stage"], e["outcome"]) for e in ingested.runtime.ledger.trace(sid)]
        assert stages[0] == ("poll", "queued")
        assert stages[-1] == ("index", "ok"), stages
    assert ingested.runtime.ledger.dead_letters() == []


def test_search_command_json(ingested: Ingested) -> None:
    env = {**ingested.runtime.settings.to_env(), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "workers.cli", "search", "Kaliningrad", "--json", "--size", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=REPO,
    )
    result = json.loads(out.stdout)
    assert result["total"] >= 3 and len(result["hits"]) == 3
    assert all("Kaliningrad" in h["snippet"] or "Kaliningrad" in h["title"] for h in result["hits"])
