"""One contract for the Redis adapters, on Debian's redis-server and on the embedded server."""

from __future__ import annotations

import multiprocessing
import random
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pipeline.dedupe import fingerprint, is_copy, similarity
from pipeline.errors import PermanentError
from workers.adapters.redis_state import (
    RedisDedupeState,
    RedisEntryLedger,
    RedisFeedState,
    RedisStageStore,
    connect,
)


@pytest.fixture(params=["redis-server", "embedded"])
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    value = request.getfixturevalue("redis_url" if request.param == "redis-server" else "embedded_redis_url")
    client = connect(value)
    client.flushdb()
    yield value
    client.flushdb()
    client.close()


def test_stage_store_round_trip_with_ttl(url: str) -> None:
    client = connect(url)
    store = RedisStageStore(client, ttl_s=120)
    store.save("clean", "s1", {"title": "Jets", "n": 3})
    assert store.load("clean", "s1") == {"title": "Jets", "n": 3}
    assert 0 < client.ttl("ww:stage:clean:s1") <= 120
    with pytest.raises(PermanentError):
        store.load("clean", "nope")


WIRE = [
    "NATO began a two-week air-defence exercise over the Baltic states on Friday, deploying fighter jets and "
    "ground-based missile batteries from eleven member countries, the alliance said in a statement.",
    "The drill involves about 4,000 troops and is the largest of its kind in the region this year, according "
    "to a spokesperson for the alliance's air command in Ramstein.",
    "Lithuania's defence minister told reporters in Vilnius that the exercise was defensive and had been "
    "planned for more than a year, long before recent airspace violations along the border.",
    "The Kremlin said the manoeuvres were a provocation and that Russia would take measures to ensure its "
    "security, without giving details of what those measures might be or when they would be taken.",
    "Estonian and Latvian officials said civilian flights would not be affected, although some routes over "
    "the Baltic Sea could be shifted for short periods while live-fire phases take place off the coast.",
]


def _variant(i: int) -> str:
    """A lightly edited copy of WIRE: a local intro, a dropped paragraph, another quote style."""
    paras = [f"Local desk {i}: readers in town number {i} asked about the jets over the coast this week.",
             *WIRE]
    del paras[1 + i % len(WIRE)]
    return "\n\n".join(paras).replace("'", "’")


def test_dedupe_window_state_and_expiry(url: str) -> None:
    client = connect(url)
    now = [1_000_000.0]
    state = RedisDedupeState(client, window_s=700, epochs=7, clock=lambda: now[0])
    a, b, c = (f"{i:032x}" for i in (1, 2, 3))
    assert state.assign(a, fingerprint("\n\n".join(WIRE))).match == "new"
    got = state.assign(b, fingerprint(_variant(1)))
    assert (got.match, got.cluster_id, got.matched_story_id) == ("near", a, a)
    assert state.assign(a, fingerprint("edited")).match == "revision"
    assert all(0 < client.ttl(k) <= 900 for k in client.keys("ww:dd:*") if not k.endswith(b"seq"))
    now[0] += 2000  # past the window: the first stories are no longer candidates
    assert state.assign(c, fingerprint("\n\n".join(WIRE))).match == "new"
    client.flushdb()


def _assign_many(args: tuple[str, int]) -> list[str]:
    url, worker = args
    state = RedisDedupeState(connect(url), window_s=86400)
    out = []
    for story in range(20):
        text = "\n\n".join(p.replace("NATO", f"NATO{story}") for p in WIRE) if worker == 0 else \
            _variant(worker).replace("NATO", f"NATO{story}")
        out.append(state.assign(f"{worker:08x}{story:024x}", fingerprint(text)).cluster_id)
    return out


def test_racing_copies_on_several_processes_end_in_one_cluster(url: str) -> None:
    """Four workers get copies of the same 20 stories at the same moment."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.map(_assign_many, [(url, w) for w in range(4)])
    for story in range(20):
        clusters = {r[story] for r in results}
        assert len(clusters) == 1, f"story {story} ended in {clusters}"


def test_script_applies_the_same_rule_as_the_python_reference(url: str) -> None:
    state = RedisDedupeState(connect(url), window_s=86400)
    base = "\n\n".join(WIRE)
    state.assign("0" * 32, fingerprint(base))
    rng = random.Random(7)
    missed = 0
    for k in range(60):
        paras = WIRE[:]
        rng.shuffle(paras)
        keep = paras[: rng.randint(1, len(paras))]
        extra = [f"Unrelated paragraph {k}-{n} about football scores and weather in the region today."
                 for n in range(rng.randint(0, 6))]
        text = "\n\n".join(keep + extra)
        jaccard, contained = similarity(fingerprint(base), fingerprint(text))
        got = state.assign(f"{k + 1:032x}", fingerprint(text))
        expected = is_copy(jaccard, contained)
        if got.match in ("near", "exact"):
            assert expected or got.matched_story_id != "0" * 32, (k, jaccard, contained, got)
        if expected and got.matched_story_id == "0" * 32:
            assert abs(got.containment - contained) < 1e-6 and abs(got.jaccard - jaccard) < 1e-6
        missed += expected and got.match == "new"
    assert missed <= 3, f"LSH missed {missed} of 60 copies"


def test_ledger_first_sighting_once_and_trace(url: str) -> None:
    ledger = RedisEntryLedger(connect(url))
    assert ledger.first_sighting("s1") is True
    assert ledger.first_sighting("s1") is False
    ledger.record("s1", "fetch", "ok", "1200 bytes")
    ledger.record("s1", "clean", "too_short", "main text has 12 characters")
    trace = ledger.trace("s1")
    assert [(e["stage"], e["outcome"]) for e in trace] == [("fetch", "ok"), ("clean", "too_short")]
    assert ledger.outcome_counts() == {"fetch:ok": 1, "clean:too_short": 1}
    ledger.dead_letter({"stage": "index", "story_id": "s1", "error": "boom"})
    assert ledger.dead_letters()[0]["error"] == "boom"


def test_feed_state(url: str) -> None:
    feeds = RedisFeedState(connect(url))
    feeds.update("https://f.example/rss", etag='"abc"', status="ok", skipped=None)
    assert feeds.incr("https://f.example/rss", "errors") == 1
    state: dict[str, Any] = feeds.all()["https://f.example/rss"]
    assert state == {"etag": '"abc"', "status": "ok", "errors": "1"}


def test_unix_socket_and_tcp_urls_both_work(url: str) -> None:
    assert isinstance(connect(url), redis.Redis)
    assert connect(url).ping() is True
