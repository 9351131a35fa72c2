"""The BoilerplateMemory and canonical-claim contracts on Debian's redis-server and on the embedded server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline.ports import Evidence
from workers.adapters.redis_boilerplate import STORY_CAP, RedisBoilerplateMemory
from workers.adapters.redis_state import RedisEntryLedger, connect


@pytest.fixture(params=["redis-server", "embedded"])
def memory(request: pytest.FixtureRequest) -> Iterator[RedisBoilerplateMemory]:
    url = request.getfixturevalue("redis_url" if request.param == "redis-server" else "embedded_redis_url")
    client = connect(url)
    client.flushdb()
    yield RedisBoilerplateMemory(client)
    client.flushdb()
    client.close()


def test_counts_distinct_stories_per_outlet_and_outlets_per_paragraph(memory: RedisBoilerplateMemory) -> None:
    assert memory.evidence("a.example", ["k1"]) == {}
    for story in ("s1", "s2", "s2", "s3"):  # s2 redelivered
        memory.record("a.example", story, {"k1": "Our tail.", "k2": f"Story text {story}."})
    memory.record("b.example", "t1", {"k1": "Our tail."})
    got = memory.evidence("a.example", ["k1", "k2", "unknown"])
    assert got["k1"] == Evidence(stories=3, outlets=2)
    assert got["k2"] == Evidence(stories=3, outlets=1)
    assert "unknown" not in got
    assert memory.evidence("b.example", ["k1"])["k1"] == Evidence(stories=1, outlets=2)
    # A story cleaned again is judged on the others: its own sighting is not counted.
    assert memory.evidence("a.example", ["k1", "k2"], excluding="s2") == {"k1": Evidence(2, 2), "k2": Evidence(2, 1)}
    assert memory.evidence("a.example", ["k1"], excluding="never-seen")["k1"] == Evidence(3, 2)
    assert memory.evidence("b.example", ["k1"], excluding="t1") == {}


def test_learned_view_per_outlet(memory: RedisBoilerplateMemory) -> None:
    for i in range(6):
        memory.record("quaysidepost.example", f"s{i}", {"tail": "Made with our drafting assistant.", f"b{i}": "x"})
    memory.record("quaysidepost.example", "s9", {"once": "A paragraph seen once."})
    learned = memory.learned(min_stories=5, max_outlets=1)
    assert list(learned) == ["quaysidepost.example"]
    [row] = learned["quaysidepost.example"]
    assert row == {"key": "tail", "stories": 6, "outlets": 1, "removed": True,
                   "text": "Made with our drafting assistant."}


def test_story_sets_are_capped(memory: RedisBoilerplateMemory) -> None:
    for i in range(STORY_CAP + 10):
        memory.record("c.example", f"s{i}", {"k": "tail"})
    assert memory.evidence("c.example", ["k"])["k"].stories == STORY_CAP


@pytest.fixture(params=["redis-server", "embedded"])
def ledger(request: pytest.FixtureRequest) -> Iterator[RedisEntryLedger]:
    url = request.getfixturevalue("redis_url" if request.param == "redis-server" else "embedded_redis_url")
    client = connect(url)
    client.flushdb()
    yield RedisEntryLedger(client)
    client.flushdb()
    client.close()


def test_canonical_claim_keeps_the_best_copy_and_records_the_others(ledger: RedisEntryLedger) -> None:
    rank = {"worse": 1, "best": 3, "middle": 2}
    better = {sid: (lambda holder, sid=sid: rank[sid] > rank[holder]) for sid in rank}
    assert ledger.claim_canonical_best("c1", "worse", 60, better["worse"]) == ("worse", None)
    assert ledger.claim_canonical_best("c1", "best", 60, better["best"]) == ("best", "worse")
    assert ledger.claim_canonical_best("c1", "middle", 60, better["middle"]) == ("best", None)
    assert ledger.claim_canonical_best("c1", "best", 60, better["best"]) == ("best", None)  # redelivered
    assert ledger.canonical_copies("c1") == {"worse", "middle"}
