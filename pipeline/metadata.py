"""What a page says about itself: title, authors, dates, site, canonical URL and language.

Built on maintained libraries: trafilatura reads the meta tags, JSON-LD and bylines, htmldate finds the
publication date. Own rules only where they measurably do better (``python -m bench.clean_meta``): every
schema.org article type, the headline without the site's name around it, authors split into people and
never the outlet, dates with their zone from the page's structured data.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from htmldate import find_date
from lxml.html import HtmlElement  # type: ignore[import-untyped]
from trafilatura.metadata import examine_meta, extract_author, extract_meta_json
from trafilatura.utils import load_html

# schema.org's CreativeWork types that are a story (Article and all its descendants, plus postings).
ARTICLE_TYPES = frozenset(
    t.casefold()
    for t in (
        "Article AdvertiserContentArticle NewsArticle AnalysisNewsArticle AskPublicNewsArticle "
        "BackgroundNewsArticle OpinionNewsArticle ReportageNewsArticle ReviewNewsArticle Report "
        "SatiricalArticle ScholarlyArticle MedicalScholarlyArticle SocialMediaPosting BlogPosting "
        "LiveBlogPosting DiscussionForumPosting TechArticle APIReference Review CriticReview "
        "UserReview EmployerReview"
    ).split()
)
ORGANIZATION_TYPES = frozenset(
    t.casefold()
    for t in "Organization NewsMediaOrganization Corporation WebSite WebPage Brand OnlineBusiness".split()
)
# Bounded work on hostile pages: how many JSON-LD blocks are read, and how large one may be.
MAX_JSONLD_SCRIPTS = 50
MAX_JSONLD_CHARS = 1_000_000


@dataclass(frozen=True)
class PageMetadata:
    title: str = ""
    site_name: str = ""
    authors: tuple[str, ...] = ()
    published: str | None = None  # ISO 8601 as the page gives it: with its zone when it has one
    updated: str | None = None
    canonical: str | None = None
    lang: str | None = None
    description: str = ""
    jsonld_type: str = ""
    # field -> where the value was found (jsonld, meta, h1, title_tag, byline, htmldate, ...)
    sources: dict[str, str] = field(default_factory=dict)
    headlines: tuple[str, ...] = ()  # every headline the page shows or declares (h1s, og:title, JSON-LD)
    live_posts: tuple[str, ...] = ()  # a live blog's updates as its JSON-LD gives them, oldest first


# --- JSON-LD ---------------------------------------------------------------------------------


def _jsonld_objects(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    """Every JSON object in the page's JSON-LD blocks, @graph and nested lists flattened."""
    scripts = tree.xpath('//script[contains(translate(@type, "LDJSON", "ldjson"), "ld+json")]')
    for script in scripts[:MAX_JSONLD_SCRIPTS]:
        text = (script.text or "").strip()
        if not text or len(text) > MAX_JSONLD_CHARS:
            continue
        try:
            data = json.loads(text, strict=False)
        except ValueError:
            # CMS templates leave trailing commas and HTML comments around the object.
            try:
                data = json.loads(re.sub(r",\s*([}\]])", r"\1", text.strip("<!->/ \n\t")), strict=False)
            except ValueError:
                continue
        stack: list[Any] = [data]
        seen = 0
        while stack and seen < 10_000:
            seen += 1
            item = stack.pop(0)
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                yield item
                for key in ("@graph", "mainEntity", "mainEntityOfPage", "itemListElement"):
                    if isinstance(item.get(key), (list, dict)):
                        stack.append(item[key])


def _types(obj: dict[str, Any]) -> set[str]:
    value = obj.get("@type")
    values = value if isinstance(value, list) else [value]
    return {str(v).rsplit("/", 1)[-1].casefold() for v in values if v}


def _article_object(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The story's own JSON-LD object: the first of an article type that has a headline (or any)."""
    articles = [o for o in objects if _types(o) & ARTICLE_TYPES]
    return next((o for o in articles if o.get("headline") or o.get("name")), articles[0] if articles else {})


def _people(value: Any, orgs: set[str], by_id: dict[str, dict[str, Any]]) -> list[str]:
    """Author names of a JSON-LD ``author``: people only (organisations are the outlet, not a byline)."""
    out: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            if set(item) <= {"@id", "@type"} and str(item.get("@id")) in by_id:
                item = by_id[str(item["@id"])]  # a reference into the @graph
            types = _types(item)
            if types & ORGANIZATION_TYPES and "person" not in types:
                orgs.add(str(item.get("name") or ""))
                continue
            name = item.get("name")
            if isinstance(name, list):
                name = " ".join(str(n) for n in name)
            if not name and (item.get("givenName") or item.get("familyName")):
                name = f"{item.get('givenName', '')} {item.get('familyName', '')}"
            if name:
                out.append(str(name))
    return out


# --- dates -----------------------------------------------------------------------------------

_EPOCH = re.compile(r"^\d{10}(\d{3})?$")


def parse_date(value: Any) -> datetime | None:
    """A date as pages write it: ISO 8601 (zone kept when given), epoch seconds or milliseconds."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if _EPOCH.match(text):
        number = int(text)
        seconds = number / 1000 if len(text) == 13 else number
        return datetime.fromtimestamp(seconds, tz=UTC)
    text = re.sub(r"(\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?)\s*(?:GMT|UTC)$", r"\1+00:00", text)
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)  # +0100 -> +01:00
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1) if "T" not in text else
                                      text.replace("Z", "+00:00"))
    except ValueError:
        pass
    m = re.match(r"^(\d{4})-(\d{2})-(\d{2})", text)
    if m:
        try:
            return datetime(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    return None


def iso(value: datetime) -> str:
    """ISO 8601 with the zone the page gave (none when it gave none)."""
    return value.isoformat(timespec="seconds")


def plausible(value: datetime | None, now: datetime | None = None) -> bool:
    if value is None:
        return False
    naive = value.replace(tzinfo=None) if value.tzinfo else value
    limit = (now or datetime.now(UTC)).replace(tzinfo=None) + timedelta(days=2)
    return datetime(1995, 1, 1) <= naive <= limit


def _htmldate(tree: HtmlElement, url: str | None) -> str | None:
    """htmldate's publication day, or None: on hostile markup it can fail inside lxml (a tree whose root
    has no parent to drop it from), and a missing date is the honest answer then."""
    try:
        found = find_date(tree, url=url, original_date=True, extensive_search=True)
    except (AssertionError, ValueError, TypeError, AttributeError, IndexError):
        return None
    return str(found) if found else None


def _near_utc_midnight(value: datetime) -> bool:
    offset = value.utcoffset()
    return (offset is None or offset == timedelta(0)) and (value.hour < 8 or value.hour >= 20)


# Meta names that carry the publication date, most specific first.
_PUBLISHED_META = (
    "article:published_time", "og:article:published_time", "article:published", "datepublished",
    "parsely-pub-date", "sailthru.date", "dc.date.issued", "dcterms.issued", "dc.date.created",
    "dcterms.created", "citation_publication_date", "citation_date", "publish-date", "publish_date",
    "pubdate", "publishdate", "published_time", "date_published", "article.published", "dc.date",
    "dcterms.date", "date", "release_date", "originalpublicationdate", "og:pubdate",
)
_UPDATED_META = ("article:modified_time", "og:updated_time", "datemodified", "dc.date.modified", "dcterms.modified",
                 "last-modified", "lastmod")


def _meta_values(tree: HtmlElement) -> dict[str, str]:
    """Meta values by property/name/itemprop/http-equiv (lower-cased key, first wins), head and body."""
    out: dict[str, str] = {}
    for elem in tree.iter("meta"):
        value = " ".join((elem.get("content") or elem.get("value") or "").split())
        if not value:
            continue
        for attr in ("property", "name", "itemprop", "http-equiv"):
            key = (elem.get(attr) or "").strip().lower()
            if key:
                out.setdefault(key, value)
    return out


# --- title -----------------------------------------------------------------------------------

_SEPARATORS = TITLE_SEPARATORS = "|–—·•:»«-"
# Where a title splits into headline and the site's parts ("Headline | Site", "Site - Headline").
_SPLIT = TITLE_SPLIT = re.compile(r"\s+[|–—·•»«:-]{1,2}\s+|\s+[|–—·•»«]\s*|\s*[|–—·•»«]\s+")


def _fold(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def _same_name(part: str, names: list[str]) -> bool:
    folded = _fold(part)
    return bool(folded) and any(folded == _fold(n) for n in names)


def _site_like(part: str, site_names: list[str]) -> bool:
    folded = _fold(part)
    if not folded:
        return True
    for name in site_names:
        other = _fold(name)
        if other and (folded == other or (len(other) >= 4 and (other in folded or folded in other))):
            return True
    return False


def strip_site_name(title: str, site_names: list[str]) -> str:
    """The headline without the site's name before or after it ("Headline | Site", "Site - Headline")."""
    title = " ".join(title.split())
    for _ in range(3):
        parts = _SPLIT.split(title)
        if len(parts) < 2:
            break
        if _site_like(parts[-1], site_names):
            title = title[: title.rfind(parts[-1])].rstrip().rstrip(_SEPARATORS).rstrip()
        elif _site_like(parts[0], site_names):
            title = title[len(parts[0]) :].lstrip().lstrip(_SEPARATORS).lstrip()
        else:
            break
    return title


def _text(elem: HtmlElement) -> str:
    return " ".join(elem.text_content().split())


def _host_names(url: str | None) -> list[str]:
    host = (urlsplit(url or "").hostname or "").lower().removeprefix("www.")
    if not host:
        return []
    label = host.split(".")[-2] if host.count(".") >= 1 else host
    return [host, label]


# --- authors ---------------------------------------------------------------------------------

_AUTHOR_SPLIT = re.compile(r"\s*(?:;|,|&|\||/|\band\b|\bund\b|\bet\b|\by\b)\s*", re.IGNORECASE)
_BY = re.compile(
    r"^\s*(?:(?:written|words|reported|posted|text|story|interview|artikel|article)\s+)?"
    r"(?:by|von|par|por|di|door|autor|author|auteur|text|interview)\s*:?\s+",
    re.IGNORECASE,
)
_URLISH = re.compile(r"https?://|www\.|^/|\S@\S|^\S+\.[a-z]{2,12}(?:/\S*)?$", re.IGNORECASE)
# Words CMS templates put where a byline goes.
_NOT_A_NAME = re.compile(
    r"^(posted|follow|name|name \*|name \(\w+\)|no author|author|admin(istrator)?|wordpressadmin|unknown|"
    r"anonymous|guest|ph\.?d\.?|m\.?d\.?|mba|msc|b\.?sc|publiziert am|"
    r"view all posts.*|more from.*|share|text|by|none|null|undefined)$",
    re.IGNORECASE,
)


def split_authors(text: str) -> tuple[str, ...]:
    """People named in a byline string: "By A, B and C" -> (A, B, C)."""
    text = _BY.sub("", " ".join(re.sub(r"(?<!\S)@\w+", "", html.unescape(text)).split()))
    # A final full stop belongs to the name ("Perry Bacon Jr.", "Joe S."); other punctuation does not.
    parts = (_BY.sub("", p).strip(" :-–—") for p in _AUTHOR_SPLIT.split(text))
    return tuple(dict.fromkeys(p for p in parts if p))


def clean_authors(names: list[str], outlet_names: list[str]) -> tuple[str, ...]:
    """Split bylines into people, drop URLs, the outlet's own name, sections and agency credits."""
    out: list[str] = []
    for raw in names:
        if _URLISH.search(raw):
            continue
        for name in split_authors(raw):
            if _NOT_A_NAME.match(name) or _same_name(name, outlet_names) or len(name) > 60:
                continue
            if not any(c.isalpha() for c in name) or len(name.split()) > 6:
                continue
            out.append(name)
    return tuple(dict.fromkeys(out))


_BYLINE_CLASS = re.compile(r"\b(by-?line|author|auteur|autor|verfasser|writer)s?\b", re.IGNORECASE)
_BYLINE_TEXT = re.compile(r"^(?:by|von|par|por|door|di)\s+\S.{1,60}$", re.IGNORECASE)
MAX_BYLINE_NODES = 5_000


# "with-sidebar", "has-sidebar" and "no-sidebar" describe a layout, not a place off the story.
_OFF_STORY = re.compile(r"comment|respon|reply|(?<!with-)(?<!has-)(?<!no-)sidebar|related|footer", re.IGNORECASE)


def _in_comments(node: HtmlElement) -> bool:
    """Inside comments, a sidebar or the footer: a name there is not the story's byline."""
    return any(_OFF_STORY.search(f"{a.get('class', '')} {a.get('id', '')}") for a in (node, *node.iterancestors()))


def _markup_bylines(tree: HtmlElement) -> list[str]:
    """The first byline written into the page: rel=author links, an author/byline class, a "By ..." line."""
    linked = [n for n in tree.xpath("//body//*[@rel='author' or @itemprop='author']")[:20] if not _in_comments(n)]
    texts = list(dict.fromkeys(t for t in (_text(n) for n in linked) if 0 < len(t) <= 60))
    if 0 < len(texts) <= 4:  # more: a list of authors' pages or categories, not a byline
        return texts
    for i, node in enumerate(tree.iter("span", "a", "p", "div", "address", "strong")):
        if i > MAX_BYLINE_NODES:
            break
        cls = f"{node.get('class', '')} {node.get('id', '')}"
        text = ""
        if _BYLINE_CLASS.search(cls) and not re.search(r"bio|image|avatar|photo|img|box|list|comment", cls, re.I):
            text = _text(node)
        elif node.tag in ("p", "span", "div", "strong") and len(node) <= 2:
            text = _text(node) if _BYLINE_TEXT.match(_text(node)) else ""
        if 0 < len(text) <= 60 and not any(c.isdigit() or c in ":?!" for c in text) and not _in_comments(node):
            return [text]
    return []


# A link to the author's own page ("/author/jane-doe", "/autoren/max-muster", "/profile/..."), the way
# most CMSs link a byline; and a byline written as a label ("Author: Jane Doe", "Redaktion: Max Muster").
_AUTHOR_HREF = re.compile(
    r"/(?:authors?|autor(?:en|in)?|auteurs?|autores?|journalists?|people|profiles?|profil|staff|"
    r"contributors?|reporters?|writers?|columnists?|by)/[^/?#]+/?(?:[?#]|$)",
    re.IGNORECASE,
)
_LEAD_IN = re.compile(r"^.*?\b(?:posts by|articles by|stories by|mehr von|alles von|beiträge von|more by)\s+",
                      re.IGNORECASE)
_LABEL = re.compile(
    r"^[-–—\s]*(?:author|authors|autor|autorin|autoren|redaktion|text|reporter|written by|verfasst von|"
    r"auteur|autore|autora)\s*:\s*(\S.{1,60}?)\s*(?:\([^)]*\))?\s*$",
    re.IGNORECASE,
)
_NAME_WORD = re.compile(r"^(?:[A-ZÀ-ÖØ-ÞŁŚŻŹĆŃ][\w'’.-]*|von|van|der|den|de|da|di|du|la|le|del|bin|al|ter|zu)$")


_WRITTEN_BY = re.compile(r"^(?:written by|author|verfasst von|geschrieben von|autor(?:in)?|escrito por|écrit par|"
                         r"scritto da|door|auteur)$", re.IGNORECASE)
# "Posted on 21 September 2020 by Jane Doe", "Ein Artikel von Max Muster | 27.01.2022": the name after "by".
_BY_NAME = re.compile(r"(?:^|\s)(?:by|von|par|por)\s+(\S[^|•·,;()\d]{1,40}?)\s*(?:$|[|•·,;(]|\s(?:am|on|le|el)\s)",
                      re.IGNORECASE)


def _labelled_meta_author(metas: dict[str, str]) -> list[str]:
    """twitter:label1 "Written by" with twitter:data1 the name, as WordPress SEO plugins write it."""
    return [metas[f"twitter:data{i}"] for i in range(1, 5)
            if _WRITTEN_BY.match(metas.get(f"twitter:label{i}", "")) and metas.get(f"twitter:data{i}")]


def _looks_like_a_name(text: str) -> bool:
    words = text.split()
    return (2 <= len(words) <= 4 and not any(c.isdigit() for c in text)
            and all(_NAME_WORD.match(w) for w in words) and words[0][0].isupper())


def _author_links(tree: HtmlElement) -> list[str]:
    """Names in links to authors' own pages, outside comments and sidebars; a long list is a staff page."""
    names: list[str] = []
    for i, node in enumerate(tree.iter("a")):
        if i > MAX_BYLINE_NODES:
            break
        href = node.get("href") or ""
        if not _AUTHOR_HREF.search(href):
            continue
        text = _LEAD_IN.sub("", _text(node)).strip(" ,;:")
        if _looks_like_a_name(text) and not _in_comments(node) and text not in names:
            names.append(text)
    return names if len(names) <= 3 else []


def _labelled_byline(tree: HtmlElement) -> list[str]:
    """A byline written as "Author: Jane Doe" in a short element of its own."""
    for i, node in enumerate(tree.iter("span", "p", "div", "li", "small", "em")):
        if i > MAX_BYLINE_NODES:
            break
        if len(node) > 3 or any(len(child) for child in node):  # a byline is a shallow element
            continue
        text = _text(node)
        if len(text) > 120:
            continue
        found = _LABEL.match(text)
        if found and not _in_comments(node):
            return [found.group(1)]
        by = _BY_NAME.search(text)
        if by and _looks_like_a_name(by.group(1)) and not _in_comments(node):
            return [by.group(1)]
    # The label in an element of its own, the name after it: <h4>Author</h4><p>Jane Doe</p>, <b>Von:</b> Max.
    for i, node in enumerate(tree.iter("h3", "h4", "h5", "h6", "dt", "b", "strong", "label", "span")):
        if i > MAX_BYLINE_NODES:
            break
        label = (node.text or "").strip().rstrip(":").strip()
        if len(node) or not (_WRITTEN_BY.match(label) or label.casefold() in ("von", "by")):
            continue
        following = node.getnext()
        after = " ".join((node.tail or "").split()) or (_text(following) if following is not None else "")
        after = after.strip(" ,;")
        if _looks_like_a_name(after) and not _in_comments(node):
            return [after]
    return []


# --- the whole page --------------------------------------------------------------------------


def page_metadata(page: str | HtmlElement, url: str | None = None) -> PageMetadata:
    """Title, site, authors, dates, canonical URL and language as the page declares them."""
    tree = load_html(page) if isinstance(page, str) else page
    if tree is None:
        return PageMetadata()
    sources: dict[str, str] = {}
    metas = _meta_values(tree)
    objects = list(_jsonld_objects(tree))
    article = _article_object(objects)
    orgs: set[str] = set()
    publisher = article.get("publisher")
    if isinstance(publisher, dict) and publisher.get("name"):
        orgs.add(str(publisher["name"]))
    for obj in objects:
        types = _types(obj)
        if types & ORGANIZATION_TYPES and "person" not in types and isinstance(obj.get("name"), str):
            orgs.add(obj["name"])

    read: list[Any] = []

    def library() -> Any:
        """trafilatura's reading of the meta tags and JSON-LD, only when the page's own tags fall short."""
        if not read:
            try:
                read.append(extract_meta_json(tree, examine_meta(tree)))
            except Exception:  # noqa: BLE001 - its JSON-LD reader has known crash paths; its meta tags still count
                read.append(examine_meta(tree))
        return read[0]

    site_name = metas.get("og:site_name") or str(library().sitename or "")
    declared = [n for n in [site_name, *orgs, metas.get("application-name", "")] if n]
    site_names = declared + _host_names(url)

    # Title: the page's own headline; the og/JSON-LD one is often an SEO headline or carries the site.
    h1s = [t for t in (_text(h) for h in tree.iter("h1")) if t]
    candidates = [
        ("jsonld", str(article.get("headline") or "")),
        ("meta", metas.get("og:title", "")),
        ("meta", metas.get("twitter:title", "")),
    ]
    if not any(v for _s, v in candidates):
        candidates.append(("meta", str(library().title or "")))
    title_tag = tree.find(".//title")
    tag_title = _text(title_tag) if title_tag is not None else ""
    title, title_source = "", ""
    for source, value in candidates:
        value = strip_site_name(html.unescape(value), site_names)
        if value:
            title, title_source = value, source
            break
    # The visible headline wins over a declared title that wraps it in a kicker or a section
    # ("Brexit: <headline>", "<headline> - Tipp mit Bild"): one h1 that the declared title contains.
    if title and len(h1s) == 1:
        h1 = strip_site_name(h1s[0], site_names)
        if _fold(h1) and _fold(h1) in _fold(title) and len(h1) >= 0.4 * len(title):
            title, title_source = h1, "h1"
    if not title and len(h1s) >= 1:
        title, title_source = h1s[0], "h1"
    if not title and tag_title:
        title, title_source = strip_site_name(tag_title, site_names), "title_tag"
    if title:
        sources["title"] = title_source

    # Authors: JSON-LD people first (typed), then meta tags and bylines through trafilatura.
    by_id = {str(o["@id"]): o for o in objects if isinstance(o.get("@id"), str)}
    # A person the page types as such may share the site's name (a personal site); any other name may not.
    persons = {_fold(str(o.get("name"))) for o in objects if "person" in _types(o) and o.get("name")}
    declared = [n for n in declared if _fold(n) not in persons]
    # A personal blog's address is its author's name: only declared outlet names are never authors.
    authors = clean_authors(_people(article.get("author"), orgs, by_id), declared)
    if not authors and not article.get("author"):
        # No article object with an author: the page's other works (a Recipe, a Review, a BlogPosting
        # typed oddly) name people as their author too; a WebPage or WebSite author is the site.
        works = [o.get("author") for o in objects if o.get("author") and not _types(o) & {"webpage", "website"}]
        authors = clean_authors([n for w in works[:3] for n in _people(w, orgs, by_id)], declared)
    sources_author = "jsonld"
    if not authors:
        meta_names = [metas[k] for k in ("author", "article:author", "dc.creator", "parsely-author",
                                         "sailthru.author", "byl", "citation_author") if k in metas]
        meta_names += _labelled_meta_author(metas)
        authors = clean_authors(meta_names, declared)
        sources_author = "meta"
    if not authors and library().author:
        authors = clean_authors(str(library().author).split("; "), declared)
        sources_author = "meta"
    if not authors:
        authors = clean_authors(_markup_bylines(tree), declared)
        sources_author = "byline"
    if not authors:
        byline = extract_author(tree)
        if byline:
            authors = clean_authors(byline.split("; "), declared)
            sources_author = "byline"
    if not authors:
        authors = clean_authors(_author_links(tree), declared) or clean_authors(_labelled_byline(tree), declared)
        sources_author = "byline"
    if authors:
        sources["authors"] = sources_author

    # Dates: structured data keeps the time and zone; htmldate when the page has none of it.
    published: datetime | None = None
    for source, value in [("meta", metas.get(k)) for k in _PUBLISHED_META[:2]] + [
        ("jsonld", article.get("datePublished")), ("jsonld", article.get("dateCreated"))] + [
        ("meta", metas.get(k)) for k in _PUBLISHED_META[2:]
    ]:
        parsed = parse_date(value)
        if plausible(parsed):
            published, sources["published"] = parsed, source
            break
    published_text = iso(published) if published else None
    if published is None:
        found = _htmldate(tree, url)
        if found:
            published_text, sources["published"] = found, "htmldate"
    elif _near_utc_midnight(published):
        # A UTC stamp a few hours either side of midnight is often the day before or after where the
        # outlet is: the day the page shows (htmldate reads it) is the publication day there.
        found = _htmldate(tree, url)
        if found and abs((datetime.fromisoformat(found).date() - published.date()).days) == 1:
            published_text, sources["published"] = found, "htmldate"
    updated = next(
        (p for p in (parse_date(v) for v in [article.get("dateModified")] + [metas.get(k) for k in _UPDATED_META])
         if plausible(p)),
        None,
    )

    live_posts = _live_posts(article)
    canonical = next((str(link.get("href")).strip() for link in tree.iter("link")
                      if (link.get("rel") or "").lower() == "canonical" and link.get("href")), None)
    lang = (tree.get("lang") or metas.get("og:locale") or "").replace("_", "-").split("-")[0].lower() or None
    jsonld_type = article.get("@type", "")
    return PageMetadata(
        title=title,
        site_name=site_name,
        authors=authors,
        published=published_text,
        updated=iso(updated) if updated else None,
        canonical=canonical or metas.get("og:url") or None,
        lang=lang,
        description=metas.get("description") or metas.get("og:description") or "",
        jsonld_type=str(jsonld_type[0] if isinstance(jsonld_type, list) and jsonld_type else jsonld_type),
        sources=sources,
        headlines=tuple(dict.fromkeys(h for h in [title, *h1s, *(html.unescape(v) for _s, v in candidates)] if h)),
        live_posts=live_posts,
    )


def _live_posts(article: dict[str, Any]) -> tuple[str, ...]:
    """The text of each update of a LiveBlogPosting (its ``liveBlogUpdate``), in the order they were posted."""
    updates = article.get("liveBlogUpdate")
    if not updates or "liveblogposting" not in _types(article):
        return ()
    posts: list[tuple[str, str]] = []
    for update in (updates if isinstance(updates, list) else [updates])[:500]:
        if not isinstance(update, dict):
            continue
        body = " ".join(str(update.get("articleBody") or "").split())
        if body:
            posts.append((str(update.get("datePublished") or ""), body))
    # Feeds of updates come newest first on most pages; a story reads oldest first.
    posts.sort(key=lambda p: p[0])
    return tuple(body for _date, body in posts)


def utc(value: str | None) -> str | None:
    """An ISO date in UTC (a date without a zone is taken as UTC)."""
    parsed = parse_date(value)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="seconds")
