"""Fetch stage logic: feed parsing, entry identity and the checks on a fetched article."""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser

from pipeline.errors import BadContent, PermanentError
from pipeline.models import FeedEntry
from pipeline.ports import HttpResponse

# Parameters that only say where a click came from; two URLs that differ only in them are one story.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "ocid",
        "cmpid",
        "taid",
        "ref",
        "ref_src",
        "smid",
        "guccounter",
        "_ga",
        "yclid",
        "spm",
        "share",
        "mbid",
        "rss",
    }
)
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "itm_", "vero_", "oly_", "__twitter")

ARTICLE_TYPES = ("text/html", "application/xhtml+xml")
MAX_FEED_BYTES = 8 * 1024 * 1024
MAX_TITLE_CHARS = 1000
_INTERNAL_DTD = re.compile(rb"<!DOCTYPE[^>\[]*\[.*?\]\s*>", re.DOTALL | re.IGNORECASE)
FEED_TYPES = ("xml", "rss", "atom", "text/plain", "text/html", "octet-stream")


def canonical_url(url: str, base: str | None = None) -> str:
    """The form of a URL that identifies a story: absolute, lower-case host, no fragment or tracking."""
    try:
        if base:
            url = urljoin(base, url.strip())
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:  # a malformed IPv6 host or port
        raise BadContent(f"malformed URL {url[:200]!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BadContent(f"not an http(s) URL: {url[:200]!r}")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise BadContent(f"URL has no host: {url[:200]!r}")
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))


def story_id_for(url: str) -> str:
    """Deterministic story id: a hash of the canonical URL, so re-runs write the same document."""
    return hashlib.sha256(canonical_url(url).encode()).hexdigest()[:32]


def _entry_time(entry: Any) -> str | None:
    for key in ("published_parsed", "updated_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC).isoformat(timespec="seconds")
    return None


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    entries: tuple[FeedEntry, ...]
    problems: tuple[str, ...] = ()  # entries skipped and why


def parse_feed(body: bytes, feed_url: str, content_type: str = "") -> ParsedFeed:
    """Parse RSS/Atom bytes (never a URL or path) into entries with deterministic ids.

    The HTTP content type is passed on so feedparser weighs the declared charset against the
    document's own declaration and BOM.
    """
    if not body.strip():
        raise BadContent("empty feed body")
    if len(body) > MAX_FEED_BYTES:
        raise BadContent(f"feed of {len(body)} bytes is over the {MAX_FEED_BYTES}-byte limit")
    # Entities declared in the feed itself can multiply its size (quadratic blow-up, billion laughs):
    # no feed needs them, so the internal DTD subset goes before parsing.
    body = _INTERNAL_DTD.sub(b"", body, count=1)
    headers = {"content-type": content_type} if content_type else {}
    # feedparser fetches when handed a string that looks like a URL or path; bytes it only parses.
    parsed = feedparser.parse(body, resolve_relative_uris=False, sanitize_html=True, response_headers=headers)
    error = parsed.get("bozo_exception")
    # A declared charset overridden by the real one is not damage; anything else the parser met is.
    damaged = bool(parsed.get("bozo")) and type(error).__name__ != "CharacterEncodingOverride"
    if not parsed.entries and damaged:
        if content_type.startswith("text/html"):
            raise BadContent(f"an HTML page where a feed should be (content type {content_type})")
        raise BadContent(f"malformed feed with no usable entry: {error}")
    if not parsed.entries and not parsed.feed.get("title") and parsed.version == "":
        raise BadContent("not a feed: no RSS or Atom root element")
    entries: list[FeedEntry] = []
    problems: list[str] = [f"parse error, entries recovered: {error}"] if damaged else []
    seen: set[str] = set()
    for raw in parsed.entries:
        link = raw.get("link") or ""
        guid = raw.get("id") or ""
        if not link and guid.startswith(("http://", "https://")):
            link = guid
        if not link:
            problems.append(f"entry without a link: {raw.get('title', '')[:80]!r}")
            continue
        try:
            url = canonical_url(link, base=feed_url)
        except BadContent as exc:
            problems.append(str(exc))
            continue
        sid = story_id_for(url)
        if sid in seen:
            continue
        seen.add(sid)
        entries.append(
            FeedEntry(
                story_id=sid,
                url=url,
                feed_url=feed_url,
                title=str(raw.get("title", "")).strip()[:MAX_TITLE_CHARS],
                summary=str(raw.get("summary", "")).strip()[:2000],
                published=_entry_time(raw),
                guid=str(guid)[:MAX_TITLE_CHARS],
            )
        )
    if not entries and damaged:
        raise BadContent(f"malformed feed with no usable entry: {error}")
    return ParsedFeed(str(parsed.feed.get("title", "")), tuple(entries), tuple(problems))


def check_article(response: HttpResponse) -> None:
    """Reject a fetched article that cannot be an HTML page."""
    if response.status >= 400:
        raise PermanentError(f"HTTP {response.status}")
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype and ctype not in ARTICLE_TYPES:
        raise BadContent(f"content type {ctype!r} is not an HTML page")
    if not response.body.strip():
        raise BadContent("empty body")


def utc_now() -> str:
    return datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="seconds")
