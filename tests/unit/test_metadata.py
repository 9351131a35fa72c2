"""Page metadata on pages written for these tests in the shapes real outlets use."""

from __future__ import annotations

import json

import pytest

from pipeline.clean import CleanOptions, clean
from pipeline.metadata import clean_authors, page_metadata, parse_date, split_authors, strip_site_name
from pipeline.models import FeedEntry, FetchedPage

URL = "https://www.harbourgazette.example/world/2026/11/20/port-strike-ends"


def _page(head: str, body: str = "", lang: str = "en") -> str:
    paragraphs = "".join(
        f"<p>Dock workers at the northern terminals voted on Thursday to end a strike that had idled "
        f"container traffic for nine days, union officials said, paragraph {i}.</p>"
        for i in range(6)
    )
    return (f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'>{head}</head>"
            f"<body><article>{body}{paragraphs}</article></body></html>")


def _jsonld(obj: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


@pytest.mark.parametrize(
    "article_type", ["NewsArticle", "ReportageNewsArticle", "AnalysisNewsArticle", "LiveBlogPosting",
                     ["NewsArticle", "ReportageNewsArticle"], "http://schema.org/OpinionNewsArticle"]
)
def test_every_article_type_of_schema_org(article_type: object) -> None:
    head = _jsonld({"@context": "https://schema.org", "@type": article_type, "headline": "Port strike ends",
                    "author": {"@type": "Person", "name": "Maria Lindqvist"},
                    "datePublished": "2026-11-20T09:30:00+01:00"})
    meta = page_metadata(_page(head), URL)
    assert meta.title == "Port strike ends"
    assert meta.authors == ("Maria Lindqvist",)
    assert meta.published == "2026-11-20T09:30:00+01:00"
    assert meta.sources == {"title": "jsonld", "authors": "jsonld", "published": "jsonld"}


def test_graph_with_author_reference_and_publisher() -> None:
    head = _jsonld({"@context": "https://schema.org", "@graph": [
        {"@type": "WebSite", "@id": "https://www.harbourgazette.example/#site", "name": "Harbour Gazette"},
        {"@type": "Person", "@id": "https://www.harbourgazette.example/#/person/1", "name": "Tomas Berg"},
        {"@type": "NewsArticle", "headline": "Port strike ends after nine days",
         "author": [{"@id": "https://www.harbourgazette.example/#/person/1"},
                    {"@type": "Organization", "name": "Harbour Gazette"}],
         "publisher": {"@type": "NewsMediaOrganization", "name": "Harbour Gazette"},
         "datePublished": "2026-11-20T08:00:00Z"},
    ]})
    meta = page_metadata(_page(head), URL)
    assert meta.authors == ("Tomas Berg",)  # the outlet is never an author
    assert meta.title == "Port strike ends after nine days"


def test_metadata_late_in_a_large_page_is_found() -> None:
    filler = "<div>" + ("<span>menu entry</span>" * 40_000) + "</div>"  # well past 300,000 characters
    late = _jsonld({"@type": "NewsArticle", "headline": "Late headline", "datePublished": "2026-11-20T10:00:00+00:00",
                    "author": {"@type": "Person", "name": "Ines Duarte"}})
    meta = page_metadata(_page("<title>Late headline</title>", filler + late), URL)
    assert len(filler) > 300_000
    assert meta.authors == ("Ines Duarte",)
    assert meta.published == "2026-11-20T10:00:00+00:00"


@pytest.mark.parametrize(
    ("title", "site", "expected"),
    [
        ("Port strike ends | Harbour Gazette", "Harbour Gazette", "Port strike ends"),
        ("Harbour Gazette - Port strike ends", "Harbour Gazette", "Port strike ends"),
        ("Port strike ends – HARBOUR GAZETTE", "Harbour Gazette", "Port strike ends"),
        ("Port strike ends - harbourgazette.example", "", "Port strike ends"),
        ("“We will not go back,” says union chief | Harbour Gazette", "Harbour Gazette",
         "“We will not go back,” says union chief"),
        ("Brexit: talks resume", "Harbour Gazette", "Brexit: talks resume"),
    ],
)
def test_site_name_is_taken_off_the_headline(title: str, site: str, expected: str) -> None:
    site_tag = f'<meta property="og:site_name" content="{site}">' if site else ""
    meta = page_metadata(_page(f'<meta property="og:title" content="{title}">{site_tag}'), URL)
    assert meta.title == expected


def test_leading_quote_mark_is_kept() -> None:
    assert strip_site_name('"No deal" says minister | Harbour Gazette', ["Harbour Gazette"]) == '"No deal" says minister'


def test_visible_headline_wins_over_a_kicker() -> None:
    head = '<meta property="og:title" content="Ports: Dock workers end nine-day strike">'
    meta = page_metadata(_page(head, "<h1>Dock workers end nine-day strike</h1>"), URL)
    assert meta.title == "Dock workers end nine-day strike"
    assert meta.sources["title"] == "h1"


@pytest.mark.parametrize(
    ("byline", "expected"),
    [
        ("By Anna Kowalska and Pieter de Vries", ("Anna Kowalska", "Pieter de Vries")),
        ("Anna Kowalska, Pieter de Vries & Lena Ortiz", ("Anna Kowalska", "Pieter de Vries", "Lena Ortiz")),
        ("Words by Anna Kowalska", ("Anna Kowalska",)),
        ("Redacci&oacute;n Diario", ("Redacción Diario",)),
    ],
)
def test_bylines_split_into_people(byline: str, expected: tuple[str, ...]) -> None:
    assert clean_authors([byline], []) == expected


def test_outlet_url_and_section_are_not_authors() -> None:
    names = ["https://www.facebook.com/harbourgazette", "Harbour Gazette", "harbourgazette.example", "Posted"]
    assert clean_authors(names, ["Harbour Gazette"]) == ()


def test_url_in_article_author_does_not_hide_the_real_one() -> None:
    head = ('<meta property="article:author" content="https://www.facebook.com/harbourgazette">'
            '<meta name="author" content="Lena Ortiz">')
    assert page_metadata(_page(head), URL).authors == ("Lena Ortiz",)


def test_split_authors_keeps_single_names() -> None:
    assert split_authors("By Jo") == ("Jo",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1795167000000", "2026-11-20T09:30:00+00:00"),  # epoch milliseconds
        ("1795167000", "2026-11-20T09:30:00+00:00"),  # epoch seconds
        ("2026-11-20T10:30:00+0100", "2026-11-20T10:30:00+01:00"),
        ("2026-11-20 10:30:00", "2026-11-20T10:30:00"),
        ("2026-11-20", "2026-11-20T00:00:00"),
    ],
)
def test_dates_in_the_forms_pages_use(value: str, expected: str) -> None:
    parsed = parse_date(value)
    assert parsed is not None and parsed.isoformat(timespec="seconds") == expected


def test_dc_date_and_epoch_meta_are_read() -> None:
    meta = page_metadata(_page('<meta name="DC.date" content="2026-11-18T16:00:00-05:00">'), URL)
    assert meta.published == "2026-11-18T16:00:00-05:00"
    meta = page_metadata(_page('<meta name="parsely-pub-date" content="1795167000000">'), URL)
    assert meta.published == "2026-11-20T09:30:00+00:00"


def test_garbage_jsonld_is_not_a_crash() -> None:
    head = ('<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Trailing comma",}</script>'
            '<script type="application/ld+json">{not json at all</script>')
    assert page_metadata(_page(head), URL).title == "Trailing comma"


def _fetched(title: str = "", published: str | None = None, url: str = URL) -> FetchedPage:
    entry = FeedEntry(story_id="s1", url=url, feed_url="https://www.harbourgazette.example/rss", title=title,
                      published=published)
    return FetchedPage(story_id="s1", url=url, raw_key="k", status=200, content_type="text/html",
                       fetched_at="2026-11-20T12:00:00+00:00", entry=entry)


def test_sources_say_page_feed_or_both() -> None:
    head = ('<meta property="og:title" content="Port strike ends | Harbour Gazette">'
            '<meta property="og:site_name" content="Harbour Gazette">'
            '<meta property="article:published_time" content="2026-11-20T09:30:00+01:00">')
    story = clean(_fetched("Port strike ends", "2026-11-20T08:31:00+00:00"), _page(head), CleanOptions())
    assert story.title == "Port strike ends"
    assert story.sources["title"] == "both"
    assert story.sources["published"] == "both"
    assert story.published == "2026-11-20T08:30:00+00:00"

    bare = _page("<title>x</title>")  # no date anywhere, not even in the URL
    undated = "https://www.harbourgazette.example/world/port-strike-ends"
    story = clean(_fetched("Port strike ends", "2026-11-20T08:31:00+00:00", undated), bare, CleanOptions())
    assert story.sources["published"] == "feed"
    assert story.published == "2026-11-20T08:31:00+00:00"


@pytest.mark.parametrize("page", ["<svg><p><p>", "<html><body><svg><time>2026-11-20</time></svg>", "\x00<p>"])
def test_hostile_markup_is_no_date_not_a_crash(page: str) -> None:
    meta = page_metadata(page, URL)
    assert meta.published is None or meta.published.startswith("2026-11-20")


def test_names_keep_their_final_full_stop_and_lose_handles() -> None:
    assert clean_authors(["By Perry Bacon Jr. and Joe S.", "Lena Ortiz @lenaortiz"], []) == (
        "Perry Bacon Jr.", "Joe S.", "Lena Ortiz")


def test_a_person_may_share_the_name_of_a_personal_site() -> None:
    head = ('<meta property="og:site_name" content="Lena Ortiz">'
            + _jsonld({"@graph": [{"@type": "Person", "@id": "#me", "name": "Lena Ortiz"},
                                  {"@type": "BlogPosting", "headline": "Notes from the quay", "author": {"@id": "#me"}}]}))
    assert page_metadata(_page(head), "https://lenaortiz.example/notes").authors == ("Lena Ortiz",)
    # the same name as a bare string on an outlet's page is the outlet, not an author
    outlet = '<meta property="og:site_name" content="Harbour Gazette"><meta name="author" content="Harbour Gazette">'
    assert page_metadata(_page(outlet), URL).authors == ()


# --- bylines the way CMSs write them, when no structured author is declared -----------------------

BYLINE_SHAPES = [
    # a link to the author's own page
    ('<div class="meta"><a href="/author/mairead-fennelly/">Mairead Fennelly</a> | 20 November 2026</div>',
     ("Mairead Fennelly",)),
    ('<p class="post-meta">Posted on 20 November 2026 by <a href="https://www.harbourgazette.example/profiles/'
     'tomas-lindqvist">Tomas Lindqvist</a></p>', ("Tomas Lindqvist",)),
    ('<a href="/autoren/jana-richter" title="Alle Beiträge">Alle Beiträge von Jana Richter</a>', ("Jana Richter",)),
    # a byline as a label, or "by" after the date
    ('<span class="kicker">Author: Oisin Gallagher (Baltic correspondent)</span>', ("Oisin Gallagher",)),
    ('<div class="page-meta--info">Posted on November 20, 2026 by Adaeze Okafor</div>', ("Adaeze Okafor",)),
    ('<div class="info">Ein Artikel von <strong>Lena Brandt</strong> | 20.11.2026 - 12:45</div>', ("Lena Brandt",)),
    # the label in an element of its own
    ('<h4 class="meta-title">Author</h4><p class="meta-text"><a href="/team?id=7">Piotr Zielinski</a></p>',
     ("Piotr Zielinski",)),
    ('<div class="links"><b>Von:</b> Henrike Vogt</div>', ("Henrike Vogt",)),
]


@pytest.mark.parametrize(("body", "expected"), BYLINE_SHAPES)
def test_bylines_in_the_shapes_cms_templates_write_them(body: str, expected: tuple[str, ...]) -> None:
    meta = page_metadata(_page("<title>Port strike ends</title>", body), URL)
    assert meta.authors == expected
    assert meta.sources["authors"] == "byline"


def test_wordpress_seo_labels_name_the_author() -> None:
    head = ('<meta name="twitter:label1" content="Written by"><meta name="twitter:data1" content="Saoirse Dunne">'
            '<meta name="twitter:label2" content="Est. reading time"><meta name="twitter:data2" content="4 minutes">')
    meta = page_metadata(_page(head), URL)
    assert meta.authors == ("Saoirse Dunne",) and meta.sources["authors"] == "meta"


def test_the_author_of_a_work_that_is_not_typed_as_an_article() -> None:
    recipe = {"@context": "https://schema.org", "@type": "Recipe", "name": "Harbour chowder",
              "author": {"@type": "Person", "name": "Brid Nolan"}}
    site = {"@context": "https://schema.org", "@type": "WebPage", "author": {"@type": "Person", "name": "Site Admin"}}
    assert page_metadata(_page(_jsonld(site) + _jsonld(recipe)), URL).authors == ("Brid Nolan",)


@pytest.mark.parametrize(
    "body",
    [
        # a staff list: links to many authors' pages are not one story's byline
        "<ul class='team'>" + "".join(f"<li><a href='/author/p{i}'>Staff Writer{'s' * i} Number</a></li>"
                                      for i in range(6)) + "</ul>",
        # "by" followed by no name
        "<p class='note'>Delayed by the storm and by rising tides, the ferry waited</p>",
        # a byline-like label inside the comments
        "<div class='comments'><span>Author: Angry Reader</span></div>",
    ],
)
def test_no_byline_is_made_up(body: str) -> None:
    assert page_metadata(_page("<title>Port strike ends</title>", body), URL).authors == ()


def test_a_layout_with_a_sidebar_is_not_the_sidebar() -> None:
    body = ('<section class="wrapper wrapper__with-sidebar"><div class="byline-box">'
            '<span>Posted on 20 November 2026 by Ruairi Byrne</span></div></section>')
    assert page_metadata(_page("<title>Port strike ends</title>", body), URL).authors == ("Ruairi Byrne",)


def test_a_home_page_declared_as_canonical_is_not_the_articles_url() -> None:
    # A misconfigured CMS gives every article the site's root as canonical URL: the stories must stay apart.
    root = _page('<title>Port strike ends</title><link rel="canonical" href="https://www.harbourgazette.example/">')
    assert clean(_fetched(), root, CleanOptions()).canonical_url == URL
    moved = _page('<title>Port strike ends</title><link rel="canonical" '
                  'href="https://www.harbourgazette.example/world/port-strike-ends?utm_source=rss">')
    assert clean(_fetched(), moved, CleanOptions()).canonical_url == (
        "https://www.harbourgazette.example/world/port-strike-ends")
