"""One contract, every StoryIndex adapter: the embedded SQLite index and real Elasticsearch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.index import story_document
from pipeline.models import Claim, ClaimQuery, CleanStory, DedupeResult, Entity, Extraction, SearchQuery
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


def make_doc(sid: str, text: str, *, title: str = "Headline", outlet: str = "Harbour Herald",
             cluster: str | None = None, published: str = "2026-11-20T08:15:00+00:00",
             entities: tuple[Entity, ...] = (), claims: tuple[Claim, ...] = (), language: str = "en",
             topic: float = 0.5) -> dict[str, Any]:
    story = CleanStory(story_id=sid, url=f"https://news.example/{sid}", canonical_url=f"https://news.example/{sid}",
                       feed_url="https://news.example/feed", outlet=outlet, title=title, text=text,
                       published=published, language=language, fetched_at=published)
    dup = DedupeResult(sid, "h" + sid, cluster or sid, (cluster or sid) == sid,
                       match="new" if (cluster or sid) == sid else "exact", wire="Reuters")
    extraction = Extraction(sid, entities=entities, claims=claims, topic_score=topic)
    return story_document(story, dup, extraction, indexed_at=published)


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
    # Plain text with marks: the page makes text nodes of it, so no entities in JSON and no markup either.
    assert "<b>drones</b>" in hit.snippet and "&lt;" not in hit.snippet


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


PESKOV = Claim("Dmitry Peskov", "said", "direct", "NATO is in direct confrontation with Russia", 10, 55)
PESKOV_AGAIN = Claim("Dmitry Peskov", "told", "direct", "NATO is in direct confrontation with Russia!", 5, 50)
RUTTE = Claim("Mark Rutte", "said", "reported", "the alliance would defend every inch of its territory", 0, 50,
              "Q57792")


def test_speaker_language_topic_and_cluster_filters(story_index: StoryIndex) -> None:
    story_index.put(make_doc("p1", "Peskov spoke about the alliance.", claims=(PESKOV,), topic=0.8))
    story_index.put(make_doc("p2", "Rutte spoke in Brussels.", claims=(RUTTE,), topic=0.3))
    story_index.put(make_doc("p3", "Die Allianz hat sich getroffen.", language="de", topic=0.1))
    story_index.put(make_doc("p4", "Rutte spoke in Brussels.", claims=(RUTTE,), cluster="p2", outlet="Coastal Courier", topic=0.3))
    story_index.refresh()

    def ids(**kw: Any) -> set[str]:
        return {h.story_id for h in story_index.search(SearchQuery(collapse=False, **kw)).hits}

    assert ids(speaker="dmitry peskov") == {"p1"}
    assert ids(speaker="Q57792") == {"p2", "p4"}
    assert ids(language="de") == {"p3"}
    assert ids(min_topic=0.5) == {"p1"}
    assert ids(cluster="p2") == {"p2", "p4"}


def test_claim_text_is_searchable_and_shown_on_hits(story_index: StoryIndex) -> None:
    story_index.put(make_doc("q1", "The spokesman spoke to reporters on Monday.", claims=(PESKOV,)))
    story_index.refresh()
    result = story_index.search(SearchQuery(text="confrontation"))
    assert [h.story_id for h in result.hits] == ["q1"]
    assert result.hits[0].claims[0].speaker == "Dmitry Peskov"
    assert result.hits[0].wire == "Reuters"


def test_facets_and_histogram(story_index: StoryIndex) -> None:
    nato = Entity("NATO", "org", "Q7184")
    story_index.put(make_doc("f1", "Story one.", entities=(nato,), claims=(PESKOV,),
                             published="2026-11-20T08:00:00+00:00"))
    story_index.put(make_doc("f2", "Story two.", entities=(nato,), outlet="Coastal Courier",
                             published="2026-11-20T18:00:00+00:00"))
    story_index.put(make_doc("f3", "Story three.", claims=(RUTTE,), published="2026-11-22T09:00:00+00:00"))
    story_index.refresh()
    result = story_index.search(SearchQuery(facets=True, collapse=False))
    facets = {k: {v.value: v.count for v in vs} for k, vs in result.facets.items()}
    assert facets["org"] == {"NATO": 2}
    assert facets["speaker"] == {"Dmitry Peskov": 1, "Mark Rutte": 1}
    assert facets["outlet"] == {"Harbour Herald": 2, "Coastal Courier": 1}
    assert [(b.value, b.count) for b in result.histogram] == [("2026-11-20", 2), ("2026-11-22", 1)]


def test_claims_by_speaker_about_something(story_index: StoryIndex) -> None:
    story_index.put(make_doc("k1", "First report.", claims=(PESKOV,), outlet="Harbour Herald",
                             published="2026-11-20T08:00:00+00:00"))
    story_index.put(make_doc("k2", "Second report.", claims=(PESKOV_AGAIN,), outlet="Coastal Courier",
                             published="2026-11-21T08:00:00+00:00"))
    story_index.put(make_doc("k3", "Third report.", claims=(PESKOV_AGAIN, RUTTE), outlet="Coastal Courier",
                             published="2026-11-22T08:00:00+00:00"))
    story_index.refresh()
    result = story_index.search_claims(ClaimQuery(speaker="Dmitry Peskov", about="confrontation"))
    assert result.total == 1  # the same words by the same speaker, however punctuated, are one claim
    hit = result.hits[0]
    assert (hit.first_story_id, hit.first_outlet, hit.stories, hit.outlets) == ("k1", "Harbour Herald", 3, 2)
    assert hit.first_published.startswith("2026-11-20")
    assert story_index.search_claims(ClaimQuery(speaker="Q57792")).hits[0].text.startswith("the alliance")
    assert story_index.search_claims(ClaimQuery(speaker="Mark Rutte", about="confrontation")).total == 0
    assert story_index.search_claims(ClaimQuery(date_from="2026-11-22")).total == 2


def test_status_and_migrate_keep_every_document(story_index: StoryIndex) -> None:
    for i in range(12):
        story_index.put(make_doc(f"m{i}", f"Story {i} about the Suwalki gap."))
    story_index.refresh()
    before = story_index.status()  # type: ignore[attr-defined]
    steps: list[tuple[int, int]] = []
    result = story_index.migrate(on_progress=lambda done, total: steps.append((done, total)))  # type: ignore[attr-defined]
    story_index.refresh()
    assert story_index.count() == 12
    assert steps[0] == (0, 12) and steps[-1] == (12, 12)  # the bar `wirewatch index migrate` shows
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)
    assert story_index.search(SearchQuery(text="Suwalki", size=20)).total == 12
    after = story_index.status()  # type: ignore[attr-defined]
    if "indices" in before:  # Elasticsearch: a new version behind both aliases, the old one unaliased
        assert result["copied"] == 12 and result["from"].endswith("-v1") and result["to"].endswith("-v2")
        assert after["indices"][result["to"]]["aliases"] == sorted([story_index.read_alias,  # type: ignore[attr-defined]
                                                                    story_index.write_alias])  # type: ignore[attr-defined]
        assert after["indices"][result["from"]]["aliases"] == []
        story_index.put(make_doc("m-new", "A story written after the migration."))
        story_index.refresh()
        assert after["indices"][result["to"]]["documents"] == 12 and story_index.count() == 13
    else:
        assert result["copied"] == 12 and after["documents"] == 12


def test_migrate_keeps_documents_written_during_the_copy(es_url: str, es_prefix: str) -> None:
    from workers.adapters.elasticsearch_index import ElasticsearchIndex, make_client

    index = ElasticsearchIndex(make_client(es_url), REPO / "config" / "index-template.json", es_prefix)
    index.ensure_ready()
    index.put(make_doc("old", "Written before, revised later."))
    index.refresh()
    new = index.start_version()
    index.put(make_doc("live", "Arrived while the new version was being filled."))
    index.put(make_doc("old", "The revised version, written to the new index."))
    index.refresh()
    # While both versions are read, search answers and sees the live story.
    assert index.search(SearchQuery(text="arrived")).total == 1
    index.finish_version(new)
    index.refresh()
    assert index.get("old")["text"].startswith("The revised")  # type: ignore[index]
    assert index.present(["old", "live"]) == {"old", "live"}


def test_facets_and_days_count_stories_when_copies_are_collapsed(story_index: StoryIndex) -> None:
    nato = (Entity("NATO", "org", "Q7184"),)
    story_index.put(make_doc("a1", "Baltic air patrol report.", entities=nato))
    story_index.put(make_doc("a2", "Baltic air patrol report.", cluster="a1", outlet="Coastal Courier", entities=nato))
    story_index.put(make_doc("a3", "Baltic air patrol report.", cluster="a1", outlet="Meridian Dispatch", entities=nato))
    story_index.put(make_doc("b1", "Baltic ferry report.", published="2026-11-21T08:00:00+00:00", entities=nato))
    story_index.refresh()
    result = story_index.search(SearchQuery(text="Baltic", facets=True))
    assert result.total == 2
    assert [(v.value, v.count) for v in result.histogram] == [("2026-11-20", 1), ("2026-11-21", 1)]
    assert [(v.value, v.count) for v in result.facets["org"]] == [("NATO", 2)]
    outlets = {v.value: v.count for v in result.facets["outlet"]}
    assert outlets == {"Harbour Herald": 2, "Coastal Courier": 1, "Meridian Dispatch": 1}
    for outlet, count in outlets.items():  # a facet's count is what filtering on it returns
        assert story_index.search(SearchQuery(text="Baltic", outlet=outlet)).total == count
    every = story_index.search(SearchQuery(text="Baltic", facets=True, collapse=False))
    assert every.total == 4 and sum(v.count for v in every.histogram) == 4


def test_relevance_weighs_the_topic_score(story_index: StoryIndex) -> None:
    story_index.put(make_doc("on", "NATO jets shadowed a patrol over the Baltic Sea near Kaliningrad on Monday "
                             "while ships waited in port.", topic=0.95, published="2026-11-19T08:00:00+00:00"))
    story_index.put(make_doc("off", "Baltic ferry timetable.", topic=0.0, published="2026-11-22T08:00:00+00:00"))
    story_index.refresh()
    assert [h.story_id for h in story_index.search(SearchQuery()).hits] == ["on", "off"]  # no words: topic first
    assert [h.story_id for h in story_index.search(SearchQuery(sort="newest")).hits] == ["off", "on"]
    assert [h.story_id for h in story_index.search(SearchQuery(text="Baltic")).hits] == ["on", "off"]


def test_snippets_are_plain_text_with_an_ellipsis_where_cut(story_index: StoryIndex) -> None:
    story_index.put(make_doc("a1", "Officials said the jets & ships were \"on alert\" near Kaliningrad. " * 12))
    # One long sentence: any snippet of it stops mid-sentence.
    story_index.put(make_doc("b1", "Ferries " + "and barges and tugs " * 40 + "waited at Klaipeda " + "for the wind " * 40))
    story_index.refresh()
    (hit,) = story_index.search(SearchQuery(text="Kaliningrad")).hits
    assert "<mark>Kaliningrad</mark>" in hit.snippet and "&amp;" not in hit.snippet and "&quot;" not in hit.snippet
    assert " & " in hit.snippet and '"on alert"' in hit.snippet and "\n" not in hit.snippet
    assert hit.snippet.endswith(("…", "."))  # at a sentence's end, or an ellipsis
    (cut,) = story_index.search(SearchQuery(text="Klaipeda")).hits
    assert "<mark>Klaipeda</mark>" in cut.snippet and cut.snippet.endswith("…")
    for plain in story_index.search(SearchQuery()).hits:
        assert plain.snippet.endswith(("…", ".")) and "&amp;" not in plain.snippet


def test_delete_by_id_takes_a_story_out_of_search(story_index: StoryIndex) -> None:
    text = "The Kremlin warned of countermeasures against the missile deployment."
    story_index.put_many([make_doc("c1", text), make_doc("c2", text, outlet="Coastal Courier", cluster="c1"),
                          make_doc("o1", "Unrelated story about countermeasures in chess openings.",
                                   claims=(PESKOV,))])
    story_index.refresh()
    assert story_index.delete(["o1", "c2", "never-indexed"]) == {"o1", "c2"}
    assert story_index.delete(["o1"]) == set()  # already gone: no error
    story_index.refresh()
    assert story_index.present(["c1", "c2", "o1"]) == {"c1"} and story_index.count() == 1
    assert story_index.get("o1") is None
    result = story_index.search(SearchQuery(text="countermeasures"))
    assert result.total == 1 and [s.outlet for s in result.hits[0].sources] == ["Harbour Herald"]
    assert story_index.search_claims(ClaimQuery(speaker="Dmitry Peskov")).total == 0
