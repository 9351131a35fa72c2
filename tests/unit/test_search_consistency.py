"""The embedded index counts stories one way everywhere, weighs the topic, and gives plain-text snippets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.index import plain_snippet, story_document, tidy_snippet
from pipeline.models import CleanStory, DedupeResult, Entity, Extraction, SearchQuery
from workers.adapters.sqlite_index import SqliteIndex


def _doc(
    sid: str,
    text: str,
    *,
    cluster: str = "",
    outlet: str = "Harbour Herald",
    day: str = "20",
    topic: float = 0.5,
    title: str = "Baltic report",
) -> dict[str, Any]:
    story = CleanStory(
        sid,
        f"https://n.example/{sid}",
        f"https://n.example/{sid}",
        "f",
        outlet,
        title,
        text,
        published=f"2026-11-{day}T08:00:00+00:00",
        language="en",
    )
    return story_document(
        story,
        DedupeResult(sid, "0" * 16, cluster or sid, not cluster),
        Extraction(sid, (Entity("NATO", "org", "Q7184"),), (), topic),
        "2026-11-25T09:00:00+00:00",
    )


@pytest.fixture
def index(tmp_path: Path) -> SqliteIndex:
    idx = SqliteIndex(tmp_path / "stories.sqlite")
    idx.ensure_ready()
    a, b, c = "a" * 32, "b" * 32, "c" * 32
    idx.put(_doc(a, "NATO jets flew over the Baltic Sea near Kaliningrad.", topic=0.9))
    # Copies of a, at two other outlets, one of them a day later.
    idx.put(
        _doc("a1" * 16, "NATO jets flew over the Baltic Sea near Kaliningrad.", cluster=a, outlet="Coastal Courier")
    )
    idx.put(
        _doc(
            "a2" * 16,
            "NATO jets flew over the Baltic Sea near Kaliningrad.",
            cluster=a,
            outlet="Meridian Dispatch",
            day="21",
        )
    )
    idx.put(_doc(b, "NATO Baltic ferry note.", topic=0.0, day="22"))
    idx.put(
        _doc(
            c,
            "Fishermen said the Baltic catch was good & the weather calm. " * 20,
            topic=0.4,
            day="21",
            outlet="Coastal Courier",
        )
    )
    return idx


def test_facets_and_days_count_stories_as_the_total_does(index: SqliteIndex) -> None:
    result = index.search(SearchQuery(text="Baltic", facets=True))
    assert result.total == 3
    assert sum(v.count for v in result.histogram) == result.total
    assert [(v.value, v.count) for v in result.histogram] == [("2026-11-20", 1), ("2026-11-21", 1), ("2026-11-22", 1)]
    assert [(v.value, v.count) for v in result.facets["org"]] == [("NATO", 3)]
    # An outlet's count is the stories a filter on it returns.
    for value in result.facets["outlet"]:
        assert index.search(SearchQuery(text="Baltic", outlet=value.value)).total == value.count, value
    assert {v.value: v.count for v in result.facets["outlet"]} == {
        "Harbour Herald": 2,
        "Coastal Courier": 2,
        "Meridian Dispatch": 1,
    }


def test_all_copies_count_copies(index: SqliteIndex) -> None:
    result = index.search(SearchQuery(text="Baltic", facets=True, collapse=False))
    assert result.total == 5
    assert sum(v.count for v in result.histogram) == 5
    assert [(v.value, v.count) for v in result.facets["org"]] == [("NATO", 5)]


def test_relevance_without_words_is_the_topic_score(index: SqliteIndex) -> None:
    hits = index.search(SearchQuery()).hits
    assert [round(h.topic_score, 2) for h in hits] == [0.9, 0.4, 0.0]
    newest = index.search(SearchQuery(sort="newest")).hits
    assert newest[0].topic_score == 0.0  # the newest story is the off-topic one


def test_relevance_with_words_weighs_the_topic(index: SqliteIndex) -> None:
    # Both mention NATO and Baltic; the on-topic story ranks first though the off-topic note is shorter.
    hits = index.search(SearchQuery(text="NATO Baltic")).hits
    assert [h.topic_score for h in hits] == [0.9, 0.0]
    assert hits[0].score is not None and hits[1].score is not None and hits[0].score > hits[1].score
    assert hits[0].score / 1.9 < hits[1].score  # on its words alone the short off-topic note would win


def test_snippets_are_plain_text_and_say_where_they_are_cut(index: SqliteIndex) -> None:
    (hit,) = index.search(SearchQuery(text="fishermen")).hits
    assert "<mark>Fishermen</mark>" in hit.snippet
    assert "&amp;" not in hit.snippet and " & " in hit.snippet
    assert hit.snippet.endswith("…")
    (plain,) = index.search(SearchQuery(outlet="Coastal Courier", min_topic=0.3, ids=("c" * 32,))).hits
    assert plain.snippet.endswith("…") and "&" in plain.snippet and "&amp;" not in plain.snippet
    assert len(plain.snippet) <= 201


def test_snippet_helpers() -> None:
    assert plain_snippet("Short text.\n\nSecond line.") == "Short text. Second line."
    long = "word " * 100
    cut = plain_snippet(long, chars=30)
    assert cut.endswith("…") and len(cut) <= 31 and "  " not in cut
    assert plain_snippet("a <mark>fake</mark> mark") == "a fake mark"
    assert tidy_snippet("the <mark>jets</mark> flew\nover the") == "the <mark>jets</mark> flew over the…"
    assert tidy_snippet("It ended.") == "It ended."
