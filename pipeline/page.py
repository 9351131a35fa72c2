"""What a page says about itself: metadata from meta tags, JSON-LD and markup, and what kind of page it is.

Cheap xpath over the tree the extractor parses anyway, instead of a second metadata pass.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

_TITLE_SUFFIX = re.compile(r"\s+[|–—·:-]\s+[^|–—·:]{2,60}$")
_JSONLD_ARTICLE = re.compile(r"(News)?Article|BlogPosting|Report|LiveBlogPosting", re.IGNORECASE)


@dataclass(frozen=True)
class PageMetadata:
    title: str = ""
    site_name: str = ""
    authors: tuple[str, ...] = ()
    published: str | None = None
    updated: str | None = None
    canonical: str | None = None
    lang: str | None = None
    description: str = ""
    jsonld_type: str = ""


_TAG = re.compile(r"<(meta|link)\b([^>]{0,2000})>", re.IGNORECASE)
_ATTR = re.compile(r"""([\w:.-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")
_TITLE_TAG = re.compile(r"<title\b[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_H1 = re.compile(r"<h1\b[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_HTML_LANG = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z-]{2,12})", re.IGNORECASE)
_JSONLD = re.compile(r"<script\b[^>]*application/ld\+json[^>]*>(.*?)</script>", re.IGNORECASE | re.DOTALL)
_MARKUP = re.compile(r"<[^>]+>")
# Metadata sits in the head; a body's first part is enough for JSON-LD and the headline.
HEAD_CHARS = 300_000


def _text(fragment: str) -> str:
    return " ".join(html.unescape(_MARKUP.sub(" ", fragment)).split())


def _tags(head: str) -> tuple[dict[str, str], dict[str, str]]:
    """Meta values by property/name/itemprop (first wins), and link hrefs by rel."""
    metas: dict[str, str] = {}
    links: dict[str, str] = {}
    for tag, attrs_text in _TAG.findall(head):
        attrs = {k.lower(): html.unescape(v.strip("\"'")) for k, v in _ATTR.findall(attrs_text)}
        if tag.lower() == "meta":
            value = " ".join(attrs.get("content", "").split())
            for key in ("property", "name", "itemprop"):
                if key in attrs and value:
                    metas.setdefault(attrs[key].lower(), value)
        elif "rel" in attrs and "href" in attrs:
            links.setdefault(attrs["rel"].lower(), attrs["href"].strip())
    return metas, links


def _jsonld_objects(head: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for script in _JSONLD.findall(head)[:10]:
        try:
            data = json.loads(script)
        except ValueError:
            continue
        stack = data if isinstance(data, list) else [data]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if "@graph" in item and isinstance(item["@graph"], list):
                    stack.extend(item["@graph"])
                out.append(item)
            elif isinstance(item, list):
                stack.extend(item)
    return out


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return _names(value.get("name"))
    if isinstance(value, list):
        return [n for v in value for n in _names(v)]
    return []


def split_authors(text: str) -> tuple[str, ...]:
    text = re.sub(r"^\s*by\s+", "", text, flags=re.IGNORECASE)
    parts = re.split(r"\s*(?:;|,|\band\b|&|\|)\s*", text)
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip() and not p.strip().startswith("http")))


def page_metadata(page: str) -> PageMetadata:
    """Title, site, authors, dates, canonical URL and language as the (decoded) page declares them."""
    head = page[:HEAD_CHARS]
    metas, links = _tags(head)

    def first(*names: str) -> str:
        return next((metas[n.lower()] for n in names if metas.get(n.lower())), "")

    article = next((o for o in _jsonld_objects(head) if _JSONLD_ARTICLE.fullmatch(str(o.get("@type", "")))), {})
    title = first("og:title", "twitter:title") or _text(str(article.get("headline") or ""))
    if not title and (h1 := _H1.search(head)):
        title = _text(h1.group(1))
    if not title and (tag := _TITLE_TAG.search(head)):
        title = _TITLE_SUFFIX.sub("", _text(tag.group(1)))
    authors = split_authors(first("author", "article:author", "sailthru.author", "byl"))
    if not authors:
        authors = tuple(dict.fromkeys(a for a in (_text(n) for n in _names(article.get("author"))) if a))
    lang = _HTML_LANG.search(head)
    return PageMetadata(
        title=title,
        site_name=first("og:site_name", "application-name"),
        authors=authors,
        published=first("article:published_time", "datepublished", "pubdate", "publish-date", "dc.date.issued", "date")
        or (str(article.get("datePublished") or "") or None),
        updated=first("article:modified_time", "datemodified", "og:updated_time")
        or (str(article.get("dateModified") or "") or None),
        canonical=links.get("canonical") or first("og:url") or None,
        lang=lang.group(1).split("-")[0].lower() if lang else None,
        description=first("description", "og:description"),
        jsonld_type=str(article.get("@type", "")),
    )


# Phrases that mark pages which are not the article itself, even when served with status 200.
_NOT_ARTICLE = {
    "paywall": re.compile(
        r"subscribe (now )?to (continue|read|keep reading|unlock)|this (article|content|story) is (only )?"
        r"(available|reserved) (to|for) (subscribers|members)|already a subscriber|to continue reading,? "
        r"(please )?(subscribe|log ?in|sign ?in)|become a (subscriber|member) to read",
        re.IGNORECASE,
    ),
    "bot_challenge": re.compile(
        r"checking (if the site connection is secure|your browser)|verify(ing)? (that )?you are (a )?human|"
        r"enable (javascript|cookies) (and cookies )?to continue|are you a robot|captcha|ray id:|"
        r"access (to this page has been )?denied|unusual traffic from your (computer )?network",
        re.IGNORECASE,
    ),
    "consent": re.compile(
        r"(we|our partners) use cookies|cookie (settings|preferences|consent)|your privacy choices|"
        r"(accept|reject) all( cookies)?|manage (your )?consent",
        re.IGNORECASE,
    ),
    "error": re.compile(
        r"^(404|410|500|error|page not found|not found|this page (doesn.t|does not) exist|"
        r"sorry,? (the|this) page)",
        re.IGNORECASE,
    ),
}


def page_kind(title: str, paragraphs: list[str], link_text_ratio: float) -> str:
    """``article``, or why not: paywall, bot_challenge, consent, error, index."""
    text = " ".join(paragraphs)
    words = len(text.split())
    long_paragraphs = sum(1 for p in paragraphs if len(p.split()) >= 25)
    if _NOT_ARTICLE["error"].search(title.strip()) and words < 150:
        return "error"
    for kind in ("bot_challenge", "paywall", "consent"):
        matching = sum(len(p.split()) for p in paragraphs if _NOT_ARTICLE[kind].search(p))
        # A wall or a banner is most of what such a page says; an article may mention cookies in passing.
        if matching and (matching / max(words, 1) > 0.4 or words < 120):
            return kind
    if long_paragraphs == 0 and link_text_ratio > 0.5 and len(paragraphs) >= 5:
        return "index"
    return "article"


def link_text_ratio(tree: Any) -> float:
    """Share of the body's text that sits inside links: high on index and tag pages."""
    body = tree.find(".//body") if tree is not None else None
    if body is None:
        return 0.0
    total = len(" ".join(body.itertext()).split()) or 1
    linked = sum(len(" ".join(a.itertext()).split()) for a in body.iter("a"))
    return min(1.0, linked / total)
