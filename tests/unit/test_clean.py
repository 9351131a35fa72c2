"""Clean stage: the real boilerplate rules, and clean() on whole pages written for these tests."""

# ruff: noqa: E501 - sample news paragraphs and bug reasons read better unbroken

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.clean import BoilerplateRule, CleanOptions, clean, extract_article, is_boilerplate, load_rules
from pipeline.errors import DropStory
from pipeline.models import CleanStory, FeedEntry, FetchedPage

CONFIG = Path(__file__).resolve().parents[2] / "config"
RULES = load_rules(yaml.safe_load((CONFIG / "boilerplate.yaml").read_text(encoding="utf-8"))["rules"])
RULES_BY_NAME = {r.name: r for r in RULES}

# --- the rules, one by one ------------------------------------------------------------------------

# Paragraphs each rule must remove (matched as a whole paragraph, case-insensitive).
BOILERPLATE: dict[str, list[str]] = {
    "photo_credit": [
        "Photo: Fighter jets take part in an earlier exercise over Lithuania. Northern Ledger/File",
        "FILE PHOTO: A Russian Su-27 jet flies over the Baltic Sea, June 14, 2025.",
        "Image credit: Harbour Wire/Jonas Berg",
        "Illustration: Northern Ledger graphics desk",
    ],
    "photo_credit_agency": [
        "(Photo by Jonas Berg/Harbour Wire)",
        "Pictures courtesy of the Estonian Defence Forces",
        "Images by Northern Ledger photographers",
    ],
    "wire_credits": [
        "Reporting by Anna Kowalska in Vilnius; Editing by Tom Hale",
        "Additional reporting by Mark Jensen in Brussels. Writing by Sara Lind; Editing by Ed Osmond and Alison Berg",
        "Compiled by the Europe desk",
        "Graphics by Lena Moser.",
    ],
    "copyright": [
        "Copyright 2026 Northern Ledger. All rights reserved.",
        "© 2026 Harbour Wire Media Ltd",
        "(c) Northern Ledger Media Group",
        "COPYRIGHT © Harbour Wire",
    ],
    "all_rights_reserved": [
        "Northern Ledger Media Group. All rights reserved.",
        "All Rights Reserved",
        "2026 Harbour Wire Media Ltd - all rights reserved.",
    ],
    "read_more": [
        "Read more: Poland extends border controls amid migrant surge",
        "Read next: Finland keeps eastern border shut until February",
        "See also | Baltic states pledge more funding for air defence",
        "Related coverage",
        "More on this story",
    ],
    "newsletter": [
        "Sign up for our Morning Briefing newsletter to get the top stories in your inbox.",
        "Want more? Subscribe to our free Europe Today newsletter.",
        "Sign up now for the Harbour Wire security newsletter",
    ],
    "ai_disclosure": [
        "This article was produced with the help of AI tools and reviewed by an editor.",
        "Parts of this story were generated using artificial intelligence and checked by our journalists.",
        "This summary was created by AI.",
    ],
    "share_prompt": [
        "Share this article",
        "Follow us on X and Telegram for live updates",
        "Click here to watch the full press conference",
        "Share on Facebook",
    ],
    "comment_prompt": [
        "12 comments",
        "Comments",
        "Join the conversation",
        "Leave a comment below",
        "We welcome your comments on this story.",
    ],
    "trading_promo": [
        "Start trading today with zero commission.",
        "Your capital is at risk.",
        "Trade stocks, crypto and forex on one platform. Open an account in minutes.",
        "CFDs are complex instruments. Capital at risk.",
    ],
    "reprint_notice": [
        "This copy is for your personal, non-commercial use only. To order presentation-ready copies for distribution, visit our reprints page.",
        "This copy is for your personal non-commercial use only.",
    ],
}

# Ordinary news paragraphs that mention the same words in passing and must survive every rule.
NEWS: dict[str, list[str]] = {
    "photo_credit": [
        "Photos released by the Lithuanian army showed the jets landing at Siauliai air base on Friday afternoon.",
        "The picture in the east remains unclear, a senior official said: troops have moved but not crossed.",
    ],
    "photo_credit_agency": [
        "The ministry published photos by its own press service showing damage to the radar station near the border.",
        "Images by a satellite operator showed the extent of the damage to the port.",
    ],
    "wire_credits": [
        "The reporting by state media could not be independently verified, and officials in Riga declined to comment.",
        "Editing by the state censor has removed every mention of the mobilisation from the broadcast, viewers in Kazan and Samara complained this week.",
    ],
    "copyright": [
        "Lawmakers in Brussels said the copyright law would also apply to news published by state-backed outlets.",
        "The broadcaster said its footage was protected by copyright and asked websites to remove the clips.",
    ],
    "all_rights_reserved": [
        "Negotiators said all rights reserved under the 1997 founding act remained in force despite the dispute.",
    ],
    "read_more": [
        "Diplomats said they would read more into the Kremlin's silence than into its official statements.",
        "Officials said the outage was not related to the cable damage reported in the Baltic Sea last week.",
        "Related talks between the two defence ministries are expected to continue in Helsinki next month, officials said.",
    ],
    "newsletter": [
        "The ministry said it would subscribe to a European satellite service that sends new images of the border daily.",
        "In a newsletter to members, the pilots' union said its staff would not fly over the exercise area.",
    ],
    "ai_disclosure": [
        "Officials said the drones were guided by artificial intelligence, a claim independent analysts doubted.",
    ],
    "share_prompt": [
        "Shares on the Moscow exchange fell 3% after the announcement, traders said.",
        "The allies share this view, the minister said, but differ on how quickly troops should be deployed.",
        "Follow us on the ground, the commander told the convoy, as it crossed into the exclusion zone near the border.",
    ],
    "comment_prompt": [
        "Peskov declined to respond to the comments, saying only that the Kremlin had nothing to add at this stage.",
        "“We have no comments on these reports,” the Russian Defence Ministry said in a statement on Saturday.",
        "Comments by the foreign minister drew a sharp response from Warsaw on Tuesday.",
    ],
    "trading_promo": [
        "Traders in Moscow said the rouble weakened after the announcement of new sanctions on Friday.",
    ],
    "reprint_notice": [
        "The ministry said this copy of the treaty was for personal reference only and would not be published.",
    ],
}


def test_every_rule_in_the_file_has_cases() -> None:
    names = [r.name for r in RULES]
    assert len(names) == len(set(names)), "rule names must be unique"
    assert set(BOILERPLATE) == set(names)
    assert set(NEWS) == set(names)
    for name in names:
        assert len(BOILERPLATE[name]) >= 2, name
        assert len(NEWS[name]) >= 1, name


@pytest.mark.parametrize(
    ("name", "paragraph"),
    [(n, p) for n, ps in BOILERPLATE.items() for p in ps],
)
def test_rule_matches_boilerplate(name: str, paragraph: str) -> None:
    assert is_boilerplate(paragraph, [RULES_BY_NAME[name]]) == name
    assert is_boilerplate(paragraph, RULES) is not None
    # surrounding whitespace does not matter
    assert is_boilerplate(f"  {paragraph}\n", [RULES_BY_NAME[name]]) == name


@pytest.mark.parametrize(
    ("name", "paragraph"),
    [(n, p) for n, ps in NEWS.items() for p in ps],
)
def test_news_paragraph_survives(name: str, paragraph: str) -> None:
    assert is_boilerplate(paragraph, RULES) is None


def test_rules_match_whole_paragraphs_only() -> None:
    """A boilerplate phrase embedded in a longer sentence is not enough."""
    para = (
        "Asked whether NATO would respond, the spokesman said: read more into our actions than our words, "
        "adding that the alliance would meet in Brussels next week to decide."
    )
    assert is_boilerplate(para, RULES) is None


def test_first_matching_rule_wins() -> None:
    rules = (
        BoilerplateRule("a", RULES_BY_NAME["copyright"].pattern),
        BoilerplateRule("b", RULES_BY_NAME["all_rights_reserved"].pattern),
    )
    assert is_boilerplate("Copyright 2026 Northern Ledger. All rights reserved.", rules) == "a"
    assert is_boilerplate("Copyright 2026 Northern Ledger. All rights reserved.", rules[::-1]) == "b"


# --- known defects of the rules ------------------------------------------------------------------


def test_trading_promo_matches_capital_is_at_risk() -> None:
    assert is_boilerplate("Your capital is at risk.", [RULES_BY_NAME["trading_promo"]]) == "trading_promo"


def test_news_paragraph_starting_with_copyright_survives() -> None:
    para = "Copyright holders across the European Union will be able to demand payment from AI developers under the new rules."
    assert is_boilerplate(para, RULES) is None


def test_news_paragraph_about_ai_generated_video_survives() -> None:
    para = (
        "Estonian officials said the video, which was generated using AI tools, was part of a Russian "
        "disinformation campaign."
    )
    assert is_boilerplate(para, RULES) is None


def test_sanctions_paragraph_mentioning_bank_account_survives() -> None:
    para = (
        "Western sanctions have made it harder for Russian firms to open an account at European banks, "
        "officials said."
    )
    assert is_boilerplate(para, RULES) is None


# --- clean() on a whole page ---------------------------------------------------------------------

STORY_URL = "https://www.northernledger.example/world/2026/11/20/nato-baltic-drill"

ARTICLE_PARAGRAPHS = [
    "VILNIUS, Nov 20 (Northern Ledger) - NATO began a two-week air-defence exercise over the Baltic states on "
    "Friday, deploying fighter jets and ground-based missile batteries from eleven member countries, the "
    "alliance said in a statement.",
    "The drill, codenamed Amber Shield, involves about 4,000 troops and is the largest of its kind in the region "
    "this year, according to a spokesperson for the alliance's air command in Ramstein.",
    "Lithuanian Defence Minister Jonas Petraitis told reporters in Vilnius that the exercise was defensive and "
    "had been planned for more than a year, long before recent airspace violations along the border with Belarus.",
    "The Kremlin said the manoeuvres were a provocation and that Russia would take measures to ensure its "
    "security, without giving details. Russian state media reported that air units in the Kaliningrad region "
    "had been put on heightened alert.",
    "Estonian and Latvian officials said civilian flights would not be affected, although some routes over the "
    "Baltic Sea could be shifted for short periods while live-fire phases take place off the coast.",
    "Analysts said the timing sent a message ahead of a meeting of alliance defence ministers in Brussels next "
    "week, where members are expected to discuss further funding for air defence on the eastern flank.",
]

BOILERPLATE_LINES = [
    "Reporting by Anna Kowalska in Vilnius; Additional reporting by Mark Jensen in Brussels; Editing by Tom Hale",
    "Photo: Fighter jets take part in an earlier exercise over Lithuania. Northern Ledger/File",
    "Copyright 2026 Northern Ledger. All rights reserved.",
    "Read next: Poland extends border controls amid migrant surge",
    "Sign up for our Morning Briefing newsletter to get the top stories in your inbox.",
]

PAGE_CHROME = [
    "Independent news since 1921",
    "Privacy policy",
    "Harbour Street",
    "Markets slide as bond yields",
    "Most read",
]

TITLE = "NATO begins Baltic air-defence drill as Moscow warns of response"


def _page_html(
    paragraphs: list[str], *, title: str = TITLE, lang: str = "en", site: str = "Northern Ledger"
) -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    extra = "\n".join(f"<p>{p}</p>" for p in BOILERPLATE_LINES) if lang == "en" else ""
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{title} | {site}</title>
<meta property="og:site_name" content="{site}">
<meta property="og:title" content="{title}">
<meta name="author" content="Anna Kowalska">
<link rel="canonical" href="https://WWW.NorthernLedger.example/world/2026/11/20/nato-baltic-drill?utm_source=rss&amp;utm_medium=feed&amp;fbclid=IwAR9&amp;id=4471#top">
</head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li><li><a href="/business">Business</a></li>
<li><a href="/sport">Sport</a></li></ul></nav>
<header><div class="masthead">{site}</div><div class="tagline">Independent news since 1921</div></header>
<main>
<article>
<h1>{title}</h1>
<p class="byline">By Anna Kowalska</p>
{body}
{extra}
</article>
<aside><h2>Most read</h2><ul><li><a href="/a">Markets slide as bond yields climb</a></li>
<li><a href="/b">Storm closes ports on North Sea coast</a></li></ul></aside>
</main>
<footer><p>About us | Contact | Privacy policy | Terms of use</p><p>{site} Media Group, 12 Harbour Street</p></footer>
</body>
</html>
"""


def _fetched(url: str = STORY_URL, published: str | None = "2026-11-20T10:15:00+02:00") -> FetchedPage:
    entry = FeedEntry(
        story_id="a" * 32,
        url=url,
        feed_url="https://www.northernledger.example/rss/world",
        title="NATO starts Baltic drill",
        summary="NATO began a two-week exercise.",
        published=published,
    )
    return FetchedPage(
        story_id="a" * 32,
        url=url + "?utm_source=rss",
        raw_key="b" * 64,
        status=200,
        content_type="text/html; charset=utf-8",
        fetched_at="2026-11-20T08:20:00+00:00",
        entry=entry,
    )


@pytest.fixture(scope="module")
def nato_story() -> CleanStory:
    return clean(_fetched(), _page_html(ARTICLE_PARAGRAPHS), CleanOptions(rules=RULES))


def test_clean_text_is_the_article_in_order(nato_story: CleanStory) -> None:
    # The dateline becomes metadata; the rest of the first paragraph stays.
    first = ARTICLE_PARAGRAPHS[0].removeprefix("VILNIUS, Nov 20 (Northern Ledger) - ")
    assert nato_story.text == "\n\n".join([first, *ARTICLE_PARAGRAPHS[1:]])


def test_dateline_and_byline_become_metadata(nato_story: CleanStory) -> None:
    assert nato_story.dateline == "VILNIUS, Nov 20"
    assert nato_story.credit == "Northern Ledger"
    assert "By Anna Kowalska" not in nato_story.text
    assert nato_story.authors == ("Anna Kowalska",)


@pytest.mark.parametrize(
    ("paragraph", "dateline", "credit"),
    [
        ("MOSCOW (Reuters) - The Kremlin said on Monday ...", "MOSCOW", "Reuters"),
        ("BRUSSELS, Nov 20 (AFP) — NATO ministers met ...", "BRUSSELS, Nov 20", "AFP"),
        ("KALININGRAD – Russian units held drills ...", "KALININGRAD", ""),
        ("NEW YORK (AP) -- Stocks fell ...", "NEW YORK", "AP"),
    ],
)
def test_dateline_forms(paragraph: str, dateline: str, credit: str) -> None:
    body = [paragraph.replace(" ...", " " + "and officials gave more details later in the day. " * 4)]
    body += ARTICLE_PARAGRAPHS[1:]
    story = clean(_fetched(), _page_html(body), CleanOptions(rules=RULES))
    assert (story.dateline, story.credit) == (dateline, credit)
    assert not story.text.startswith(dateline)


def test_ordinary_first_paragraph_keeps_its_start() -> None:
    body = ["NATO began a two-week exercise - the largest this year - over the Baltic states on Friday, "
            "officials said, as allies sought to reassure the region."] + ARTICLE_PARAGRAPHS[1:]
    story = clean(_fetched(), _page_html(body), CleanOptions(rules=RULES))
    assert story.dateline == "" and story.text.startswith("NATO began a two-week exercise - the largest")


def test_clean_text_has_no_boilerplate_or_chrome(nato_story: CleanStory) -> None:
    for line in BOILERPLATE_LINES + PAGE_CHROME:
        assert line not in nato_story.text
    for word in (
        "Reporting by",
        "Editing by",
        "Photo:",
        "Copyright",
        "All rights reserved",
        "Read next",
        "newsletter",
        "Home",
        "Terms of use",
    ):
        assert word not in nato_story.text


def test_rules_are_what_removes_the_boilerplate() -> None:
    """Without the rules the same page keeps the credit and copyright lines: the page exercises the rules."""
    story = clean(_fetched(), _page_html(ARTICLE_PARAGRAPHS), CleanOptions(rules=()))
    assert BOILERPLATE_LINES[0] in story.text
    assert BOILERPLATE_LINES[2] in story.text


def test_clean_metadata(nato_story: CleanStory) -> None:
    assert nato_story.title == TITLE
    # the feed entry's date wins, converted to UTC
    assert nato_story.published == "2026-11-20T08:15:00+00:00"
    assert (
        nato_story.canonical_url
        == "https://www.northernledger.example/world/2026/11/20/nato-baltic-drill?id=4471"
    )
    assert nato_story.outlet == "Northern Ledger"
    assert nato_story.language == "en"
    assert nato_story.authors == ("Anna Kowalska",)
    # carried through from the fetched page
    assert nato_story.story_id == "a" * 32
    assert nato_story.url == STORY_URL + "?utm_source=rss"
    assert nato_story.feed_url == "https://www.northernledger.example/rss/world"
    assert nato_story.summary == "NATO began a two-week exercise."
    assert nato_story.raw_key == "b" * 64
    assert nato_story.fetched_at == "2026-11-20T08:20:00+00:00"


def test_clean_outlet_names_option_overrides_site_name() -> None:
    options = CleanOptions(rules=RULES, outlet_names={"www.northernledger.example": "The Northern Ledger"})
    story = clean(_fetched(), _page_html(ARTICLE_PARAGRAPHS), options)
    assert story.outlet == "The Northern Ledger"


def test_clean_bytes_input_gives_same_story(nato_story: CleanStory) -> None:
    story = clean(_fetched(), _page_html(ARTICLE_PARAGRAPHS).encode("utf-8"), CleanOptions(rules=RULES))
    assert story == nato_story


def test_clean_is_deterministic(nato_story: CleanStory) -> None:
    assert clean(_fetched(), _page_html(ARTICLE_PARAGRAPHS), CleanOptions(rules=RULES)) == nato_story


def test_too_short_page_is_dropped() -> None:
    html = _page_html(["Fighting was reported near the border.", "More to follow."], title="Border clash")
    with pytest.raises(DropStory) as info:
        clean(_fetched(), html, CleanOptions(rules=RULES))
    assert info.value.reason == "too_short"


GERMAN = [
    "BERLIN, 20. November (Northern Ledger) - Die Bundesregierung will die Zahl der in Litauen stationierten "
    "Soldaten bis zum Ende des kommenden Jahres deutlich erhöhen. Das sagte ein Sprecher des "
    "Verteidigungsministeriums am Freitag in Berlin.",
    "Die Brigade soll nach den Plänen des Ministeriums rund 4.800 Soldatinnen und Soldaten umfassen, die "
    "dauerhaft in der Nähe von Vilnius stationiert werden. Bisher sind es etwa 1.700.",
    "Der Kreml kritisierte die Entscheidung scharf. Ein Sprecher in Moskau sagte, das Bündnis rücke immer näher "
    "an die russische Grenze heran und Russland werde darauf reagieren.",
    "Die litauische Regierung begrüßte den Schritt. Man sei dankbar für die Unterstützung aus Deutschland, "
    "erklärte die Ministerpräsidentin in einer ersten Stellungnahme auf der Plattform X.",
    "Die Kosten für den Bau der Kasernen und Übungsplätze werden auf mehr als eine Milliarde Euro geschätzt. "
    "Ein Teil davon soll aus dem Sondervermögen für die Bundeswehr bezahlt werden.",
]

FRENCH = [
    "PARIS, 20 novembre (Northern Ledger) - La France va déployer des avions de chasse supplémentaires en "
    "Roumanie à partir du mois prochain, a annoncé vendredi le ministère des Armées dans un communiqué.",
    "Les appareils, quatre Rafale et un avion ravitailleur, seront basés près de Constanta, sur la côte de la "
    "mer Noire, pour une durée d'au moins six mois.",
    "Le Kremlin a dénoncé une nouvelle provocation de l'Alliance atlantique. Selon un porte-parole, la Russie "
    "prendra les mesures nécessaires pour assurer sa sécurité.",
    "A Bucarest, le gouvernement roumain a salué une décision qui renforce la défense du flanc est de l'Otan, "
    "alors que des drones sont tombés à plusieurs reprises sur son territoire.",
    "Le coût de la mission n'a pas été précisé, mais il sera pris en charge par le budget des opérations "
    "extérieures, a indiqué une source proche du dossier.",
]


@pytest.mark.parametrize(
    ("lang", "paragraphs", "title"),
    [
        ("de", GERMAN, "Deutschland verstärkt Brigade in Litauen"),
        ("fr", FRENCH, "La France envoie des Rafale en Roumanie"),
    ],
)
def test_non_english_article(lang: str, paragraphs: list[str], title: str) -> None:
    story = clean(_fetched(), _page_html(paragraphs, title=title, lang=lang), CleanOptions(rules=RULES))
    assert story.language == lang
    assert story.title == title
    assert story.text == "\n\n".join(paragraphs)


# --- pages that are not articles ---------------------------------------------------------------


def _shell(body: str, title: str = "Harbour Wire") -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><main>{body}</main></body></html>")


NOT_ARTICLES = {
    "paywall": _shell(
        "<article><h1>Kremlin weighs response to new sanctions</h1><p>Russian officials met on Monday to discuss "
        "the package of measures announced by the European Union last week.</p><div class='wall'><p>Subscribe now "
        "to continue reading. Already a subscriber? Log in to read the full story.</p></div></article>"),
    "bot_challenge": _shell(
        "<div><h1>Just a moment...</h1><p>Checking if the site connection is secure. Enable JavaScript and cookies "
        "to continue. This process is automatic and your browser will redirect shortly.</p>"
        "<p>Ray ID: 8c2f1a9b7d3e4f10</p></div>", title="Just a moment..."),
    "consent": _shell(
        "<div><h2>We value your privacy</h2><p>We and our partners use cookies to store and access information on "
        "your device to serve personalised content and measure audiences.</p><p>You can accept all cookies or "
        "manage your consent preferences at any time from the privacy settings page of this site.</p></div>"),
    "error": _shell(
        "<div><h1>Page not found</h1><p>Sorry, the page you are looking for has been moved or no longer exists on "
        "this site. Try the search box or go back to the home page to find the latest news.</p></div>",
        title="404 - Page not found"),
    "index": _shell(
        "<div><h1>Europe</h1><ul>" + "".join(
            f"<li><a href='/europe/story-{i}'>Headline number {i} about events across Europe this week</a></li>"
            for i in range(30)) + "</ul></div>", title="Europe news"),
}


@pytest.mark.parametrize("kind", sorted(NOT_ARTICLES))
def test_not_an_article_is_recorded_as_such(kind: str) -> None:
    article = extract_article(NOT_ARTICLES[kind], None, CleanOptions(rules=RULES))
    assert article.kind == kind
    with pytest.raises(DropStory) as info:
        clean(_fetched(), NOT_ARTICLES[kind], CleanOptions(rules=RULES, min_text_chars=0))
    assert info.value.reason == f"not_article:{kind}"


def test_article_mentioning_cookies_and_subscribers_is_still_an_article() -> None:
    body = ARTICLE_PARAGRAPHS + [
        "The ministry said it would not accept all cookies-style tracking on military phones, and warned that "
        "subscribers to some messaging channels had been targeted by fake recruitment offers in recent weeks."]
    article = extract_article(_page_html(body), None, CleanOptions(rules=RULES))
    assert article.kind == "article"


def test_live_blog_keeps_timestamped_updates() -> None:
    updates = [
        ("09:05 GMT", "NATO ambassadors have gathered at the alliance headquarters in Brussels for an emergency "
         "meeting requested by Poland after debris from a drone was found near the border town of Kuldre."),
        ("09:40 GMT", "Poland's foreign minister said the incursion was deliberate and that Warsaw would ask allies "
         "to consider further steps under Article 4 of the alliance's founding treaty."),
        ("10:15 GMT", "The Kremlin said it had no information about the incident and accused Warsaw of trying to "
         "escalate tensions, according to comments carried by Russian state news agencies."),
    ]
    body = "".join(f"<div class='update'><time>{t}</time><p>{t} - {text}</p></div>" for t, text in updates)
    html = _shell(f"<article><h1>Live: NATO meets after drone incursion</h1>{body}</article>")
    story = clean(_fetched(), html, CleanOptions(rules=RULES))
    for _time, text in updates:
        assert text[:60] in story.text
    assert story.text.index("09:05") < story.text.index("09:40") < story.text.index("10:15")


def test_language_confidence_recorded(nato_story: CleanStory) -> None:
    assert nato_story.language == "en" and nato_story.language_confidence > 0.5
