"""Canonical duplicates: the stored story is the best copy (complete metadata, least boilerplate), whatever the order."""

from __future__ import annotations

import itertools
from pathlib import Path

import yaml

from pipeline.clean import CleanOptions, better_copy, clean, load_rules
from pipeline.models import CleanStory, FeedEntry, FetchedPage

RULES = load_rules(yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "boilerplate.yaml")
                                  .read_text())["rules"])
CANONICAL = "https://www.quaysidepost.example/news/council-agrees-harbour-plan"
BODY = [
    "The town council agreed on Tuesday a plan that the harbour master said would keep the quay open through "
    "the winter storms, after a year of delays and three rejected proposals.",
    "Residents who spoke at the meeting asked for a public timetable, which the council promised to publish "
    "before the end of the month, along with the cost of the work.",
    "The plan will be paid for from the harbour reserve and a regional grant, the council's treasurer said, "
    "and the first work on the breakwater should start in March.",
]
TAIL = "Fancy a flutter on the markets? Our partner platform lets you back your hunch on oil from five pounds."


def _html(structured: bool, tail: bool) -> str:
    head = f"<link rel='canonical' href='{CANONICAL}'><title>Council agrees harbour plan</title>"
    if structured:
        head += ('<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Council agrees harbour '
                 'plan", "author": {"@type": "Person", "name": "Mona Kessler"}, '
                 '"datePublished": "2026-11-20T09:00:00+01:00"}</script>')
    paras = BODY + ([TAIL] if tail else [])
    return (f"<html><head><meta charset='utf-8'>{head}</head><body><article>"
            + "".join(f"<p>{p}</p>" for p in paras) + "</article></body></html>")


def _copy(story_id: str, url: str, structured: bool, tail: bool) -> CleanStory:
    entry = FeedEntry(story_id=story_id, url=url, feed_url="https://www.quaysidepost.example/rss")
    page = FetchedPage(story_id=story_id, url=url, raw_key="k", status=200, content_type="text/html",
                       fetched_at="2026-11-20T12:00:00+00:00", entry=entry)
    return clean(page, _html(structured, tail), CleanOptions(rules=RULES))


COPIES = [
    _copy("z-structured", CANONICAL, structured=True, tail=False),
    _copy("a-amp", CANONICAL + "?amp=1", structured=False, tail=True),  # the tail inline, no metadata
    _copy("m-print", CANONICAL + "?print=1", structured=False, tail=False),
]


def test_all_copies_claim_one_canonical_url() -> None:
    assert {c.canonical_url for c in COPIES} == {CANONICAL}


def _winner(order: tuple[CleanStory, ...]) -> str:
    """What the ledger's claim does: the holder is replaced by each better copy as they arrive."""
    holder = order[0]
    for story in order[1:]:
        if better_copy(story, holder):
            holder = story
    return holder.story_id


def test_the_best_copy_wins_whatever_the_arrival_order() -> None:
    winners = {_winner(order) for order in itertools.permutations(COPIES)}
    assert winners == {"z-structured"}


def test_least_boilerplate_decides_between_copies_with_the_same_metadata() -> None:
    plain, tailed = COPIES[2], COPIES[1]
    assert TAIL in tailed.text  # no rule knows this tail
    assert better_copy(plain, tailed) and not better_copy(tailed, plain)


def test_identical_copies_tie_to_the_smaller_id() -> None:
    a = _copy("a1", CANONICAL, structured=True, tail=False)
    b = _copy("b1", CANONICAL + "?utm_source=x", structured=True, tail=False)
    assert better_copy(a, b) and not better_copy(b, a)
