"""Learned outlet boilerplate: an outlet whose tail no rule knows, learned from evidence, never on a first story."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import yaml

from pipeline.boilerplate import BoilerplateOptions, paragraph_key, remove_learned_boilerplate, title_candidates
from pipeline.clean import CleanOptions, clean, is_boilerplate, load_rules
from pipeline.models import CleanStory, FeedEntry, FetchedPage
from pipeline.ports import Evidence

RULES = load_rules(yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "boilerplate.yaml")
                                  .read_text())["rules"])
# Tails phrased unlike any rule in config/boilerplate.yaml.
AI_TAIL = ("This piece was put together with help from our newsroom's automated drafting assistant and was "
           "checked by a member of the Quayside Post editorial staff before it went live.")
PROMO_TAIL = "Fancy a flutter on the markets? Our partner platform lets you back your hunch on oil from just five pounds."
TOPICS = ["the ferry timetable", "the harbour dredging", "the fish market lease", "the lighthouse repairs",
          "the marina fees", "the coastguard budget", "the pier closure", "the tide gauge"]


class MemoryInDicts:
    """The BoilerplateMemory port in process memory (for unit tests; production uses Redis)."""

    def __init__(self) -> None:
        self.stories: dict[tuple[str, str], set[str]] = {}
        self.outlets: dict[str, set[str]] = {}

    def evidence(self, outlet: str, keys: Iterable[str], excluding: str | None = None) -> Mapping[str, Evidence]:
        found = {k: Evidence(len(self.stories[(outlet, k)] - {excluding}), len(self.outlets.get(k, ())))
                 for k in keys if (outlet, k) in self.stories}
        return {k: e for k, e in found.items() if e.stories}

    def record(self, outlet: str, story_id: str, paragraphs: Mapping[str, str]) -> None:
        for key in paragraphs:
            self.stories.setdefault((outlet, key), set()).add(story_id)
            self.outlets.setdefault(key, set()).add(outlet)


def _story(i: int, topic: str, host: str = "www.quaysidepost.example", tail: tuple[str, ...] = (AI_TAIL, PROMO_TAIL),
           extra: tuple[str, ...] = ()) -> CleanStory:
    body = [f"The town council voted {i} times this year on {topic}, and on Tuesday members finally agreed a "
            f"plan that the harbour master said would keep the quay open through the winter storms.",
            f"Residents who spoke at the meeting said {topic} had been delayed for too long and asked for a "
            f"public timetable, which the council promised to publish before the end of the month.",
            *extra, *tail]
    html = ("<html><head><meta charset='utf-8'><title>Council acts</title></head><body><article>"
            + "".join(f"<p>{p}</p>" for p in body) + "</article></body></html>")
    url = f"https://{host}/news/{i}-{topic.replace(' ', '-')}"
    entry = FeedEntry(story_id=f"s{i}-{host}", url=url, feed_url=f"https://{host}/rss", title=f"Council acts on {topic}")
    page = FetchedPage(story_id=f"s{i}-{host}", url=url, raw_key="k", status=200, content_type="text/html",
                       fetched_at="2026-11-20T12:00:00+00:00", entry=entry)
    return clean(page, html, CleanOptions(rules=RULES))


def test_no_rule_knows_these_tails() -> None:
    assert is_boilerplate(AI_TAIL, RULES) is None
    assert is_boilerplate(PROMO_TAIL, RULES) is None
    assert AI_TAIL in _story(0, TOPICS[0]).text


def test_the_tail_is_learned_after_enough_stories_and_never_on_the_first() -> None:
    memory, options = MemoryInDicts(), BoilerplateOptions(min_stories=5)
    outcomes = []
    for i, topic in enumerate(TOPICS):
        cleaned, removed = remove_learned_boilerplate(_story(i, topic), memory, options)
        outcomes.append((AI_TAIL in cleaned.text, PROMO_TAIL in cleaned.text, len(removed)))
    # The first five stories keep their tail (not enough evidence yet); from the sixth on it is removed.
    assert outcomes[:5] == [(True, True, 0)] * 5
    assert outcomes[5:] == [(False, False, 2)] * 3
    # the story itself is untouched
    last, _ = remove_learned_boilerplate(_story(9, "the boat ramp"), memory, options)
    assert "the boat ramp had been delayed" in last.text


def test_wire_copy_carried_by_other_outlets_is_kept() -> None:
    memory, options = MemoryInDicts(), BoilerplateOptions(min_stories=3)
    wire = ("Oil prices rose two percent on Tuesday after producers agreed to extend output cuts, "
            "traders said, with Brent crude trading near its highest level in three months.")
    for i, topic in enumerate(TOPICS[:4]):
        remove_learned_boilerplate(_story(i, topic, tail=(wire,)), memory, options)
        remove_learned_boilerplate(_story(i, topic, host="www.harbourgazette.example", tail=(wire,)), memory, options)
    cleaned, removed = remove_learned_boilerplate(_story(7, TOPICS[7], tail=(wire,)), memory, options)
    assert wire in cleaned.text and removed == ()


def test_other_outlets_learn_nothing_from_one_outlets_tail() -> None:
    memory, options = MemoryInDicts(), BoilerplateOptions(min_stories=3)
    for i, topic in enumerate(TOPICS[:5]):
        remove_learned_boilerplate(_story(i, topic), memory, options)
    cleaned, removed = remove_learned_boilerplate(
        _story(6, TOPICS[6], host="www.harbourgazette.example"), memory, options)
    assert AI_TAIL in cleaned.text and removed == ()


def test_a_redelivered_story_is_one_piece_of_evidence() -> None:
    memory, options = MemoryInDicts(), BoilerplateOptions(min_stories=3)
    story = _story(0, TOPICS[0])
    for _ in range(5):
        remove_learned_boilerplate(story, memory, options)
    assert memory.evidence("quaysidepost.example", [paragraph_key(AI_TAIL)])[paragraph_key(AI_TAIL)].stories == 1
    cleaned, _ = remove_learned_boilerplate(_story(1, TOPICS[1]), memory, options)
    assert AI_TAIL in cleaned.text


def test_keys_ignore_numbers_and_spacing() -> None:
    assert paragraph_key("Markets closed at  5,120 points.") == paragraph_key("markets closed at 4,990 points.")
    assert paragraph_key("Markets closed higher.") != paragraph_key("Markets closed lower.")


def test_a_story_cleaned_again_is_judged_on_the_other_stories_only() -> None:
    """A redelivery or a reprocess cleans a story the memory has seen: its own sighting is no evidence."""
    memory, options = MemoryInDicts(), BoilerplateOptions(min_stories=5)
    stories = [_story(i, topic) for i, topic in enumerate(TOPICS[:6])]
    for story in stories[:5]:
        remove_learned_boilerplate(story, memory, options)
    key = paragraph_key(AI_TAIL)
    # The fifth story kept its tail (four others had it); cleaned again it still does, and adds nothing.
    for _ in range(3):
        cleaned, removed = remove_learned_boilerplate(stories[4], memory, options)
        assert AI_TAIL in cleaned.text and removed == ()
    assert memory.evidence("quaysidepost.example", [key])[key].stories == 5
    assert memory.evidence("quaysidepost.example", [key], excluding=stories[4].story_id)[key].stories == 4
    # A sixth story makes five others for the fifth: cleaned again now, its tail goes.
    remove_learned_boilerplate(stories[5], memory, options)
    cleaned, removed = remove_learned_boilerplate(stories[4], memory, options)
    assert AI_TAIL not in cleaned.text and AI_TAIL in removed
    assert memory.evidence("quaysidepost.example", [key])[key].stories == 6


# --- titles: the outlet's own part, learned from what repeats across its stories -------------------

SUFFIX = "The Coastal Record, evening edition"  # names no host and no og:site_name: no page rule knows it


def _titled(i: int, headline: str, host: str = "www.quaysidepost.example") -> CleanStory:
    body = [f"The ferry operator said on Tuesday that crossing number {i} would run on the winter timetable, "
            "after the harbour master warned that gales could close the quay for several days.",
            "Passengers booked on the early sailing were told to check the operator's page before setting "
            "out, and the council said buses would wait at the terminal for delayed arrivals."]
    html = (f"<html><head><meta charset='utf-8'><meta property='og:title' content='{headline} | {SUFFIX}'>"
            "</head><body><article>" + "".join(f"<p>{p}</p>" for p in body) + "</article></body></html>")
    url = f"https://{host}/news/{i}"
    entry = FeedEntry(story_id=f"t{i}-{host}", url=url, feed_url=f"https://{host}/rss", title="")
    page = FetchedPage(story_id=f"t{i}-{host}", url=url, raw_key="k", status=200, content_type="text/html",
                       fetched_at="2026-11-20T12:00:00+00:00", entry=entry)
    return clean(page, html, CleanOptions(rules=RULES))


HEADLINES = ["Ferry crossings cut as gales close the quay", "Council delays vote on harbour dredging",
             "Fish market lease renewed for ten years", "Lighthouse repairs finish ahead of winter",
             "Boat ramp reopens after storm damage", "Harbour master warns of record tides",
             "Quay traders ask for a new car park", "Lifeboat crew rescues two kayakers"]


def test_an_outlets_title_suffix_is_learned_and_the_headline_kept() -> None:
    memory, options = MemoryInDicts(), BoilerplateOptions(min_stories=5)
    assert _titled(0, HEADLINES[0]).title == f"{HEADLINES[0]} | {SUFFIX}"  # the page alone cannot tell
    titles = [remove_learned_boilerplate(_titled(i, h), memory, options)[0].title for i, h in enumerate(HEADLINES)]
    assert titles[:5] == [f"{h} | {SUFFIX}" for h in HEADLINES[:5]]  # never on thin evidence
    assert titles[5:] == HEADLINES[5:]


def test_a_title_part_that_does_not_repeat_is_never_cut() -> None:
    memory, options = MemoryInDicts(), BoilerplateOptions(min_stories=3)
    for i, h in enumerate(HEADLINES):
        remove_learned_boilerplate(_titled(i, h), memory, options)
    # "Russia - NATO talks stall" splits at " - ", but neither part is the outlet's
    story = replace(_titled(20, "Russia - NATO talks stall"), title="Russia - NATO talks stall")
    assert remove_learned_boilerplate(story, memory, options)[0].title == "Russia - NATO talks stall"
    # another outlet with the same suffix learns nothing from this one's stories
    other = _titled(21, "Ferry fares rise in spring", host="www.harbourgazette.example")
    assert remove_learned_boilerplate(other, memory, options)[0].title == f"Ferry fares rise in spring | {SUFFIX}"


def test_a_learned_suffix_never_leaves_a_one_word_title() -> None:
    memory, options = MemoryInDicts(), BoilerplateOptions(min_stories=3)
    for i, h in enumerate(HEADLINES):
        remove_learned_boilerplate(_titled(i, h), memory, options)
    assert remove_learned_boilerplate(_titled(30, "Briefing"), memory, options)[0].title == f"Briefing | {SUFFIX}"


def test_what_was_learned_of_titles_reads_as_such() -> None:
    cands = title_candidates(f"Ferry crossings cut | {SUFFIX}")
    assert sorted(cands.values()) == [f"title ends with: … | {SUFFIX}", "title starts with: Ferry crossings cut | …"]
    assert title_candidates("One part only") == {}
