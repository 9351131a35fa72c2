"""A worse copy of a page displaced by a better one that came later: the better copy takes its place in
the dedupe state (cluster and canonical role), and the bulk writer takes the worse one out of the index.

On the embedded adapters: the embedded Redis server and the SQLite index.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.dedupe import dedupe
from pipeline.fetch import story_id_for
from pipeline.index import story_document
from pipeline.models import CleanStory, DedupeResult, Extraction, SearchQuery
from tests.ferry_story import INTRO, PAGE, TAIL, WIRE
from workers.adapters.redis_state import RedisDedupeState, RedisEntryLedger, connect
from workers.adapters.sqlite_index import SqliteIndex
from workers.indexing import BatchLimits, IndexQueue, flush

AMP = "https://www.harbourherald.example/amp/news/2026/11/20/ferry-operator-halts-night-crossings"
PRINT = PAGE + "?print=1"
COURIER = "https://www.coastalcourier.example/world/baltic-ferry-night-crossings-halted"
GAZETTE = "https://www.rigagazette.example/en/ferry-night-crossings-stopped"


def _story(url: str, paragraphs: list[str], outlet: str = "Harbour Herald", canonical: str = PAGE) -> CleanStory:
    return CleanStory(story_id=story_id_for(url), url=url, canonical_url=canonical,
                      feed_url=url.split("/news")[0] + "/rss", outlet=outlet, title="Ferry operator halts night crossings",
                      text="\n\n".join(paragraphs), published="2026-11-20T09:00:00+00:00", language="en",
                      fetched_at="2026-11-20T09:05:00+00:00")


WORSE = _story(AMP, [*WIRE, TAIL])
BETTER = _story(PAGE, WIRE)
MIDDLE = _story(PRINT, WIRE[:-1] + [WIRE[-1] + " Ferry fares were unchanged."])
COURIER_COPY = _story(COURIER, [INTRO, *WIRE], "Coastal Courier", COURIER)
GAZETTE_COPY = _story(GAZETTE, [*WIRE[:4]], "Riga Gazette", GAZETTE)


@pytest.fixture
def client(embedded_redis_url: str) -> Iterator[Any]:
    c = connect(embedded_redis_url)
    c.flushdb()
    yield c
    c.flushdb()
    c.close()


def test_ids_differ_and_one_page_is_claimed() -> None:
    ids = {s.story_id for s in (WORSE, BETTER, MIDDLE, COURIER_COPY, GAZETTE_COPY)}
    assert len(ids) == 5
    assert {WORSE.canonical_url, BETTER.canonical_url, MIDDLE.canonical_url} == {PAGE}


def test_the_better_copy_takes_the_displaced_canonicals_cluster(client: Any) -> None:
    state = RedisDedupeState(client, window_s=86400)
    worse = dedupe(WORSE, state)
    courier = dedupe(COURIER_COPY, state)
    assert worse.is_canonical and worse.cluster_id == WORSE.story_id
    assert (courier.cluster_id, courier.is_canonical) == (WORSE.story_id, False)

    better = dedupe(BETTER, state, displaced=[WORSE.story_id])
    # Its place: the same cluster, as its canonical, as if it had come first.
    assert (better.cluster_id, better.is_canonical, better.match) == (WORSE.story_id, True, "new")
    assert better.canonical_id == BETTER.story_id and better.canonical_story_id == BETTER.story_id
    # A copy that comes later joins that cluster with the better copy as its canonical, never the worse one.
    gazette = dedupe(GAZETTE_COPY, state)
    assert (gazette.cluster_id, gazette.is_canonical) == (WORSE.story_id, False)
    assert gazette.canonical_story_id == BETTER.story_id
    assert gazette.matched_story_id in (BETTER.story_id, COURIER_COPY.story_id)
    # A revision of the better copy stays its cluster's canonical; the courier's copy is still a copy.
    again = dedupe(BETTER, state)
    assert (again.match, again.cluster_id, again.is_canonical) == ("revision", WORSE.story_id, True)
    assert dedupe(COURIER_COPY, state).is_canonical is False


def test_the_displaced_story_leaves_the_window(client: Any) -> None:
    state = RedisDedupeState(client, window_s=86400)
    dedupe(WORSE, state)
    dedupe(BETTER, state, displaced=[WORSE.story_id])
    # The worse copy is no longer in the window: seen again, it is no revision of itself, but a copy of the
    # better one (a matched story that is gone from the index is never handed out).
    back = dedupe(WORSE, state)
    assert back.match in ("near", "exact") and back.matched_story_id == BETTER.story_id
    assert back.is_canonical is False


def test_a_chain_of_better_copies_keeps_one_cluster(client: Any) -> None:
    state = RedisDedupeState(client, window_s=86400)
    dedupe(WORSE, state)
    dedupe(COURIER_COPY, state)
    middle = dedupe(MIDDLE, state, displaced=[WORSE.story_id])
    best = dedupe(BETTER, state, displaced=[MIDDLE.story_id, WORSE.story_id])
    assert middle.cluster_id == best.cluster_id == WORSE.story_id
    assert best.is_canonical and best.canonical_id == BETTER.story_id
    assert dedupe(GAZETTE_COPY, state).canonical_story_id == BETTER.story_id


def test_a_displaced_copy_hands_over_its_place_as_a_copy(client: Any) -> None:
    """The worse copy was itself a copy of another outlet's story: the better one is a copy there too."""
    state = RedisDedupeState(client, window_s=86400)
    courier = dedupe(COURIER_COPY, state)
    worse = dedupe(WORSE, state)
    assert (worse.cluster_id, worse.is_canonical) == (courier.cluster_id, False)
    better = dedupe(BETTER, state, displaced=[WORSE.story_id])
    assert (better.cluster_id, better.is_canonical) == (COURIER_COPY.story_id, False)
    assert better.matched_story_id == COURIER_COPY.story_id and better.match == "near"
    assert better.canonical_id is None


def test_nothing_displaced_in_the_window_is_an_ordinary_assignment(client: Any) -> None:
    state = RedisDedupeState(client, window_s=86400)
    better = dedupe(BETTER, state, displaced=[WORSE.story_id, "not-a-story-id"])
    assert (better.cluster_id, better.is_canonical, better.match, better.canonical_id) == (
        BETTER.story_id, True, "new", None)


# --- the bulk writer --------------------------------------------------------------------------------


def _doc(story: CleanStory, cluster: str | None = None) -> dict[str, Any]:
    cluster = cluster or story.story_id
    dup = DedupeResult(story.story_id, "0" * 16, cluster, cluster == story.story_id)
    return story_document(story, dup, Extraction(story.story_id, topic_score=0.6), "2026-11-20T09:06:00+00:00")


def _claim(ledger: RedisEntryLedger, story: CleanStory, rank: dict[str, int]) -> tuple[str, str | None]:
    return ledger.claim_canonical_best(story_id_for(PAGE), story.story_id, 3600,
                                       lambda holder: rank[story.story_id] > rank[holder])


RANK = {WORSE.story_id: 1, MIDDLE.story_id: 2, BETTER.story_id: 3}


def _events(ledger: RedisEntryLedger, story: CleanStory) -> list[tuple[str, str]]:
    return [(e["stage"], e["outcome"]) for e in ledger.trace(story.story_id)]


def test_the_writer_takes_the_displaced_copy_out_when_the_better_one_is_written(client: Any, tmp_path: Path) -> None:
    index, queue, ledger = SqliteIndex(tmp_path / "s.sqlite"), IndexQueue(client), RedisEntryLedger(client)
    index.ensure_ready()
    limits = BatchLimits(linger_s=0)
    assert _claim(ledger, WORSE, RANK) == (WORSE.story_id, None)
    queue.push(_doc(WORSE))
    queue.push(_doc(COURIER_COPY, cluster=WORSE.story_id))
    assert flush(queue, index, ledger, limits) == 2
    assert index.present([WORSE.story_id, COURIER_COPY.story_id]) == {WORSE.story_id, COURIER_COPY.story_id}

    assert _claim(ledger, BETTER, RANK) == (BETTER.story_id, WORSE.story_id)
    queue.push(_doc(BETTER, cluster=WORSE.story_id))
    flush(queue, index, ledger, limits)
    assert index.present([WORSE.story_id, BETTER.story_id, COURIER_COPY.story_id]) == {
        BETTER.story_id, COURIER_COPY.story_id}
    assert index.search(SearchQuery(text="Nordvik")).total == 1  # one cluster, the better copy and the courier's
    assert [h.story_id for h in index.search(SearchQuery(text="flutter", collapse=False)).hits] == []
    assert _events(ledger, WORSE)[-1] == ("index", "removed")
    assert _events(ledger, BETTER)[-1] == ("index", "ok")


def test_a_displaced_copy_still_queued_is_never_written(client: Any, tmp_path: Path) -> None:
    """The worse copy's document was queued before the better copy displaced it (the index was down)."""
    index, queue, ledger = SqliteIndex(tmp_path / "s.sqlite"), IndexQueue(client), RedisEntryLedger(client)
    index.ensure_ready()
    _claim(ledger, WORSE, RANK)
    queue.push(_doc(WORSE))
    _claim(ledger, BETTER, RANK)
    assert flush(queue, index, ledger, BatchLimits(linger_s=0)) == 1
    assert index.count() == 0
    assert _events(ledger, WORSE)[-1] == ("index", "duplicate_url")
    queue.push(_doc(BETTER))
    flush(queue, index, ledger, BatchLimits(linger_s=0))
    assert index.present([WORSE.story_id, BETTER.story_id]) == {BETTER.story_id}


def test_delete_takes_every_trace_of_a_story_out_of_the_embedded_index(tmp_path: Path) -> None:
    index = SqliteIndex(tmp_path / "s.sqlite")
    index.ensure_ready()
    index.put_many([_doc(WORSE), _doc(COURIER_COPY)])
    assert index.delete([WORSE.story_id, "f" * 32]) == {WORSE.story_id}
    assert index.delete([WORSE.story_id]) == set()
    assert index.count() == 1 and index.get(WORSE.story_id) is None
    assert index.search(SearchQuery(text="flutter", collapse=False)).total == 0
    assert index.search(SearchQuery(text="Nordvik", collapse=False)).total == 1
