"""Clean stage logic: the article's main text and metadata out of its HTML."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import trafilatura
from trafilatura.utils import decode_file, load_html

from pipeline.errors import DropStory, StageError
from pipeline.fetch import canonical_url
from pipeline.language import detect_language
from pipeline.metadata import PageMetadata, page_metadata, parse_date, split_authors
from pipeline.models import CleanStory, FetchedPage
from pipeline.page import link_text_ratio, page_kind


@dataclass(frozen=True)
class BoilerplateRule:
    """A line of publisher boilerplate: a regex matched against a whole paragraph."""

    name: str
    pattern: re.Pattern[str]
    max_words: int | None = None  # longer paragraphs are never this boilerplate


@dataclass(frozen=True)
class CleanOptions:
    rules: tuple[BoilerplateRule, ...] = ()
    min_text_chars: int = 200
    outlet_names: Mapping[str, str] = field(default_factory=dict)  # host -> outlet name
    # Below this many characters the precise extraction is retried with the recall-oriented one.
    fallback_chars: int = 500
    fast: bool = True  # skip the extractor's own fallback algorithms on the first pass


def load_rules(spec: Iterable[Mapping[str, Any]]) -> tuple[BoilerplateRule, ...]:
    """Compile boilerplate rules from config data (``name`` and ``pattern`` per rule)."""
    return tuple(
        BoilerplateRule(
            str(r["name"]),
            re.compile(str(r["pattern"]), re.IGNORECASE),
            int(r["max_words"]) if r.get("max_words") else None,
        )
        for r in spec
    )


def is_boilerplate(paragraph: str, rules: Iterable[BoilerplateRule]) -> str | None:
    """The name of the first rule the paragraph matches as a whole, or None."""
    text = paragraph.strip()
    words = len(text.split())
    for rule in rules:
        if rule.max_words is not None and words > rule.max_words:
            continue
        if rule.pattern.fullmatch(text):
            return rule.name
    return None


# "VILNIUS (Reuters) - ", "BRUSSELS, Nov 20 (AFP) — ": wire datelines open the first paragraph.
_DATELINE = re.compile(
    r"^(?P<place>[A-Z][A-Z.'’ -]{1,40}?(?:, [A-Z][A-Za-z.]{1,12})?(?:,? [A-Z][a-z]{2,8}\.? \d{1,2})?)"
    r"\s*(?:\((?P<credit>[A-Za-z][\w .&/-]{1,40})\))?\s*[-–—]{1,2}\s+(?=\S)"
)
_BYLINE = re.compile(
    r"^by\s+(?P<names>[A-Z][\w.'’-]+(?:[ ,]+(?:and\s+)?[A-Z][\w.'’-]+){0,7})"
    r"(?:\s*[,|]\s*[\w .]{0,40})?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Article:
    """What the extraction found in a page, before the story is assembled."""

    paragraphs: tuple[str, ...]
    meta: PageMetadata
    kind: str  # article, or why not (paywall, bot_challenge, consent, error, index, no_text)
    dateline: str = ""
    credit: str = ""
    bylines: tuple[str, ...] = ()
    credit_lines: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


CREDIT_RULES = frozenset({"wire_credits", "copyright", "all_rights_reserved"})


def _paragraphs(
    text: str, headlines: tuple[str, ...], rules: tuple[BoilerplateRule, ...]
) -> tuple[list[str], list[str], list[str]]:
    """Paragraphs without boilerplate, the bylines found among them, and the credit lines taken out."""
    kept: list[str] = []
    bylines: list[str] = []
    credits: list[str] = []
    folded_titles = {" ".join(h.split()).casefold() for h in headlines}
    for line in text.split("\n"):
        para = " ".join(line.split())
        if not para:
            continue
        # The extractor often repeats the headline as the first line of the body.
        if not kept and para.casefold() in folded_titles:
            continue
        if len(para) < 80 and (m := _BYLINE.match(para)):
            bylines.append(m.group("names"))
            continue
        if rule := is_boilerplate(para, rules):
            if rule in CREDIT_RULES:
                credits.append(para)
            continue
        kept.append(para)
    return kept, bylines, credits


def _run_extractor(page: Any, url: str | None, precise: bool, fast: bool = False) -> str:
    # ``page`` is the parsed tree when there is one: the extractor copies it instead of parsing again.
    doc = trafilatura.bare_extraction(
        page,
        url=url,
        with_metadata=False,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        deduplicate=False,
        favor_precision=precise,
        favor_recall=not precise,
        fast=fast,
    )
    if doc is None:
        return ""
    text = doc.get("text") if isinstance(doc, dict) else doc.text
    return str(text or "")


_OFF_STORY = re.compile(r"comment|footer|sidebar|related|newsletter|promo|teaser", re.IGNORECASE)
MAX_PARAGRAPH_NODES = 3_000


def _long_paragraphs(tree: Any) -> list[str]:
    """The page's long <p> paragraphs (25+ words) outside comments, footers and asides: what a story is made of."""
    out: list[str] = []
    for i, node in enumerate(tree.iter("p")):
        if i >= MAX_PARAGRAPH_NODES:
            break
        text = " ".join(node.text_content().split())
        if len(text.split()) < 25:
            continue
        if any(a.tag in ("aside", "nav", "footer") or _OFF_STORY.search(f"{a.get('class', '')} {a.get('id', '')}")
               for a in node.iterancestors()):
            continue
        out.append(text)
    return out


def _covered(paragraphs: list[str], story: list[str]) -> int:
    """Characters of the page's long paragraphs that made it into the extraction."""
    joined = " ".join(" ".join(paragraphs).split())
    return sum(len(p) for p in story if p[:80] in joined)


def _with_live_posts(paragraphs: list[str], posts: tuple[str, ...]) -> list[str]:
    """A live blog keeps its posts: each update the extraction missed is added after what it kept."""
    joined = " ".join(" ".join(paragraphs).split())
    missing = [p for p in posts if p[:80] not in joined]
    return paragraphs + missing


def extract_article(html: bytes | str, url: str | None, options: CleanOptions) -> Article:
    """Main text paragraphs, metadata and page kind of one HTML page (the URL is only a hint)."""
    # Decode once: the metadata scan and the extractor both read the same string.
    page = decode_file(html) if isinstance(html, bytes) else html
    tree = load_html(page)
    meta = page_metadata(tree, url) if tree is not None else PageMetadata()
    # Cheapest pass first. Precision mode sometimes keeps only a fragment (an intro, a teaser, the first
    # post of a live blog): the extractor's fallback algorithms, then its recall mode, get a turn when the
    # page's own long paragraphs are not all in what was kept. A later pass wins only by covering more
    # of them, so a recall pass never brings its extra furniture in for nothing.
    story = _long_paragraphs(tree) if tree is not None else []
    total = sum(map(len, story))
    passes = [(True, options.fast), (True, False), (False, False)] if options.fast else [(True, False), (False, False)]
    best: tuple[list[str], list[str], list[str]] = ([], [], [])
    best_covered = 0
    for precise, fast in passes:
        source = tree if tree is not None else page
        found = _paragraphs(_run_extractor(source, url, precise=precise, fast=fast), meta.headlines, options.rules)
        covered = _covered(found[0], story)
        chars, best_chars = sum(map(len, found[0])), sum(map(len, best[0]))
        gain = covered - best_covered
        # Beyond this much growth the extra text is more likely a list of other stories than a lost block;
        # a live blog is the exception: its posts are the story.
        growth_ok = chars <= 2.5 * best_chars or bool(meta.live_posts) or "liveblog" in meta.jsonld_type.casefold()
        # What the later pass adds must read like story (long paragraphs), not furniture (short link lines).
        had = set(best[0])
        extra = [p for p in found[0] if p not in had]
        extra_chars = sum(map(len, extra)) or 1
        growth_ok = growth_ok and sum(len(p) for p in extra if len(p.split()) >= 25) / extra_chars >= 0.6
        if (not best[0] and found[0]) or (gain > max(200, 0.1 * total) and growth_ok) or (
            best_chars < options.fallback_chars and chars > best_chars and gain >= 0
        ):
            best, best_covered = found, covered
        enough = best_covered >= 0.85 * total if total else True
        if enough and sum(map(len, best[0])) >= options.fallback_chars and len(best[0]) >= 2:
            break
    if meta.live_posts:
        best = (_with_live_posts(best[0], meta.live_posts), best[1], best[2])
    paragraphs, bylines, credit_lines = best
    dateline = credit = ""
    # The dateline opens the wire copy, which may sit below an outlet's own intro.
    for i, para in enumerate(paragraphs[:3]):
        if m := _DATELINE.match(para):
            dateline, credit = m.group("place").strip(), (m.group("credit") or "").strip()
            paragraphs[i] = para[m.end() :]
            break
    if not paragraphs:
        return Article((), meta, "no_text")
    long_paragraphs = any(len(p.split()) >= 25 for p in paragraphs)
    ratio = 0.0 if long_paragraphs else link_text_ratio(tree)
    kind = page_kind(meta.title, paragraphs, ratio)
    return Article(tuple(paragraphs), meta, kind, dateline, credit, tuple(bylines), tuple(credit_lines))


def _iso_utc(value: str | None) -> str | None:
    if not value:
        return None
    parsed = parse_date(value)
    if parsed is None:
        try:
            parsed = parsedate_to_datetime(value)  # RFC 2822, as feeds write dates
        except (TypeError, ValueError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="seconds")


def _pick_title(meta: PageMetadata, feed_title: str) -> tuple[str, str]:
    """The page's headline, the feed's when the page has none; and where it came from."""
    feed = " ".join(feed_title.split())
    if meta.title and feed and _fold(meta.title) == _fold(feed):
        return meta.title, "both"
    if meta.title:
        return meta.title, f"page:{meta.sources.get('title', '')}".rstrip(":")
    return feed, "feed" if feed else ""


def _pick_published(meta: PageMetadata, feed_published: str | None) -> tuple[str | None, str]:
    """Publication time in UTC: the page's structured date, the feed's when the page has none or only a
    guessed one (htmldate read it from the text), "both" when they agree to the day."""
    page_value, feed_value = _iso_utc(meta.published), _iso_utc(feed_published)
    if page_value and feed_value and page_value[:10] == feed_value[:10]:
        # Same day: the feed's stamp has a zone; the page's may not.
        return (feed_value if _has_zone(feed_published) and not _has_zone(meta.published) else page_value), "both"
    if feed_value and (not page_value or meta.sources.get("published") == "htmldate"):
        return feed_value, "feed"
    if page_value:
        return page_value, f"page:{meta.sources.get('published', '')}".rstrip(":")
    return None, ""


def _has_zone(value: str | None) -> bool:
    return bool(value) and bool(re.search(r"(Z|[+-]\d{2}:?\d{2})$", str(value).strip()))


def _fold(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def _outlet(meta: PageMetadata, url: str, options: CleanOptions) -> str:
    host = (urlsplit(url).hostname or "").lower()
    if host in options.outlet_names:
        return options.outlet_names[host]
    return meta.site_name or host.removeprefix("www.")


def clean(page: FetchedPage, html: bytes | str, options: CleanOptions) -> CleanStory:
    """Extract main text, title, authors, dates, canonical URL, outlet and language."""
    article = extract_article(html, page.url, options)
    if article.kind != "article":
        raise DropStory(
            f"not_article:{article.kind}" if article.kind != "no_text" else "no_text",
            f"the page is not an article ({article.kind})",
        )
    meta = article.meta
    text = article.text
    if len(text) < options.min_text_chars:
        raise DropStory("too_short", f"main text has {len(text)} characters")
    try:
        canonical = canonical_url(meta.canonical or page.url, base=page.url)
    except StageError:
        canonical = page.url
    if urlsplit(canonical).path in ("", "/") and urlsplit(page.url).path not in ("", "/"):
        # A CMS that declares its home page as every article's canonical URL would fold all its stories
        # into one: an article's canonical URL is never the site's root.
        canonical = page.url
    authors = meta.authors or tuple(a for b in article.bylines for a in split_authors(b))
    sources = dict(meta.sources)
    if authors and not meta.authors:
        sources["authors"] = "byline"
    title, sources["title"] = _pick_title(meta, page.entry.title)
    published, sources["published"] = _pick_published(meta, page.entry.published)
    language, confidence = detect_language(text)
    return CleanStory(
        story_id=page.story_id,
        url=page.url,
        canonical_url=canonical,
        feed_url=page.entry.feed_url,
        outlet=_outlet(meta, page.url, options),
        title=title,
        text=text,
        summary=page.entry.summary or meta.description,
        authors=authors,
        published=published,
        updated=_iso_utc(meta.updated),
        sources={k: v for k, v in sources.items() if v},
        language=language,
        language_confidence=confidence,
        dateline=article.dateline,
        credit=article.credit,
        credit_lines=article.credit_lines,
        fetched_at=page.fetched_at,
        raw_key=page.raw_key,
    )


def _metadata_completeness(story: CleanStory) -> int:
    fields = (story.title, story.authors, story.published, story.updated, story.summary)
    # A value the page itself states (or the page and the feed agree on) beats one only the feed gave.
    from_page = sum(1 for v in story.sources.values() if v.startswith("page") or v == "both")
    return sum(1 for f in fields if f) + from_page


def better_copy(story: CleanStory, other: CleanStory) -> bool:
    """Whether ``story`` is a better copy than ``other`` of one article (same canonical URL).

    More complete metadata first; then less boilerplate: short paragraphs only one of the two carries
    (a publisher tail inline, a promotion) count against it. Ties go to the smaller story id, so the
    choice is the same whatever order the copies arrive in.
    """
    mine, theirs = set(story.text.split("\n\n")), set(other.text.split("\n\n"))

    def extra(paragraphs: set[str]) -> int:
        return sum(len(p) for p in paragraphs if len(p.split()) <= 60)

    key = (_metadata_completeness(story), -extra(mine - theirs))
    other_key = (_metadata_completeness(other), -extra(theirs - mine))
    return key > other_key or (key == other_key and story.story_id < other.story_id)
