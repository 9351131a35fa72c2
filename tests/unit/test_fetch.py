"""Fetch stage: canonical URLs, story ids, feed parsing and article checks (no network)."""

from __future__ import annotations

import re

import pytest

from pipeline.errors import BadContent, PermanentError
from pipeline.fetch import ParsedFeed, canonical_url, check_article, parse_feed, story_id_for
from pipeline.ports import HttpResponse

FEED_URL = "https://news.example.org/feeds/world/rss.xml"

# --- canonical_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        # relative links resolved against the base
        ("/world/nato-drill", FEED_URL, "https://news.example.org/world/nato-drill"),
        (
            "story-123.html",
            "https://news.example.org/world/index.html",
            "https://news.example.org/world/story-123.html",
        ),
        (
            "../europe/baltic",
            "https://news.example.org/world/latest/",
            "https://news.example.org/world/europe/baltic",
        ),
        ("//cdn.example.org/a", "https://news.example.org/", "https://cdn.example.org/a"),
        # an absolute URL ignores the base
        ("http://other.example.net/x", FEED_URL, "http://other.example.net/x"),
        # host lower-cased, trailing dot removed
        ("https://NEWS.Example.ORG/World/Story", None, "https://news.example.org/World/Story"),
        ("https://news.example.org./a", None, "https://news.example.org/a"),
        # default ports dropped, other ports kept
        ("http://news.example.org:80/a", None, "http://news.example.org/a"),
        ("https://news.example.org:443/a", None, "https://news.example.org/a"),
        ("https://news.example.org:8443/a", None, "https://news.example.org:8443/a"),
        ("http://news.example.org:443/a", None, "http://news.example.org:443/a"),
        # fragments removed; an empty path becomes "/"
        ("https://news.example.org/a#comments", None, "https://news.example.org/a"),
        ("https://news.example.org", None, "https://news.example.org/"),
        # tracking parameters stripped
        (
            "https://news.example.org/a?utm_source=rss&utm_medium=feed&utm_campaign=world",
            None,
            "https://news.example.org/a",
        ),
        ("https://news.example.org/a?fbclid=IwAR0abc&gclid=Cj0KCQ", None, "https://news.example.org/a"),
        (
            "https://news.example.org/a?UTM_Source=x&ocid=msn&at_medium=social&_ga=2.1&mc_cid=9",
            None,
            "https://news.example.org/a",
        ),
        # real parameters kept and sorted
        ("https://news.example.org/a?page=2&id=4471", None, "https://news.example.org/a?id=4471&page=2"),
        (
            "https://news.example.org/a?utm_source=rss&page=2&fbclid=z&id=4471#top",
            None,
            "https://news.example.org/a?id=4471&page=2",
        ),
        (
            "https://news.example.org/search?q=nato+baltic&lang=en",
            None,
            "https://news.example.org/search?lang=en&q=nato+baltic",
        ),
    ],
)
def test_canonical_url(url: str, base: str | None, expected: str) -> None:
    assert canonical_url(url, base=base) == expected


def test_canonical_url_is_stable() -> None:
    once = canonical_url("https://News.Example.org:443/a?z=1&utm_term=x&b=2#frag")
    assert canonical_url(once) == once


@pytest.mark.parametrize(
    "url",
    [
        "ftp://news.example.org/file.txt",
        "javascript:alert(1)",
        "mailto:desk@example.org",
        "file:///etc/passwd",
        "data:text/html,<p>hi</p>",
        "news.example.org/no-scheme",
    ],
)
def test_canonical_url_rejects_non_http(url: str) -> None:
    with pytest.raises(BadContent):
        canonical_url(url)


def test_canonical_url_rejects_missing_host() -> None:
    with pytest.raises(BadContent):
        canonical_url("https:///only-a-path")


# --- story_id_for -------------------------------------------------------------------------------


def test_story_id_same_for_tracking_fragment_and_host_case() -> None:
    plain = story_id_for("https://news.example.org/world/nato-drill?id=7")
    variants = [
        "https://news.example.org/world/nato-drill?id=7&utm_source=rss&utm_medium=feed",
        "https://news.example.org/world/nato-drill?fbclid=abc&id=7",
        "https://news.example.org/world/nato-drill?id=7#comments",
        "https://NEWS.EXAMPLE.ORG/world/nato-drill?id=7",
        "https://news.example.org:443/world/nato-drill?gclid=q&id=7#top",
    ]
    assert {story_id_for(v) for v in variants} == {plain}


def test_story_id_differs_for_different_paths_and_params() -> None:
    ids = {
        story_id_for("https://news.example.org/world/nato-drill"),
        story_id_for("https://news.example.org/world/nato-drill-2"),
        story_id_for("https://news.example.org/World/nato-drill"),  # paths are case-sensitive
        story_id_for("https://news.example.org/world/nato-drill?id=8"),
        story_id_for("http://other.example.org/world/nato-drill"),
    }
    assert len(ids) == 5


def test_story_id_is_32_hex_chars() -> None:
    sid = story_id_for("https://news.example.org/world/nato-drill")
    assert re.fullmatch(r"[0-9a-f]{32}", sid)


# --- parse_feed ---------------------------------------------------------------------------------

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>Northern Ledger - World</title>
    <link>https://news.example.org/world</link>
    <description>World news from the Northern Ledger desk</description>
    <item>
      <title>NATO jets scrambled over Baltic after Russian aircraft nears airspace</title>
      <link>/world/2026/11/20/baltic-scramble?utm_source=rss&amp;utm_medium=feed</link>
      <description>Two fighter jets were scrambled from Siauliai air base on Friday morning.</description>
      <pubDate>Fri, 20 Nov 2026 10:15:00 +0200</pubDate>
      <guid isPermaLink="false">nl-2026-11-20-0001</guid>
    </item>
    <item>
      <title>Kremlin says alliance drill is a provocation</title>
      <link>https://news.example.org/world/2026/11/20/kremlin-drill</link>
      <description>Moscow will take measures to ensure its security, a spokesman said.</description>
      <pubDate>Fri, 20 Nov 2026 07:02:30 GMT</pubDate>
    </item>
    <item>
      <title>Kremlin says alliance drill is a provocation (updated)</title>
      <link>https://NEWS.example.org/world/2026/11/20/kremlin-drill?fbclid=xyz#top</link>
      <description>A second copy of the same story with tracking parameters.</description>
      <pubDate>Fri, 20 Nov 2026 07:30:00 GMT</pubDate>
    </item>
    <item>
      <title>Finland extends border closure</title>
      <guid>https://news.example.org/world/2026/11/20/finland-border</guid>
      <description>The eastern border stays shut until February.</description>
      <pubDate>Fri, 20 Nov 2026 06:00:00 +0000</pubDate>
    </item>
    <item>
      <title>Entry with nothing to point at</title>
      <description>This item has neither a link nor a URL guid.</description>
      <guid isPermaLink="false">internal-778</guid>
    </item>
  </channel>
</rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Harbour Wire: Europe</title>
  <id>urn:uuid:1b0c2f1e-4d1a-4c55-9e7e-2a5a1d0f0c01</id>
  <updated>2026-11-20T09:00:00Z</updated>
  <entry>
    <title>Poland to build new air-defence base near Suwalki Gap</title>
    <link rel="alternate" href="europe/poland-air-defence-base"/>
    <id>tag:harbourwire.example,2026:poland-base</id>
    <published>2026-11-20T11:45:00+01:00</published>
    <updated>2026-11-20T12:00:00+01:00</updated>
    <summary>The base will host Patriot batteries from 2028, the defence ministry said.</summary>
  </entry>
  <entry>
    <title>Estonia summons Russian envoy over airspace violation</title>
    <link rel="alternate" href="https://harbourwire.example/europe/estonia-envoy"/>
    <id>tag:harbourwire.example,2026:estonia-envoy</id>
    <updated>2026-11-19T22:10:00Z</updated>
    <summary>A Russian helicopter crossed into Estonian airspace for about a minute.</summary>
  </entry>
</feed>
"""

ATOM_URL = "https://harbourwire.example/feeds/atom.xml"


@pytest.fixture(scope="module")
def rss_feed() -> ParsedFeed:
    return parse_feed(RSS, FEED_URL)


def test_rss_feed_title_and_entries(rss_feed: ParsedFeed) -> None:
    assert rss_feed.title == "Northern Ledger - World"
    titles = [e.title for e in rss_feed.entries]
    # the duplicate of the Kremlin story is collapsed; the linkless entry is skipped
    assert titles == [
        "NATO jets scrambled over Baltic after Russian aircraft nears airspace",
        "Kremlin says alliance drill is a provocation",
        "Finland extends border closure",
    ]


def test_rss_entry_fields(rss_feed: ParsedFeed) -> None:
    first = rss_feed.entries[0]
    assert first.summary == "Two fighter jets were scrambled from Siauliai air base on Friday morning."
    # +0200 offset converted to UTC, ISO seconds
    assert first.published == "2026-11-20T08:15:00+00:00"
    # relative link resolved against the feed URL, tracking params gone
    assert first.url == "https://news.example.org/world/2026/11/20/baltic-scramble"
    assert first.story_id == story_id_for(first.url)
    assert first.feed_url == FEED_URL
    assert first.guid == "nl-2026-11-20-0001"
    assert rss_feed.entries[1].published == "2026-11-20T07:02:30+00:00"


def test_rss_duplicates_collapse_to_first(rss_feed: ParsedFeed) -> None:
    kremlin = [e for e in rss_feed.entries if "kremlin-drill" in e.url]
    assert len(kremlin) == 1
    assert kremlin[0].url == "https://news.example.org/world/2026/11/20/kremlin-drill"
    assert kremlin[0].summary.startswith("Moscow will take measures")
    assert len({e.story_id for e in rss_feed.entries}) == len(rss_feed.entries)


def test_rss_entry_without_link_uses_http_guid(rss_feed: ParsedFeed) -> None:
    finland = rss_feed.entries[2]
    assert finland.url == "https://news.example.org/world/2026/11/20/finland-border"
    assert finland.published == "2026-11-20T06:00:00+00:00"


def test_rss_entry_without_any_link_is_a_problem(rss_feed: ParsedFeed) -> None:
    assert len(rss_feed.problems) == 1
    assert "without a link" in rss_feed.problems[0]
    assert "Entry with nothing to point at" in rss_feed.problems[0]


def test_atom_feed() -> None:
    feed = parse_feed(ATOM, ATOM_URL)
    assert feed.title == "Harbour Wire: Europe"
    assert feed.problems == ()
    poland, estonia = feed.entries
    assert poland.title == "Poland to build new air-defence base near Suwalki Gap"
    assert poland.url == "https://harbourwire.example/feeds/europe/poland-air-defence-base"
    assert poland.summary == "The base will host Patriot batteries from 2028, the defence ministry said."
    # published preferred over updated, converted from +01:00
    assert poland.published == "2026-11-20T10:45:00+00:00"
    assert poland.guid == "tag:harbourwire.example,2026:poland-base"
    # no published: updated is used
    assert estonia.published == "2026-11-19T22:10:00+00:00"
    assert estonia.url == "https://harbourwire.example/europe/estonia-envoy"


def test_parse_feed_is_deterministic() -> None:
    assert parse_feed(RSS, FEED_URL) == parse_feed(RSS, FEED_URL)


def test_rss_non_http_link_is_a_problem_not_a_crash() -> None:
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
      <item><title>Bad</title><link>javascript:alert(1)</link></item>
      <item><title>Good</title><link>https://news.example.org/good</link></item>
    </channel></rss>"""
    feed = parse_feed(body, FEED_URL)
    assert [e.title for e in feed.entries] == ["Good"]
    assert len(feed.problems) == 1


HTML_PAGE = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Northern Ledger - World news</title>
<link rel="alternate" type="application/rss+xml" href="/rss"></head>
<body><nav><a href="/">Home</a><br></nav><h1>Top stories</h1>
<p>Ministers met in Brussels&nbsp;today.<p>More soon.</body></html>"""


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n\t ",
        HTML_PAGE,
        b"\x00\x01\x02garbage \xff\xfe\x89PNG lorem",
        b"just some plain words, not a feed",
        b'{"items": [{"title": "json is not a feed"}]}',
    ],
    ids=["empty", "whitespace", "html", "binary", "text", "json"],
)
def test_parse_feed_rejects_non_feeds(body: bytes) -> None:
    with pytest.raises(BadContent):
        parse_feed(body, FEED_URL)


# --- check_article ------------------------------------------------------------------------------

ARTICLE = b"<html><body><article><p>Ministers met in Brussels.</p></article></body></html>"


def _resp(status: int = 200, ctype: str | None = "text/html", body: bytes = ARTICLE) -> HttpResponse:
    headers = {"content-type": ctype} if ctype is not None else {}
    return HttpResponse(url="https://news.example.org/a", status=status, headers=headers, body=body)


@pytest.mark.parametrize(
    "ctype",
    ["text/html", "text/html; charset=utf-8", "TEXT/HTML; Charset=ISO-8859-1", "application/xhtml+xml", None],
)
def test_check_article_accepts_html(ctype: str | None) -> None:
    check_article(_resp(ctype=ctype))  # does not raise


@pytest.mark.parametrize("status", [404, 410, 500])
def test_check_article_error_status_is_permanent(status: int) -> None:
    with pytest.raises(PermanentError) as info:
        check_article(_resp(status=status))
    assert str(status) in str(info.value)
    assert not isinstance(info.value, BadContent)


@pytest.mark.parametrize("ctype", ["application/pdf", "image/jpeg", "application/json"])
def test_check_article_wrong_type_is_bad_content(ctype: str) -> None:
    with pytest.raises(BadContent):
        check_article(_resp(ctype=ctype, body=b"%PDF-1.7 ..."))


@pytest.mark.parametrize("body", [b"", b"  \r\n  "])
def test_check_article_empty_body_is_bad_content(body: bytes) -> None:
    with pytest.raises(BadContent):
        check_article(_resp(body=body))
