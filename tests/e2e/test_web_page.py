"""The search page in a real headless Chromium against the API on an embedded index.

Needs Debian's ``chromium`` (or ``WIREWATCH_TEST_CHROMIUM``) and the ``playwright`` package; without them the
tests skip, or fail when ``CI`` is true. Playwright's own browser downloads are not used.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from pipeline.index import story_document
from pipeline.models import Claim, CleanStory, DedupeResult, Entity, Extraction
from workers.adapters.sqlite_index import SqliteIndex
from workers.api import Api, make_server

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = Path(os.environ.get("WIREWATCH_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
HOSTILE = "<img src=x onerror=alert(1)>"
PESKOV_THREAT = "NATO's build-up on our borders is a direct threat to Russia's security"


def _unavailable(why: str) -> NoReturn:
    if CI:
        pytest.fail(f"the web page test needs {why} under CI=true", pytrace=False)
    pytest.skip(f"web page test: {why}")


# --- the stories -------------------------------------------------------------------------------


def sid(n: int) -> str:
    return f"{n:032x}"


@dataclass
class Story:
    n: int
    outlet: str
    published: str
    title: str
    text: str
    claims: list[tuple[str, str, str, str]] = field(default_factory=list)  # speaker, cue, kind, text
    entities: list[tuple[str, str, str | None]] = field(default_factory=list)  # name, type, id
    cluster: int | None = None  # the canonical copy's n, for a copy
    wire: str = ""
    language: str = "en"
    topic: float = 0.6


STORIES = [
    Story(
        1,
        "Harbour Herald",
        "2026-11-17T07:30:00+00:00",
        "Kremlin warns NATO over Baltic air patrols",
        "MOSCOW (Reuters) - The Kremlin on Tuesday warned NATO that its expanded air patrols over the Baltic Sea "
        f'were raising tensions. Kremlin spokesman Dmitry Peskov said: "{PESKOV_THREAT}." The alliance says the '
        "patrols are defensive and comply with international law.",
        [("Dmitry Peskov", "said", "direct", PESKOV_THREAT)],
        [
            ("Dmitry Peskov", "person", None),
            ("NATO", "org", "Q7184"),
            ("Kremlin", "org", None),
            ("Baltic Sea", "place", None),
            ("Russia", "place", "Q159"),
        ],
        wire="Reuters",
        topic=0.92,
    ),
    Story(
        2,
        "Coastal Courier",
        "2026-11-17T09:10:00+00:00",
        "Kremlin warns NATO over Baltic air patrols",
        "MOSCOW (Reuters) - The Kremlin on Tuesday warned NATO that its expanded air patrols over the Baltic Sea "
        f'were raising tensions. Kremlin spokesman Dmitry Peskov said: "{PESKOV_THREAT}." The alliance says the '
        "patrols are defensive and comply with international law.",
        [("Dmitry Peskov", "said", "direct", PESKOV_THREAT)],
        [
            ("Dmitry Peskov", "person", None),
            ("NATO", "org", "Q7184"),
            ("Kremlin", "org", None),
            ("Baltic Sea", "place", None),
            ("Russia", "place", "Q159"),
        ],
        cluster=1,
        wire="Reuters",
        topic=0.92,
    ),
    Story(
        3,
        "Northern Ledger",
        "2026-11-18T11:00:00+00:00",
        "NATO chief says alliance will not be intimidated",
        'BRUSSELS (AP) - NATO Secretary General Mark Rutte said on Wednesday that "we will not be intimidated" by '
        "Moscow's warnings. Rutte said allies would keep their aircraft in the region for as long as needed.",
        [
            ("Mark Rutte", "said", "direct", "we will not be intimidated"),
            ("Mark Rutte", "said", "reported", "allies would keep their aircraft in the region for as long as needed"),
        ],
        [("Mark Rutte", "person", None), ("NATO", "org", "Q7184"), ("Moscow", "place", None)],
        wire="AP",
        topic=0.81,
    ),
    Story(
        4,
        "Harbour Herald",
        "2026-11-18T15:20:00+00:00",
        "Kremlin rejects NATO claims of drone incursions",
        "MOSCOW (Reuters) - The Kremlin rejected NATO accusations that Russian drones had crossed into Polish "
        "airspace. Peskov told reporters the accusations about drone incursions were groundless and aimed at "
        "justifying new deployments.",
        [("Dmitry Peskov", "told", "reported", "the accusations about drone incursions were groundless")],
        [("Dmitry Peskov", "person", None), ("NATO", "org", "Q7184"), ("Poland", "place", None)],
        wire="Reuters",
        topic=0.77,
    ),
    Story(
        5,
        "Riga Dispatch",
        "2026-11-19T06:45:00+00:00",
        "NATO surveillance flights near Kaliningrad double <img src=y onerror=alert(2)>",
        f"VILNIUS - NATO reconnaissance flights near Kaliningrad {HOSTILE} have doubled this month, according to "
        "flight-tracking data reviewed by analysts & defence officials.",
        entities=[("NATO", "org", "Q7184"), ("Kaliningrad", "place", None)],
        topic=0.55,
    ),
    Story(
        6,
        "Northern Ledger",
        "2026-11-20T10:00:00+00:00",
        "NATO opens large exercise in Lithuania",
        "VILNIUS (AP) - NATO opened its largest exercise of the year in Lithuania on Friday. Rutte said: "
        '"Our deterrence is strong and credible." Russia called the drills a provocation.',
        [("Mark Rutte", "said", "direct", "Our deterrence is strong and credible")],
        [
            ("Mark Rutte", "person", None),
            ("NATO", "org", "Q7184"),
            ("Lithuania", "place", None),
            ("Russia", "place", "Q159"),
        ],
        wire="AP",
        topic=0.7,
    ),
    Story(
        7,
        "Le Courrier",
        "2026-11-20T12:00:00+00:00",
        "Moscou accuse l'OTAN d'escalade en mer Baltique",
        "MOSCOU (AFP) - La Russie a accusé mercredi l'OTAN d'escalade en mer Baltique.",
        entities=[("OTAN", "org", "Q7184")],
        wire="AFP",
        language="fr",
        topic=0.6,
    ),
    Story(
        8,
        "Coastal Courier",
        "2026-11-21T08:00:00+00:00",
        "Russian grain exports rise despite sanctions",
        "MOSCOW (Reuters) - Russian wheat exports rose in November, traders said, as prices held steady.",
        entities=[("Russia", "place", "Q159")],
        wire="Reuters",
        topic=0.1,
    ),
]
# "NATO" matches stories 1 and 2 (one cluster), 3, 4, 5 and 6, published on four days.
NATO_CARDS = 5
NATO_DAYS = 4


def document(story: Story) -> dict[str, Any]:
    story_id = sid(story.n)
    clean = CleanStory(
        story_id,
        f"https://news.example/{story.n}",
        f"https://news.example/{story.n}",
        "https://news.example/feed",
        story.outlet,
        story.title,
        story.text,
        published=story.published,
        language=story.language,
        credit=story.wire,
    )
    cluster = sid(story.cluster or story.n)
    dup = DedupeResult(
        story_id,
        f"{story.n:016x}",
        cluster,
        story.cluster is None,
        "exact" if story.cluster else "new",
        cluster if story.cluster else None,
        wire=story.wire,
    )
    claims = []
    for speaker, cue, kind, text in story.claims:
        start = story.text.find(text)
        claims.append(Claim(speaker, cue, kind, text, start, start + len(text)))
    entities = tuple(Entity(name, kind, wid) for name, kind, wid in story.entities)
    extraction = Extraction(story_id, entities, tuple(claims), story.topic)
    return story_document(clean, dup, extraction, "2026-11-21T09:00:00+00:00")


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    index = SqliteIndex(tmp_path_factory.mktemp("web") / "stories.sqlite")
    index.ensure_ready()
    assert index.put_many(document(s) for s in STORIES) == {}
    server = make_server(Api(index), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"the playwright package ({exc})")
    with sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000)
        except Exception as exc:  # noqa: BLE001 - any launch failure means the browser is unusable here
            _unavailable(f"a Chromium that starts ({exc})")
        yield chromium
        chromium.close()


@dataclass
class Page:
    """A browser page on the search page, with the dialogs it raised."""

    page: Any
    base_url: str
    dialogs: list[str]

    def settle(self) -> str:
        """Wait until the page has rendered its last answer; return "ready" or "error"."""
        # A selector, not wait_for_function: that evaluates strings, which the page's CSP forbids.
        self.page.wait_for_selector('body[data-status="ready"], body[data-status="error"]', state="attached")
        return str(self.page.get_attribute("body", "data-status"))

    def open(self, query: str = "") -> str:
        self.page.goto(f"{self.base_url}/{query}")
        return self.settle()

    def act(self, action: Callable[[], None], api: str = "/api/search") -> str:
        """Do something that asks the API again, and wait for the answer to be shown."""
        with self.page.expect_response(lambda r: api in r.url):
            action()
        return self.settle()

    def search(self, words: str) -> str:
        self.page.fill("#q", words)
        return self.act(lambda: self.page.click("#search-button"))

    def cards(self) -> Any:
        return self.page.locator("#results .card")


@pytest.fixture
def web(browser: Any, base_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield Page(page, base_url, dialogs)
    context.close()


# --- tests -------------------------------------------------------------------------------------


def test_search_shows_cards_copies_highlights_claims_and_timeline(web: Page) -> None:
    assert web.open() == "ready"  # the landing page lists the latest stories
    assert web.cards().count() == len(STORIES) - 1  # two copies, one card
    assert web.search("NATO") == "ready"
    page = web.page
    assert web.cards().count() == NATO_CARDS
    assert page.inner_text("#total").strip() == str(NATO_CARDS)
    assert "q=NATO" in page.url

    # The copies are one card, carried by both outlets.
    copied = web.cards().filter(has_text="Kremlin warns NATO over Baltic air patrols")
    assert copied.count() == 1
    assert copied.locator(".carried-count").inner_text() == "carried by 2 outlets"
    assert set(copied.locator(".carried li").all_inner_texts()) == {"Harbour Herald", "Coastal Courier"}
    assert copied.locator(".wire").inner_text() == "Reuters"

    # Highlights are <mark>, and the markup in the stories' text and titles stays text.
    assert page.locator("#results .snippet mark").count() >= NATO_CARDS
    assert {m.lower() for m in page.locator("#results .snippet mark").all_inner_texts()} == {"nato"}
    tags = page.eval_on_selector_all("#results .snippet *", "els => [...new Set(els.map(e => e.tagName))]")
    assert tags == ["MARK"]
    hostile = web.cards().filter(has_text="Kaliningrad")
    assert HOSTILE in hostile.locator(".snippet").inner_text()
    assert "<img src=y onerror=alert(2)>" in hostile.locator("h3").inner_text()
    assert "analysts & defence" in hostile.locator(".snippet").inner_text()
    assert page.locator("img").count() == 0
    assert web.dialogs == []

    # Claims with their speakers; a direct quote is in quote marks.
    speakers = set(page.locator("#results .claim .speaker").all_inner_texts())
    assert speakers == {"Dmitry Peskov", "Mark Rutte"}
    assert f"“{PESKOV_THREAT}”" in copied.locator(".claim").first.inner_text()
    reported = web.cards().filter(has_text="drone incursions").locator(".claim").first
    assert "reported speech" in reported.inner_text() and "“" not in reported.inner_text()

    # The timeline: one bar per day, each with a tooltip.
    bars = page.locator("#timeline svg rect.bar")
    assert bars.count() == NATO_DAYS
    assert page.locator("#timeline svg rect.bar > title").count() == NATO_DAYS
    # Bars count stories (clusters) as the total does: a wire story and its copy are one story on its first day.
    assert "Nov 17, 2026: 1 story" in bars.first.locator("title").text_content()
    day_counts = [
        int(t.split(": ")[1].split()[0]) for t in page.locator("#timeline svg rect.bar > title").all_text_contents()
    ]
    assert sum(day_counts) == NATO_CARDS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "web_page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0

    # A bar is a way in: clicking the first day shows only that day's stories.
    assert web.act(bars.first.click) == "ready"
    assert "from=2026-11-17" in page.url and "to=2026-11-17" in page.url
    assert web.cards().count() == 1 and page.locator("#timeline svg rect.bar").count() == 1


def test_speaker_facet_filters_and_the_search_is_bookmarkable(web: Page) -> None:
    web.open("?q=NATO")
    page = web.page
    assert web.cards().count() == NATO_CARDS
    facet = page.locator('#facets [data-facet="speaker"] .facet-value[data-value="Dmitry Peskov"]')
    counted = int(facet.locator(".facet-count").inner_text())  # stories, as the total counts them
    assert web.act(facet.click) == "ready"
    cards = web.cards()
    assert 0 < cards.count() < NATO_CARDS
    assert cards.count() == counted == int(page.inner_text("#total").strip())
    for i in range(cards.count()):
        assert "Dmitry Peskov" in cards.nth(i).locator(".speaker").all_inner_texts()
    assert "speaker=Dmitry+Peskov" in page.url
    assert page.locator("#speaker").input_value() == "Dmitry Peskov"
    filtered = cards.count()

    page.reload()  # the whole search lives in the URL
    web.settle()
    assert web.cards().count() == filtered
    assert page.locator("#q").input_value() == "NATO"
    # Removing the filter's chip brings every story back.
    assert web.act(page.locator("#active-filters .chip").first.click) == "ready"
    assert web.cards().count() == NATO_CARDS


def test_claims_tab_lists_a_claim_with_its_repeats(web: Page) -> None:
    web.open()
    page = web.page
    page.click("#tab-claims")
    web.settle()
    page.fill("#claim-speaker", "Dmitry Peskov")
    page.fill("#about", "threat")
    assert web.act(lambda: page.click("#claims-button"), api="/api/claims") == "ready"
    hits = page.locator("#claim-results .claim-hit")
    assert hits.count() == 1
    text = hits.first.inner_text()
    assert "repeated in 2 stories by 2 outlets" in text
    assert PESKOV_THREAT in text and "Harbour Herald" in text  # first made by the earlier copy
    assert "tab=claims" in page.url and "about=threat" in page.url

    # From a claim to the stories that carry it.
    assert web.act(hits.first.get_by_role("button", name="Show the stories").click) == "ready"
    assert page.locator("#panel-search").is_visible()
    assert web.cards().count() == 1
    assert "carried by 2 outlets" in web.cards().first.inner_text()


def test_markup_from_a_broken_api_stays_text(web: Page) -> None:
    """The page does not trust the API either: a snippet's other tags stay text, a javascript: link is dropped."""
    hit = {
        "story_id": sid(99),
        "title": "Broken adapter",
        "outlet": "Nowhere",
        "url": "javascript:alert(3)",
        "published": "2026-11-19T06:45:00+00:00",
        "score": 1.0,
        "cluster_id": sid(99),
        "topic_score": 0.5,
        "wire": "",
        "language": "en",
        "claims": [],
        "sources": [
            {"story_id": sid(99), "outlet": "Nowhere", "url": "javascript:alert(4)"},
            {"story_id": sid(98), "outlet": "Elsewhere", "url": "https://news.example/98"},
        ],
        "snippet": "NATO <mark>jets</mark> <img src=x onerror=alert(1)><script>alert(2)</script> &amp; more",
    }
    body = {"total": 1, "hits": [hit], "facets": {}, "histogram": []}
    web.page.route(
        lambda url: "/api/search" in url,
        lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(body)),
    )
    assert web.open("?q=NATO") == "ready"
    card = web.cards().first
    assert web.page.locator("#results img, #results script").count() == 0
    # The snippet is plain text with marks: other tags show as the characters they are, entities undecoded.
    assert card.locator(".snippet mark").all_inner_texts() == ["jets"]
    assert card.locator(".snippet").inner_text() == (
        "NATO jets <img src=x onerror=alert(1)><script>alert(2)</script> &amp; more"
    )
    assert card.locator("h3 a").count() == 0  # no link rather than a javascript: link
    assert [a.get_attribute("href") for a in card.locator(".carried a").all()] == ["https://news.example/98"]
    card.locator("h3").click()
    assert web.dialogs == []


def test_a_bad_filter_shows_the_api_error(web: Page) -> None:
    assert web.open("?q=NATO&from=yesterday") == "error"
    error = web.page.locator("#error")
    assert error.is_visible()
    assert "from must be a date" in error.inner_text()
    assert web.cards().count() == 0


def test_no_match_shows_a_message(web: Page) -> None:
    assert web.open("?q=zeppelin") == "ready"
    assert web.page.locator("#empty").is_visible()
    assert web.cards().count() == 0


def test_narrow_screen_has_no_sideways_scroll(web: Page) -> None:
    web.page.set_viewport_size({"width": 390, "height": 844})
    assert web.open("?q=NATO") == "ready"
    assert web.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    web.page.screenshot(path=str(ARTIFACTS / "web_page_narrow.png"), full_page=True)
