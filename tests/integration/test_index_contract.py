"""One contract, every StoryIndex adapter: the embedded SQLite index and real Elasticsearch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.index import story_document
from pipeline.models import CleanStory, DedupeResult, Entity, Extraction, SearchQuery
from pipeline.ports import StoryIndex

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["embedded", "elasticsearch"])
def story_index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoryIndex]:
    if request.param == "embedded":
        from workers.adapters.sqlite_index import SqliteIndex

        index: Any = SqliteIndex(tmp_path / "stories.sqlite")
    else:
        from workers.adapters.elasticsearch_index import ElasticsearchIndex, make_client

        es_url = request.getfixturevalue("es_url")
        prefix = request.getfixturevalue("es_prefix")
        index = ElasticsearchIndex(make_client(es_url), REPO / "config" / "index-template.json", prefix)
    index.ensure_ready()
    yield index


def make_doc(
    sid: str,
    text: str,
    *,
    title: str = "Headline",
    outlet: str = "Harbour Herald",
    cluster: str | None = None,
    published: str = "2026-11-20T08:15:00+00:00",
    entities: tuple[Entity, ...] = (),
) -> dict[str, Any]:
    story = CleanStory(
        story_id=sid,
        url=f"https://news.example/{sid}",
        canonical_url=f"https://news.example/{sid}",
        feed_url="https://news.example/feed",
        outlet=outlet,
        title=title,
        text=text,
        published=published,
        language="en",
        fetched_at=published,
    )
    dup = DedupeResult(sid, "h" + sid, cluster or sid, (cluster or sid) == sid)
    return story_document(
        story, dup, Extraction(sid, entities=entities, topic_score=0.5), indexed_at=published
    )


def test_put_get_present_count(story_index: StoryIndex) -> None:
    story_index.put(make_doc("a1", "NATO jets were scrambled over the Baltic Sea on Monday."))
    story_index.refresh()
    assert story_index.get("a1")["title"] == "Headline"  # type: ignore[index]
    assert story_index.get("missing") is None
    assert story_index.present(["a1", "missing"]) == {"a1"}
    assert story_index.count() == 1


def test_same_id_twice_is_one_document(story_index: StoryIndex) -> None:
    story_index.put(make_doc("a1", "First version of the text about Kaliningrad."))
    story_index.put(make_doc("a1", "Second version of the text about Kaliningrad."))
    story_index.refresh()
    assert story_index.count() == 1
    assert story_index.get("a1")["text"].startswith("Second")  # type: ignore[index]


def test_text_query_highlights_and_escapes(story_index: StoryIndex) -> None:
    story_index.put(
        make_doc("a1", "Officials said <b>drones</b> crossed into Poland near Trzebuszki overnight.")
    )
    story_index.put(make_doc("a2", "A football match ended in a draw."))
    story_index.refresh()
    result = story_index.search(SearchQuery(text="Trzebuszki"))
    assert result.total == 1
    hit = result.hits[0]
    assert hit.story_id == "a1"
    assert "<mark>Trzebuszki</mark>" in hit.snippet
    assert "<b>" not in hit.snippet and "&lt;b&gt;" in hit.snippet


def test_all_terms_must_match(story_index: StoryIndex) -> None:
    story_index.put(make_doc("a1", "Russian warships entered the Black Sea port."))
    story_index.put(make_doc("a2", "Russian officials met in Moscow."))
    story_index.refresh()
    assert [h.story_id for h in story_index.search(SearchQuery(text="Russian warships")).hits] == ["a1"]


def test_copies_collapse_into_one_hit_with_sources(story_index: StoryIndex) -> None:
    text = "The Kremlin warned of countermeasures against the missile deployment."
    story_index.put(make_doc("c1", text, outlet="Harbour Herald", published="2026-11-20T08:00:00+00:00"))
    story_index.put(
        make_doc("c2", text, outlet="Coastal Courier", cluster="c1", published="2026-11-20T08:20:00+00:00")
    )
    story_index.put(make_doc("o1", "Unrelated story about countermeasures in chess openings."))
    story_index.refresh()
    result = story_index.search(SearchQuery(text="countermeasures"))
    assert result.total == 2
    by_cluster = {h.cluster_id: h for h in result.hits}
    assert sorted(s.outlet for s in by_cluster["c1"].sources) == ["Coastal Courier", "Harbour Herald"]
    assert by_cluster["c1"].sources[0].outlet == "Harbour Herald"  # first published first
    every = story_index.search(SearchQuery(text="countermeasures", collapse=False))
    assert every.total == 3 and len(every.hits) == 3


def test_filters_entity_outlet_dates(story_index: StoryIndex) -> None:
    nato = Entity("NATO", "org", "Q7184")
    peskov = Entity("Dmitry Peskov", "person")
    story_index.put(
        make_doc(
            "e1",
            "Text one about the alliance.",
            entities=(nato,),
            outlet="Harbour Herald",
            published="2026-11-18T23:30:00+00:00",
        )
    )
    story_index.put(
        make_doc(
            "e2",
            "Text two about the Kremlin.",
            entities=(peskov,),
            outlet="Coastal Courier",
            published="2026-11-20T10:00:00+00:00",
        )
    )
    story_index.refresh()

    def ids(**kw: Any) -> set[str]:
        return {h.story_id for h in story_index.search(SearchQuery(**kw)).hits}

    assert ids(entity="Q7184") == {"e1"}
    assert ids(entity="q7184") == {"e1"}
    assert ids(entity="dmitry peskov") == {"e2"}
    assert ids(outlet="coastal courier") == {"e2"}
    assert ids(date_from="2026-11-19") == {"e2"}
    assert ids(date_to="2026-11-18") == {"e1"}  # a bare date covers its whole day
    assert ids(date_from="2026-11-18", date_to="2026-11-20") == {"e1", "e2"}
    assert ids(text="text", entity="Q7184") == {"e1"}


def test_newest_first_and_empty_query(story_index: StoryIndex) -> None:
    for i, day in enumerate(("17", "21", "19")):
        story_index.put(
            make_doc(f"n{i}", f"Story number {i} about sanctions.", published=f"2026-11-{day}T12:00:00+00:00")
        )
    story_index.refresh()
    assert [h.story_id for h in story_index.search(SearchQuery()).hits] == ["n1", "n2", "n0"]
    newest = story_index.search(SearchQuery(text="sanctions", sort="newest"))
    assert [h.story_id for h in newest.hits] == ["n1", "n2", "n0"]
    assert all(h.snippet for h in newest.hits)


@pytest.mark.parametrize("text", ['NATO OR "', "(((", "-", 'title:"x', "AND", "a* b~2 c^3"])
def test_user_syntax_never_breaks_search(story_index: StoryIndex, text: str) -> None:
    story_index.put(make_doc("s1", "NATO said the title of the report was AND nothing else."))
    story_index.refresh()
    result = story_index.search(SearchQuery(text=text))
    assert result.total >= 0
