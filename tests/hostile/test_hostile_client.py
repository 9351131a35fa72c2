"""Every hostile feed and page through our HTTP client and the feed parser.

Each must end in the precise error the tasks decide on (retry or dead-letter by type), with a
message naming the cause, in bounded time and memory; odd but valid feeds must come out right.
"""

from __future__ import annotations

import re
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pipeline.clean import CleanOptions, clean
from pipeline.errors import (
    BadContent,
    BlockedRedirect,
    Gone,
    PermanentError,
    StageError,
    TooLarge,
    TransientError,
)
from pipeline.fetch import (
    CHARSET_OVERRIDE,
    CHARSET_UNCLEAN,
    ITEM_REJECTED,
    TITLE_CUT,
    ParsedFeed,
    check_article,
    parse_feed,
    utc_now,
)
from pipeline.models import FeedEntry, FetchedPage
from pipeline.ports import HttpResponse
from tests.hostile.server import (
    CANARY_REDIRECTS,
    EXPANSION_FEEDS,
    FAILING_FEEDS,
    HEALTHY_ARTICLES,
    ISOLATED_ARTICLES,
    ISOLATED_BAD_ITEMS,
    MIXED_BAD_ARTICLES,
    MIXED_GOOD_ARTICLES,
    OK_ATOM_ARTICLES,
    OK_RSS_ARTICLES,
    HostileServer,
)
from workers.adapters.http import GuardedHttpClient

MAX_BODY = 1_000_000
TIME_BUDGET_S = 6.0
TRICKLE_BUDGET_S = 8.0  # total timeout 5 s, plus the second it takes the next byte to arrive
MEMORY_BUDGET = 50 * 1024 * 1024
LONGEST_STRING = 10_000
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"


@pytest.fixture(scope="module")
def server() -> Iterator[HostileServer]:
    # A trickle that no client stops ends by itself after 20 s, well past any budget here.
    hostile = HostileServer(trickle_cap_s=20.0).start()
    yield hostile
    hostile.stop()


@pytest.fixture
def client(server: HostileServer) -> Iterator[GuardedHttpClient]:
    guarded = GuardedHttpClient(
        user_agent="wirewatch-hostile-test/0",
        connect_timeout_s=2.0,
        read_timeout_s=2.0,
        total_timeout_s=5.0,
        max_body_bytes=MAX_BODY,
        max_redirects=5,
        allow_hosts=(server.allow_entry,),  # exactly what the server serves: one address, one port
    )
    yield guarded
    guarded.close()


def fetch_feed(client: GuardedHttpClient, url: str) -> ParsedFeed:
    """What ``poll_feed`` does with a feed URL, without the task around it."""
    resp = client.get(url, headers={"Accept": FEED_ACCEPT})
    return parse_feed(resp.body, url, resp.headers.get("content-type", ""))


def fetch_page(client: GuardedHttpClient, url: str) -> HttpResponse:
    """What ``fetch_article`` does with an article URL, without the task around it."""
    resp = client.get(url, headers={"Accept": PAGE_ACCEPT})
    check_article(resp)
    return resp


@dataclass(frozen=True)
class Outcome:
    result: Any
    error: BaseException | None
    elapsed_s: float
    peak_bytes: int  # peak of Python allocations during the call (tracemalloc)

    def describe(self) -> str:
        return f"error={self.error!r} elapsed={self.elapsed_s:.1f}s peak={self.peak_bytes / 1e6:.1f} MB"


def measure(call: Callable[[], Any]) -> Outcome:
    """Run one call with its time and peak memory measured; an exception is an outcome, not a failure."""
    tracemalloc.start()
    started = time.monotonic()
    result: Any = None
    error: BaseException | None = None
    try:
        result = call()
    except Exception as exc:  # noqa: BLE001 - the test inspects whatever was raised
        error = exc
    finally:
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return Outcome(result, error, elapsed, peak)


def all_strings(feed: ParsedFeed) -> list[str]:
    out = [feed.title, *(p.detail for p in feed.problems)]
    for entry in feed.entries:
        out += [entry.title, entry.summary, entry.url, entry.guid, entry.published or ""]
    return out


# --- hostile feeds: the precise error, quickly -------------------------------------------------------

REFUSED = r"non-public address .* is not in the allow-list"
FEED_FAILURES = [
    pytest.param("/malformed", BadContent, r"malformed feed with no usable entry", TIME_BUDGET_S, id="malformed"),
    pytest.param("/huge-feed", TooLarge, r"exceeds 1000000 bytes after decompression", TIME_BUDGET_S, id="huge-feed"),
    pytest.param("/huge-feed-declared", TooLarge, r"declared 20971520 bytes", TIME_BUDGET_S, id="huge-feed-declared"),
    pytest.param("/gzip-bomb", TooLarge, r"after decompression", TIME_BUDGET_S, id="gzip-bomb"),
    # Stacked encodings are refused before anything is inflated.
    pytest.param("/gzip-bomb-nested", BadContent, r"more than one content encoding", TIME_BUDGET_S,
                 id="gzip-bomb-nested"),
    pytest.param("/redirect-loop", PermanentError, r"more than 5 redirects", TIME_BUDGET_S, id="redirect-loop"),
    # A refused redirect names where it pointed: never a content error that hides it.
    pytest.param("/redirect-private", BlockedRedirect, r"to http://10\.0\.0\.1/feed refused: non-public address 10\.0\.0\.1:80 ",
                 TIME_BUDGET_S, id="redirect-private"),
    pytest.param("/redirect-metadata", BlockedRedirect, r"to http://169\.254\.169\.254/latest/meta-data/ refused: "
                 + REFUSED, TIME_BUDGET_S, id="redirect-metadata"),
    pytest.param("/redirect-decimal", BlockedRedirect,
                 r"to http://167772161/feed refused: 167772161 resolves to non-public address 10\.0\.0\.1:80 ",
                 TIME_BUDGET_S, id="redirect-decimal"),
    pytest.param("/redirect-ipv6-loopback", BlockedRedirect, r"refused: non-public address \[::1\]:\d+ ", TIME_BUDGET_S,
                 id="redirect-ipv6-loopback"),
    pytest.param("/redirect-file", BlockedRedirect, r"to file:///etc/passwd refused: scheme 'file'", TIME_BUDGET_S,
                 id="redirect-file"),
    pytest.param("/redirect-other-port", BlockedRedirect, r"to http://127\.0\.0\.1:\d+/ok/rss refused: " + REFUSED,
                 TIME_BUDGET_S, id="redirect-other-port"),
    pytest.param("/redirect-other-port-decimal", BlockedRedirect,
                 r"to http://2130706433:\d+/ok/rss refused: 2130706433 resolves to " + REFUSED, TIME_BUDGET_S,
                 id="redirect-other-port-decimal"),
    pytest.param("/redirect-other-port-name", BlockedRedirect,
                 r"to http://localhost:\d+/ok/rss refused: localhost resolves to " + REFUSED, TIME_BUDGET_S,
                 id="redirect-other-port-name"),
    pytest.param("/trickle", TransientError, r"total time limit", TRICKLE_BUDGET_S, id="trickle"),
    pytest.param("/trickle-headers", TransientError, r"time limit|timeout", TRICKLE_BUDGET_S, id="trickle-headers"),
    pytest.param("/slow-headers", TransientError, r"^timeout fetching .*ReadTimeout", TIME_BUDGET_S, id="slow-headers"),
    pytest.param("/html-not-feed", BadContent, r"HTML page where a feed should be", TIME_BUDGET_S, id="html-not-feed"),
    pytest.param("/empty", BadContent, r"empty feed body", TIME_BUDGET_S, id="empty"),
    pytest.param("/204", PermanentError, r"^HTTP 204 No Content from .*: the server sent no body", TIME_BUDGET_S,
                 id="204"),
    pytest.param("/404", PermanentError, r"^HTTP 404 from ", TIME_BUDGET_S, id="404"),
    pytest.param("/410", Gone, r"^HTTP 410 Gone from ", TIME_BUDGET_S, id="410"),
    pytest.param("/500", TransientError, r"^HTTP 500 from ", TIME_BUDGET_S, id="500"),
    pytest.param("/429", TransientError, r"^HTTP 429 from ", TIME_BUDGET_S, id="429"),
    pytest.param("/reset", TransientError, r"^network error fetching ", TIME_BUDGET_S, id="reset"),
]


def test_every_failing_feed_has_a_case() -> None:
    assert sorted(p.values[0] for p in FEED_FAILURES) == sorted(FAILING_FEEDS)


@pytest.mark.parametrize(("path", "error", "pattern", "budget_s"), FEED_FAILURES)
def test_hostile_feed_fails_with_a_clear_error(
    server: HostileServer,
    client: GuardedHttpClient,
    path: str,
    error: type[StageError],
    pattern: str,
    budget_s: float,
) -> None:
    outcome = measure(lambda: fetch_feed(client, server.url(path)))
    # The exact class: tasks decide retry or dead-letter by it, feed health reports its reason.
    assert type(outcome.error) is error, f"{path}: expected {error.__name__}; {outcome.describe()}"
    assert re.search(pattern, str(outcome.error)), f"{path}: message {str(outcome.error)!r} !~ {pattern!r}"
    assert outcome.elapsed_s < budget_s, f"{path}: took {outcome.elapsed_s:.1f}s (budget {budget_s}s)"


def test_429_carries_retry_after(server: HostileServer, client: GuardedHttpClient) -> None:
    with pytest.raises(TransientError) as info:
        fetch_feed(client, server.url("/429"))
    assert info.value.retry_after == 120


def test_500_without_retry_after(server: HostileServer, client: GuardedHttpClient) -> None:
    with pytest.raises(TransientError) as info:
        fetch_feed(client, server.url("/500"))
    assert info.value.retry_after is None


@pytest.mark.parametrize(
    "path",
    [
        "/gzip-bomb",
        "/gzip-bomb-nested",
        "/huge-feed",
        "/huge-feed-declared",
    ],
)
def test_big_bodies_stay_small_in_memory(server: HostileServer, client: GuardedHttpClient, path: str) -> None:
    outcome = measure(lambda: fetch_feed(client, server.url(path)))
    expected = BadContent if path == "/gzip-bomb-nested" else TooLarge
    assert isinstance(outcome.error, expected), outcome.describe()
    assert outcome.peak_bytes < MEMORY_BUDGET, f"{path}: {outcome.describe()}"


def test_gzip_bombs_are_small_on_the_wire() -> None:
    from tests.hostile.server import BOMB_INFLATED_BYTES, gzip_bomb, nested_gzip_bomb

    assert len(gzip_bomb()) < MAX_BODY / 5 and len(nested_gzip_bomb()) < 1_000
    assert BOMB_INFLATED_BYTES > 100 * MAX_BODY


# --- entity expansion ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXPANSION_FEEDS)
def test_entity_declarations_refused(server: HostileServer, client: GuardedHttpClient, path: str) -> None:
    outcome = measure(lambda: fetch_feed(client, server.url(path)))
    assert type(outcome.error) is BadContent, outcome.describe()
    assert re.search(r"declares \d+ entit(y|ies) in an internal DTD", str(outcome.error)), outcome.describe()
    assert outcome.elapsed_s < TIME_BUDGET_S, outcome.describe()
    assert outcome.peak_bytes < MEMORY_BUDGET, outcome.describe()


def test_canary_port_saw_no_connection(server: HostileServer, client: GuardedHttpClient) -> None:
    """However the redirect spells the server's address, the other port on it is never dialled."""
    for path in CANARY_REDIRECTS:
        with pytest.raises(BlockedRedirect):
            fetch_feed(client, server.url(path))
    assert server.canary.connections() == 0


# --- odd but valid feeds: right text ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "title", "entry_titles"),
    [
        (
            "/wrong-charset",
            "Wiadomości z Łodzi",
            [
                "Mańkowski re-elected mayor of Łódź",
                "Ørsted halts Baltic wind farm tender",
                "Škoda and Citroën recall 12 000 cars in Česko",
            ],
        ),
        (
            "/cyrillic",
            "Новости Петербурга",
            ["Мэрия Санкт-Петербурга открыла новый мост через Неву", "Паромное сообщение с Кронштадтом возобновлено"],
        ),
        (
            "/bom",
            "Zürcher Rundschau",
            ["Straßenbahn nach Örlikon fährt wieder", "Besançon et Genève signent un accord ferroviaire"],
        ),
        (
            "/cyrillic-declared-utf8",
            "Новости Петербурга",
            ["Мэрия Санкт-Петербурга открыла новый мост через Неву", "Паромное сообщение с Кронштадтом возобновлено"],
        ),
    ],
)
def test_encodings_come_out_right(
    server: HostileServer, client: GuardedHttpClient, path: str, title: str, entry_titles: list[str]
) -> None:
    feed = fetch_feed(client, server.url(path))
    assert feed.title == title
    assert [e.title for e in feed.entries] == entry_titles
    assert all(e.url.startswith(server.url("/gone/")) for e in feed.entries)
    # A declaration the bytes contradict is overridden, and the feed records it.
    overrides = [p.detail for p in feed.problems if p.kind == CHARSET_OVERRIDE]
    expected = {
        "/wrong-charset": ["declared iso8859-1, decoded as utf-8"],
        "/cyrillic-declared-utf8": ["declared utf-8, decoded as cp1251"],
    }
    assert overrides == expected.get(path, [])
    assert [p for p in feed.problems if p.kind != CHARSET_OVERRIDE] == []


# --- per-item isolation ----------------------------------------------------------------------------


def test_good_items_arrive_and_each_bad_one_is_rejected_with_its_reason(
    server: HostileServer, client: GuardedHttpClient
) -> None:
    feed = fetch_feed(client, server.url("/isolated/rss"))
    assert feed.title == "Harbourside Times - Latest"
    assert [e.url for e in feed.entries] == [server.url(p) for p in ISOLATED_ARTICLES]
    rejected = feed.rejected
    assert len(rejected) == len(ISOLATED_BAD_ITEMS)
    for problem, (link, reason) in zip(rejected, ISOLATED_BAD_ITEMS, strict=True):
        assert problem.link == link.replace("$base", server.base_url)
        assert reason in problem.detail, problem.detail
        assert bool(problem.trace_id) == bool(link)
    (cut,) = [p for p in feed.problems if p.kind == TITLE_CUT]
    assert cut.detail.endswith("to 1000 characters") and cut.trace_id == feed.entries[1].story_id
    assert len(feed.entries[1].title) == 1000


def test_mixed_charset_feed_keeps_the_clean_item(server: HostileServer, client: GuardedHttpClient) -> None:
    feed = fetch_feed(client, server.url("/charset-mixed"))
    assert [e.title for e in feed.entries] == ["Мэрия Санкт-Петербурга открыла новый мост через Неву"]
    assert [p.kind for p in feed.problems] == [CHARSET_UNCLEAN, ITEM_REJECTED]
    assert feed.rejected[0].link == server.url("/gone/charset-mixed-cp1251")
    assert "U+FFFD" in feed.rejected[0].detail


def test_declared_charsets_are_what_the_test_claims(server: HostileServer, client: GuardedHttpClient) -> None:
    """The corpus really is hostile: Latin-1 declared over UTF-8 bytes, a real cp1251 body, a BOM."""
    wrong = client.get(server.url("/wrong-charset"))
    assert wrong.headers["content-type"].endswith("charset=ISO-8859-1")
    assert "Mańkowski".encode() in wrong.body
    cyr = client.get(server.url("/cyrillic"))
    assert "Новости".encode("cp1251") in cyr.body and "Новости".encode() not in cyr.body
    assert client.get(server.url("/bom")).body.startswith(b"\xef\xbb\xbf<?xml")


# --- healthy feeds and pages -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "title", "articles"),
    [
        ("/ok/rss", "Harbour Gazette - World", OK_RSS_ARTICLES),
        ("/ok/atom", "Continental Ledger - Europe", OK_ATOM_ARTICLES),
        ("/mixed/rss", "Northern Courier - Latest", MIXED_GOOD_ARTICLES + MIXED_BAD_ARTICLES),
    ],
)
def test_healthy_feeds_parse(
    server: HostileServer, client: GuardedHttpClient, path: str, title: str, articles: tuple[str, ...]
) -> None:
    outcome = measure(lambda: fetch_feed(client, server.url(path)))
    assert outcome.error is None, outcome.describe()
    feed: ParsedFeed = outcome.result
    assert feed.title == title
    assert feed.problems == ()
    # Tracking parameters are gone from the links: the URL is the story's identity.
    assert sorted(e.url for e in feed.entries) == sorted(server.url(a) for a in articles)
    assert all(e.title and e.published for e in feed.entries)
    assert outcome.elapsed_s < 2.0


def _entries(server: HostileServer, client: GuardedHttpClient) -> dict[str, FeedEntry]:
    out: dict[str, FeedEntry] = {}
    for path in ("/ok/rss", "/ok/atom", "/mixed/rss"):
        for entry in fetch_feed(client, server.url(path)).entries:
            out[entry.url] = entry
    return out


def test_good_articles_fetch_and_clean_into_stories(server: HostileServer, client: GuardedHttpClient) -> None:
    """The corpus pages are realistic enough for the clean stage: the chain test relies on it."""
    entries = _entries(server, client)
    for path in HEALTHY_ARTICLES:
        entry = entries[server.url(path)]
        resp = fetch_page(client, entry.url)
        page = FetchedPage(entry.story_id, resp.url, "raw", resp.status, resp.headers["content-type"], utc_now(), entry)
        story = clean(page, resp.body, CleanOptions())
        assert story.title == entry.title, path
        assert story.canonical_url == entry.url, path
        assert len(story.text.split("\n\n")) >= 4, path
        assert story.dateline and story.credit == "NWS", path
        assert story.language == "en", path


BAD_ARTICLES = [
    pytest.param("/article/too-large", TooLarge, r"exceeds 1000000 bytes", id="too-large"),
    pytest.param("/article/pdf", BadContent, r"content type 'application/pdf' is not an HTML page", id="pdf"),
    pytest.param("/article/empty", BadContent, r"^empty body$", id="empty"),
    pytest.param("/article/404", PermanentError, r"^HTTP 404 from ", id="404"),
    pytest.param("/article/slow", TransientError, r"^timeout fetching ", id="slow"),
    pytest.param("/article/redirect-private", BlockedRedirect, r"to http://169\.254\.169\.254/latest/meta-data/ refused",
                 id="redirect-private"),
]


def test_every_bad_article_has_a_case() -> None:
    assert sorted(p.values[0] for p in BAD_ARTICLES) == sorted(MIXED_BAD_ARTICLES)


@pytest.mark.parametrize(("path", "error", "pattern"), BAD_ARTICLES)
def test_bad_article_fails_with_a_clear_error(
    server: HostileServer, client: GuardedHttpClient, path: str, error: type[StageError], pattern: str
) -> None:
    outcome = measure(lambda: fetch_page(client, server.url(path)))
    assert type(outcome.error) is error, f"{path}: expected {error.__name__}; {outcome.describe()}"
    assert re.search(pattern, str(outcome.error)), f"{path}: {str(outcome.error)!r} !~ {pattern!r}"
    assert outcome.elapsed_s < TIME_BUDGET_S, outcome.describe()
    assert outcome.peak_bytes < MEMORY_BUDGET, outcome.describe()


# --- the client survives ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/reset", "/trickle", "/slow-headers", "/huge-feed", "/gzip-bomb", "/redirect-loop"])
def test_client_still_works_after_hostile_call(server: HostileServer, client: GuardedHttpClient, path: str) -> None:
    """A hostile answer leaves no broken connection in the pool for the next, healthy, fetch."""
    with pytest.raises(StageError):
        fetch_feed(client, server.url(path))
    assert len(fetch_feed(client, server.url("/ok/rss")).entries) == 5
