"""Fetch stage logic: feed parsing, entry identity and the checks on a fetched article."""

from __future__ import annotations

import calendar
import codecs
import dataclasses
import functools
import hashlib
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser
from charset_normalizer import from_bytes
from charset_normalizer.md import mess_ratio

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
MAX_SUMMARY_CHARS = 2000
FEED_TYPES = ("xml", "rss", "atom", "text/plain", "text/html", "octet-stream")

# Problem kinds recorded against a feed (``wirewatch feeds`` counts them).
PARSE_ERROR = "parse_error"
CHARSET_OVERRIDE = "charset_override"
CHARSET_UNCLEAN = "charset_unclean"
ITEM_REJECTED = "item_rejected"
TITLE_CUT = "title_cut"
ITEM_TRUNCATED = "item_truncated"


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
    if ":" in host:  # an IPv6 literal keeps its brackets, or the URL no longer parses
        host = f"[{host}]"
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


def trace_id_for(link: str) -> str:
    """Where a link's trace is kept: its story id, or for a link that is no URL, a hash of its text."""
    try:
        return story_id_for(link)
    except BadContent:
        return hashlib.sha256(b"unparseable:" + link.strip().encode("utf-8", "replace")).hexdigest()[:32]


def _entry_time(entry: Any) -> str | None:
    for key in ("published_parsed", "updated_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC).isoformat(timespec="seconds")
    return None


# --- charsets --------------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_XML_DECL_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_XML_DECL_REWRITE = re.compile(r"""^(\s*<\?xml[^>]{0,200}?encoding\s*=\s*)(["'])[^"']*\2""")
_HTTP_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.IGNORECASE)
_TAG = re.compile(r"<[^>]{0,2000}>")
# Runs of the characters a windows-1252 or Latin-1 reading of UTF-8 bytes produces ("Ã©", "Ð½", "â€™").
_SINGLE_BYTE_RUN = re.compile(
    "[\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013-\u2026\u2030\u2039\u203a\u20ac\u2122]{2,}"
)
DOCUMENT_MESS = 0.2  # charset-normalizer's own threshold for "this decoding is wrong"
ITEM_MESS = 0.5  # an item's few words: only a clearly garbled text is rejected
SAMPLE_CHARS = 200_000


@dataclass(frozen=True)
class Decoded:
    """A feed's text and how its charset was decided."""

    text: str
    encoding: str
    declared: str  # what the bytes claim (BOM, HTTP header, XML declaration), else utf-8
    clean: bool  # False: no candidate decoded cleanly; damage is U+FFFD and the items it hits are rejected


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    # Text encodings only: base64, zlib or rot13 in a declaration are no charset.
    return info.name if getattr(info, "_is_text_encoding", True) else None


def utf8_mojibake(text: str) -> str | None:
    """The first run of characters that is UTF-8 read as windows-1252 or Latin-1, if any."""
    for run in _SINGLE_BYTE_RUN.findall(text):
        for single in ("cp1252", "latin-1"):
            try:
                fixed = run.encode(single).decode("utf-8")
            except UnicodeError:
                continue
            if fixed != run:
                return str(run)
    return None


def garbled(text: str, threshold: float = ITEM_MESS) -> str | None:
    """Why ``text`` reads as a wrong decoding (U+FFFD, mojibake), or None when it reads clean."""
    if "\ufffd" in text:
        return "it contains U+FFFD (bytes that did not decode)"
    run = utf8_mojibake(text)
    if run is not None:
        # Escaped: a problem record must not store the garbled text it reports.
        return f"it is UTF-8 read as a single-byte charset ({ascii(run[:20])})"
    if len(text) >= 16:  # a few words are too few to judge
        ratio = mess_ratio(text, maximum_threshold=1.0)
        if ratio >= threshold:
            return f"it reads as mojibake (mess ratio {ratio:.2f})"
    return None


_SELF_CHECKING = frozenset({"utf-8", "utf-8-sig", "utf-16", "utf-32"})
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
UTF8_SHARE = 0.3  # in windows-1251 or ISO-8859-7 text, byte pairs that happen to form UTF-8 stay well under this


@functools.cache
def _single_byte(encoding: str) -> bool:
    """One character per byte (windows-1252, ISO-8859-x, KOI8-R ...), not GBK or Shift_JIS."""
    return len(bytes(range(256)).decode(encoding, errors="replace")) == 256


def _utf8_share(body: bytes) -> float:
    """The share of non-ASCII bytes that are parts of well-formed UTF-8 sequences."""
    sample = body[:SAMPLE_CHARS * 4]
    high = len(_HIGH_BYTE.findall(sample))
    return sum(len(m) for m in _UTF8_SEQUENCE.findall(sample)) / high if high else 0.0


def _sample(text: str) -> str:
    return _TAG.sub(" ", text[: SAMPLE_CHARS * 2])[:SAMPLE_CHARS]


def decode_feed(body: bytes, content_type: str = "") -> Decoded:
    """Decide declared versus detected charset on the bytes; the better decoding wins.

    The declaration (BOM, then the HTTP charset, then the XML declaration) is kept when it decodes
    strictly and the text reads clean; else charset-normalizer's guess and the other declarations
    are tried; when none is clean the declared one is used with U+FFFD marking the damage.
    """
    bom = next((enc for mark, enc in _BOMS if body.startswith(mark)), None)
    http_match = _HTTP_CHARSET.search(content_type)
    xml_match = _XML_DECL_ENCODING.match(body)
    names = [bom, http_match.group(1) if http_match else None, xml_match.group(1).decode() if xml_match else None]
    declared = next((c for c in map(_codec, names) if c), "utf-8")
    tried: set[str] = set()

    utf8_share = _utf8_share(body)

    def attempt(encoding: str | None) -> str | None:
        if not encoding or encoding in tried:
            return None
        tried.add(encoding)
        try:
            text = body.decode(encoding)
        except (UnicodeError, LookupError):
            return None
        if encoding in _SELF_CHECKING:
            return text  # a strict UTF decoding cannot be a wrong reading; garbled items are caught one by one
        if utf8_share >= UTF8_SHARE and _single_byte(encoding):
            return None  # many bytes are UTF-8 sequences: a single-byte reading would garble them
        return None if garbled(_sample(text), DOCUMENT_MESS) else text

    if declared not in _SELF_CHECKING and utf8_share == 1.0:
        # Bytes that are all well-formed UTF-8 sequences are UTF-8 whatever they say: text in another
        # charset practically never is, while GBK or Shift_JIS would read UTF-8 "cleanly" but wrongly.
        text = attempt("utf-8")
        if text is not None:
            return Decoded(text, "utf-8", declared, True)
    text = attempt(declared)
    if text is not None:
        return Decoded(text, declared, declared, True)
    best = from_bytes(body).best()
    for candidate in (_codec(best.encoding) if best else None, *map(_codec, names), "utf-8"):
        text = attempt(candidate)
        if text is not None and candidate is not None:
            return Decoded(text, candidate, declared, True)
    return Decoded(body.decode(declared, errors="replace"), declared, declared, False)


# --- feeds -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedProblem:
    """Something wrong with a feed or one of its items, recorded against the feed."""

    kind: str  # PARSE_ERROR, CHARSET_OVERRIDE, CHARSET_UNCLEAN, ITEM_REJECTED, TITLE_CUT, ITEM_TRUNCATED
    detail: str
    link: str = ""  # the item's link as written, when the problem is one item's
    trace_id: str = ""  # where ``wirewatch trace <link>`` finds it

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v}


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    entries: tuple[FeedEntry, ...]
    problems: tuple[FeedProblem, ...] = ()

    @property
    def rejected(self) -> tuple[FeedProblem, ...]:
        return tuple(p for p in self.problems if p.kind == ITEM_REJECTED)


# Entity declarations multiply a feed's size (billion laughs, quadratic blow-up) or reach outside it
# (external entities); no real feed needs them. Only the prolog, before the root element, holds them.
_ROOT_START = re.compile(r"<[A-Za-z_]")
_ENTITY_DECL = re.compile(r"<!ENTITY", re.IGNORECASE)


def refuse_entity_declarations(text: str) -> None:
    """BadContent when the document's prolog declares entities (an internal DTD subset)."""
    root = _ROOT_START.search(text)
    prolog = text[: root.start()] if root else text
    count = len(_ENTITY_DECL.findall(prolog))
    if count:
        raise BadContent(
            f"the feed declares {count} entit{'y' if count == 1 else 'ies'} in an internal DTD "
            "(refused: no feed needs entity expansion or external entities)"
        )


def parse_feed(body: bytes, feed_url: str, content_type: str = "") -> ParsedFeed:
    """Parse RSS/Atom bytes (never a URL or path) into entries with deterministic ids.

    Every item is read inside its own error boundary: a bad one becomes an ``item_rejected``
    problem naming its link and reason, and the others still arrive.
    """
    if not body.strip():
        raise BadContent("empty feed body")
    if len(body) > MAX_FEED_BYTES:
        raise BadContent(f"feed of {len(body)} bytes is over the {MAX_FEED_BYTES}-byte limit")
    decoded = decode_feed(body, content_type)
    problems: list[FeedProblem] = []
    if decoded.encoding != decoded.declared:
        problems.append(FeedProblem(CHARSET_OVERRIDE, f"declared {decoded.declared}, decoded as {decoded.encoding}"))
    if not decoded.clean:
        problems.append(
            FeedProblem(CHARSET_UNCLEAN, f"no clean decoding (declared {decoded.declared}): garbled items rejected")
        )
    text = decoded.text.lstrip("\ufeff")
    refuse_entity_declarations(text)
    # feedparser gets UTF-8 bytes that say so: the decision above is the only charset decision.
    utf8 = _XML_DECL_REWRITE.sub(r'\1"utf-8"', text, count=1).encode("utf-8")
    mime = content_type.split(";")[0].strip() or "application/xml"
    headers = {"content-type": f"{mime}; charset=utf-8"}
    # feedparser fetches when handed a string that looks like a URL or path; bytes it only parses.
    parsed = feedparser.parse(utf8, resolve_relative_uris=False, sanitize_html=True, response_headers=headers)
    error = parsed.get("bozo_exception")
    # A declared charset overridden by the real one is not damage; anything else the parser met is.
    damaged = bool(parsed.get("bozo")) and type(error).__name__ != "CharacterEncodingOverride"
    if not parsed.entries and damaged:
        if content_type.startswith("text/html"):
            raise BadContent(f"an HTML page where a feed should be (content type {content_type})")
        raise BadContent(f"malformed feed with no usable entry: {error}")
    if not parsed.entries and not parsed.feed.get("title") and parsed.version == "":
        raise BadContent("not a feed: no RSS or Atom root element")
    if damaged:
        problems.append(FeedProblem(PARSE_ERROR, f"parse error, entries recovered: {error}"))
    entries: list[FeedEntry] = []
    seen: set[str] = set()
    for position, raw in enumerate(parsed.entries, 1):
        link = ""
        try:
            guid = str(raw.get("id") or "")
            link = str(raw.get("link") or (guid if guid.startswith(("http://", "https://")) else ""))
            entry, notes = _read_entry(raw, feed_url)
        except Exception as exc:  # noqa: BLE001 - one bad item is recorded; the rest of the feed goes on
            reason = str(exc) if isinstance(exc, BadContent) else f"unreadable item: {type(exc).__name__}: {exc}"
            detail = f"{(link or f'item {position}')[:200]}: {reason}"[:500]
            problems.append(FeedProblem(ITEM_REJECTED, detail, link[:2000], trace_id_for(link) if link else ""))
            continue
        problems += notes
        if entry.story_id in seen:
            continue
        seen.add(entry.story_id)
        entries.append(entry)
    if not entries and damaged:
        raise BadContent(f"malformed feed with no usable entry: {error}")
    title = str(parsed.feed.get("title", "")).strip()[:MAX_TITLE_CHARS]
    why = garbled(title)
    if why:
        problems.append(FeedProblem(PARSE_ERROR, f"feed title dropped: {why}"))
        title = ""
    return ParsedFeed(title, tuple(entries), tuple(problems))


def _read_entry(raw: Any, feed_url: str) -> tuple[FeedEntry, list[FeedProblem]]:
    """One item as an entry (with notes on what was cut), or BadContent with why it cannot be one."""
    link = str(raw.get("link") or "")
    guid = str(raw.get("id") or "")
    if not link and guid.startswith(("http://", "https://")):
        link = guid
    if not link:
        raise BadContent(f"entry without a link: {str(raw.get('title', ''))[:80]!r}")
    url = canonical_url(link, base=feed_url)
    sid = story_id_for(url)
    title = str(raw.get("title", "")).strip()
    summary = str(raw.get("summary", "")).strip()
    for name, value in (("title", title[:MAX_TITLE_CHARS]), ("summary", summary[:MAX_SUMMARY_CHARS])):
        why = garbled(value)  # what would be stored
        if why:
            raise BadContent(f"garbled {name}: {why}")
    notes: list[FeedProblem] = []
    if len(title) > MAX_TITLE_CHARS:
        cut = f"{url}: title cut from {len(title)} to {MAX_TITLE_CHARS} characters"
        notes.append(FeedProblem(TITLE_CUT, cut, link, sid))
    if len(summary) > MAX_SUMMARY_CHARS:
        cut = f"{url}: summary cut from {len(summary)} to {MAX_SUMMARY_CHARS} characters"
        notes.append(FeedProblem(ITEM_TRUNCATED, cut, link, sid))
    entry = FeedEntry(
        story_id=sid,
        url=url,
        feed_url=feed_url,
        title=title[:MAX_TITLE_CHARS],
        summary=summary[:MAX_SUMMARY_CHARS],
        published=_entry_time(raw),
        guid=guid[:MAX_TITLE_CHARS],
    )
    return entry, notes


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
