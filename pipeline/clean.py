"""Clean stage logic: the article's main text and metadata out of its HTML."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import trafilatura

from pipeline.errors import DropStory
from pipeline.fetch import canonical_url
from pipeline.language import detect_language
from pipeline.models import CleanStory, FetchedPage


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


def _paragraphs(text: str, title: str, rules: tuple[BoilerplateRule, ...]) -> list[str]:
    kept: list[str] = []
    for line in text.split("\n"):
        para = " ".join(line.split())
        if not para:
            continue
        # The extractor often repeats the headline as the first line of the body.
        if not kept and title and para.casefold() == title.casefold():
            continue
        if is_boilerplate(para, rules):
            continue
        kept.append(para)
    return kept


def _iso_utc(value: str | None) -> str | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="seconds")


def _outlet(meta: Mapping[str, Any], url: str, options: CleanOptions) -> str:
    host = (urlsplit(url).hostname or "").lower()
    if host in options.outlet_names:
        return options.outlet_names[host]
    site = str(meta.get("sitename") or "").strip()
    if site:
        return site
    return host.removeprefix("www.")


def clean(page: FetchedPage, html: bytes | str, options: CleanOptions) -> CleanStory:
    """Extract main text, title, authors, dates, canonical URL, outlet and language."""
    doc = trafilatura.bare_extraction(
        html,
        url=page.url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        deduplicate=False,
    )
    if doc is None:
        raise DropStory("no_text", "the extractor found no main text")
    meta: dict[str, Any] = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    title = " ".join(str(meta.get("title") or page.entry.title or "").split())
    paragraphs = _paragraphs(str(meta.get("text") or ""), title, options.rules)
    text = "\n\n".join(paragraphs)
    if len(text) < options.min_text_chars:
        raise DropStory("too_short", f"main text has {len(text)} characters")
    try:
        canonical = canonical_url(str(meta.get("url") or page.url), base=page.url)
    except Exception:
        canonical = page.url
    authors = tuple(a.strip() for a in re.split(r";|\band\b|,", str(meta.get("author") or "")) if a.strip())
    # Feed dates are given by the publisher; the extractor's date can be a guess.
    published = _iso_utc(page.entry.published) or _iso_utc(meta.get("date"))
    language, _confidence = detect_language(text)
    return CleanStory(
        story_id=page.story_id,
        url=page.url,
        canonical_url=canonical,
        feed_url=page.entry.feed_url,
        outlet=_outlet(meta, page.url, options),
        title=title,
        text=text,
        summary=page.entry.summary,
        authors=authors,
        published=published,
        language=language,
        fetched_at=page.fetched_at,
        raw_key=page.raw_key,
    )
