"""Main text: live blogs keep their posts; the choice between extraction passes rests on measured signals."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import clean as clean_module
from pipeline.clean import CleanOptions, extract_article

PAGES = Path(__file__).resolve().parents[1] / "data" / "pages"
POSTS = ("All ferry crossings between the islands", "about 40,000 homes along the coast",
         "closed every school in the three coastal districts")


@pytest.mark.parametrize("name", ["liveblog.html", "liveblog_articles.html"])
def test_live_blog_keeps_every_post(name: str) -> None:
    article = extract_article((PAGES / name).read_bytes(), None, CleanOptions())
    assert article.kind == "article"
    for post in POSTS:
        assert post in article.text, (post, article.text)
    assert "Storm Hedda reached the northern coast" in article.text
    assert "All rights reserved" not in article.text


def test_live_blog_metadata() -> None:
    article = extract_article((PAGES / "liveblog.html").read_bytes(), None, CleanOptions())
    assert article.meta.title == "Live: Storm Hedda makes landfall on the northern coast"
    assert article.meta.authors == ("Ruth Okafor", "Daniel Brandt")
    assert article.meta.jsonld_type == "LiveBlogPosting"
    # oldest first, as a story reads
    assert article.meta.live_posts[0].startswith("The regional education office")


def test_posts_the_extractor_missed_come_from_the_live_blog_data(monkeypatch: pytest.MonkeyPatch) -> None:
    intro = ("Storm Hedda reached the northern coast early on Friday with gusts of up to 150 km/h, forecasters "
             "said, and the national weather service kept its highest warning in place for the whole coastline.")
    monkeypatch.setattr(clean_module, "_run_extractor", lambda *a, **k: intro)
    article = extract_article((PAGES / "liveblog.html").read_bytes(), None, CleanOptions())
    assert article.paragraphs[0] == intro
    assert [p[:40] for p in article.paragraphs[1:]] == [p[:40] for p in article.meta.live_posts]


LONG = [f"Paragraph {i} of the story tells how the harbour authority and the union reached an agreement on "
        f"pay and shifts after nine days of talks that ran late into every night of the week." for i in range(6)]


def _page(paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"<html><head><title>Deal reached</title></head><body><article>{body}</article></body></html>"


def _passes(monkeypatch: pytest.MonkeyPatch, outputs: dict[bool, str]) -> list[bool]:
    calls: list[bool] = []

    def fake(page: str, url: str | None, precise: bool, fast: bool = False) -> str:
        calls.append(precise)
        return outputs[precise]

    monkeypatch.setattr(clean_module, "_run_extractor", fake)
    return calls


def test_a_long_first_pass_that_lost_a_block_gets_a_second_look(monkeypatch: pytest.MonkeyPatch) -> None:
    # 500+ characters, yet half of the page's story paragraphs missing: the recall pass covers them.
    calls = _passes(monkeypatch, {True: "\n".join(LONG[:3]), False: "\n".join(LONG)})
    article = extract_article(_page(LONG), None, CleanOptions())
    assert len(article.text) > 500 and list(article.paragraphs) == LONG
    assert False in calls


def test_a_complete_first_pass_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _passes(monkeypatch, {True: "\n".join(LONG), False: "\n".join(LONG + ["Most read", "Sign in"])})
    article = extract_article(_page(LONG), None, CleanOptions())
    assert list(article.paragraphs) == LONG
    assert calls == [True]  # covered: no other pass ran


def test_a_later_pass_that_adds_only_furniture_loses(monkeypatch: pytest.MonkeyPatch) -> None:
    furniture = [f"- Other story {i} you may like" for i in range(30)]
    _passes(monkeypatch, {True: "\n".join(LONG[:3]), False: "\n".join(LONG[:3] + furniture)})
    article = extract_article(_page(LONG[:3] + ["<a href='/x'>" + f + "</a>" for f in furniture]), None,
                              CleanOptions())
    assert list(article.paragraphs) == LONG[:3]
