"""Watches: saved searches matched against every newly searchable story, and the events they raise.

Pure: the watch model, the matching semantics (the same as ``wirewatch search`` and the claims search,
evaluated on one document instead of an index), what counts as new, the event a match becomes, the
webhook backlog plan and the Atom feed. Adapters decide where watches live and how events travel.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.index import date_bound

WATCH_VERSION = 1
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
STORY_FIELDS = ("text", "entity", "speaker", "outlet", "language", "min_topic", "date_from", "date_to")
CLAIM_FIELDS = ("speaker", "about")
KINDS = ("stories", "claims")
ATOM = "http://www.w3.org/2005/Atom"
_TOKEN = re.compile(r'(-?)"([^"]+)"|(-?)(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)


class WatchError(ValueError):
    """A watch definition is malformed (bad name, unknown field, empty query, bad URL)."""


@dataclass(frozen=True)
class Watch:
    """A saved search: story filters (kind ``stories``) or a claims query (kind ``claims``)."""

    name: str
    kind: str
    query: Mapping[str, Any]  # the fields of STORY_FIELDS or CLAIM_FIELDS that are set
    webhook_url: str = ""
    secret: str = field(default="", repr=False)  # signs webhook bodies; never shown back
    created_at: str = ""
    version: int = WATCH_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "query": dict(self.query),
            "webhook_url": self.webhook_url,
            "secret": self.secret,
            "created_at": self.created_at,
            "version": self.version,
        }

    def public(self) -> dict[str, Any]:
        """The watch as shown to people and the API: the secret is masked."""
        out = self.to_json()
        out["secret"] = "***" if self.secret else ""
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Watch:
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            query=dict(data.get("query") or {}),
            webhook_url=str(data.get("webhook_url") or ""),
            secret=str(data.get("secret") or ""),
            created_at=str(data.get("created_at") or ""),
            version=int(data.get("version", WATCH_VERSION)),
        )


def make_watch(
    name: str, kind: str, query: Mapping[str, Any], webhook_url: str = "", secret: str = "", created_at: str = ""
) -> Watch:
    """A checked watch; a bad definition raises ``WatchError`` naming what is wrong."""
    if not NAME.fullmatch(name or ""):
        raise WatchError(f"watch name {name!r}: use 1-64 of a-z, 0-9, '-' and '_', starting with a letter or digit")
    if kind not in KINDS:
        raise WatchError(f"watch kind {kind!r}: one of {', '.join(KINDS)}")
    allowed = STORY_FIELDS if kind == "stories" else CLAIM_FIELDS
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise WatchError(f"unknown field(s) for a {kind} watch: {', '.join(unknown)}; known: {', '.join(allowed)}")
    clean: dict[str, Any] = {}
    for key, value in query.items():
        if value is None or value == "":
            continue
        if key == "min_topic":
            try:
                value = float(value)
            except (TypeError, ValueError) as exc:
                raise WatchError(f"min_topic must be a number: {value!r}") from exc
        elif key in ("date_from", "date_to"):
            try:
                date_bound(str(value), end=False)
            except ValueError as exc:
                raise WatchError(f"{key} must be an ISO 8601 date or time: {value!r}") from exc
            value = str(value)
        else:
            value = str(value).strip()
        clean[key] = value
    words = clean.get("text" if kind == "stories" else "about", "")
    if not clean or (set(clean) <= {"text", "about"} and not compile_text(words).positive):
        raise WatchError("a watch needs at least one word to match or one filter (entity, speaker, outlet, ...)")
    if webhook_url and not re.fullmatch(r"https?://[^\s]+", webhook_url):
        raise WatchError(f"webhook URL must be http(s): {webhook_url!r}")
    if webhook_url and len(secret) < 16:
        raise WatchError("a webhook needs a signing secret of at least 16 characters")
    return Watch(name, kind, clean, webhook_url, secret, created_at)


# --- matching ----------------------------------------------------------------------------------


def words_of(text: str) -> list[str]:
    """Search tokens: Unicode words, case-folded, accents kept (the indexes' tokenizers agree on these)."""
    return _WORD.findall(unicodedata.normalize("NFC", text).casefold())


@dataclass(frozen=True)
class TextQuery:
    """A user query: terms (a word, or a phrase as several words) that must all match; some excluded."""

    positive: tuple[tuple[str, ...], ...]
    negative: tuple[tuple[str, ...], ...]


def compile_text(text: str) -> TextQuery:
    """The same reading of a query as the search: words and "phrases" ANDed, -word excluded."""
    positive: list[tuple[str, ...]] = []
    negative: list[tuple[str, ...]] = []
    for neg_phrase, phrase, neg_word, word in _TOKEN.findall(text or ""):
        terms = tuple(words_of(phrase or word))
        if terms:
            (negative if (neg_phrase or neg_word) else positive).append(terms)
    return TextQuery(tuple(positive), tuple(negative))


@dataclass(frozen=True)
class Fields:
    """A text split into words once, to test many queries against it."""

    fields: tuple[tuple[str, ...], ...]
    vocabulary: frozenset[str]

    @classmethod
    def of(cls, texts: Iterable[str]) -> Fields:
        fields = tuple(tuple(words_of(t or "")) for t in texts)
        return cls(fields, frozenset(w for f in fields for w in f))

    def has(self, term: tuple[str, ...]) -> bool:
        if len(term) == 1:
            return term[0] in self.vocabulary
        if not all(w in self.vocabulary for w in term):
            return False
        n = len(term)
        return any(f[i : i + n] == term for f in self.fields for i in range(len(f) - n + 1) if f[i] == term[0])

    def satisfies(self, query: TextQuery) -> bool:
        return all(self.has(t) for t in query.positive) and not any(self.has(t) for t in query.negative)


@dataclass(frozen=True)
class Story:
    """A story document prepared once for matching against every watch."""

    doc: Mapping[str, Any]
    words: Fields  # title, summary, text and claims, as the search reads them
    entities: frozenset[str]
    speakers: frozenset[str]
    claim_words: tuple[Fields, ...]

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Story:
        claims = doc.get("claims") or []
        ents = doc.get("entities") or {}
        entities = {v.casefold() for k in ("person", "org", "place", "ids") for v in ents.get(k, [])}
        speakers = {v.casefold() for v in (*doc.get("speakers", ()), *doc.get("speaker_ids", ()))}
        return cls(
            doc=doc,
            words=Fields.of(
                (doc.get("title", ""), doc.get("summary", ""), doc.get("text", ""), *(c["text"] for c in claims))
            ),
            entities=frozenset(entities),
            speakers=frozenset(speakers),
            claim_words=tuple(Fields.of((c["text"],)) for c in claims),
        )


@dataclass(frozen=True)
class CompiledWatch:
    """A watch with its query parsed once."""

    watch: Watch
    text: TextQuery
    date_from: str | None
    date_to: str | None

    @classmethod
    def of(cls, watch: Watch) -> CompiledWatch:
        q = watch.query
        words = q.get("text" if watch.kind == "stories" else "about", "")
        return cls(
            watch,
            compile_text(words),
            date_bound(q["date_from"], end=False) if q.get("date_from") else None,
            date_bound(q["date_to"], end=True) if q.get("date_to") else None,
        )


def story_reasons(cw: CompiledWatch, story: Story) -> list[str] | None:
    """Why a story watch matches this document (as the search would find it), or None."""
    q, doc = cw.watch.query, story.doc
    why: list[str] = []
    if cw.text.positive or cw.text.negative:
        if not story.words.satisfies(cw.text):
            return None
        if cw.text.positive:
            why.append("words: " + ", ".join(" ".join(t) for t in cw.text.positive))
    if "entity" in q:
        if q["entity"].casefold() not in story.entities:
            return None
        why.append(f"names {q['entity']}")
    if "speaker" in q:
        if q["speaker"].casefold() not in story.speakers:
            return None
        why.append(f"quotes {q['speaker']}")
    for key, label in (("outlet", "outlet"), ("language", "language")):
        if key in q:
            if str(doc.get(key, "")).casefold() != q[key].casefold():
                return None
            why.append(f"{label} {doc.get(key)}")
    if "min_topic" in q:
        score = float((doc.get("topic") or {}).get("score", 0.0))
        if score < float(q["min_topic"]):
            return None
        why.append(f"topic {score:.2f} >= {float(q['min_topic']):.2f}")
    if cw.date_from or cw.date_to:
        published = doc.get("published")
        if not published:
            return None
        when = date_bound(str(published), end=False)
        if (cw.date_from and when < cw.date_from) or (cw.date_to and when > cw.date_to):
            return None
        why.append("published in range")
    return why


def matching_claims(cw: CompiledWatch, story: Story) -> list[tuple[dict[str, Any], list[str]]]:
    """The claims of a document that a claims watch matches, each with why."""
    q = cw.watch.query
    speaker = str(q.get("speaker", "")).casefold()
    out: list[tuple[dict[str, Any], list[str]]] = []
    for claim, words in zip(story.doc.get("claims") or [], story.claim_words, strict=True):
        why: list[str] = []
        if speaker:
            if speaker not in (str(claim.get("speaker", "")).casefold(), str(claim.get("speaker_id") or "").casefold()):
                continue
            why.append(f"said by {q['speaker']}")
        if cw.text.positive or cw.text.negative:
            if not words.satisfies(cw.text):
                continue
            if cw.text.positive:
                why.append("about: " + ", ".join(" ".join(t) for t in cw.text.positive))
        out.append((dict(claim), why))
    return out


# --- what is new ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FirstSeen:
    """The story that first brought something (an outlet to a cluster, a claim to the record)."""

    story_id: str
    outlet: str = ""
    url: str = ""
    published: str | None = None
    title: str = ""


def first_seen_of(doc: Mapping[str, Any]) -> FirstSeen:
    return FirstSeen(doc["story_id"], doc.get("outlet", ""), doc.get("url", ""), doc.get("published"),
                     doc.get("title", ""))


def newly_searchable(doc: Mapping[str, Any], outlet_holder: str) -> str | None:
    """Why this document is news to a watcher (a new story, a new outlet carrying one), or None.

    ``outlet_holder`` is the story that first brought this outlet to the cluster (possibly this one):
    a second copy from the same outlet (a revision, a syndicated duplicate) is nothing new.
    """
    if outlet_holder != doc["story_id"]:
        return None
    cluster = doc.get("cluster") or {}
    if cluster.get("canonical", True):
        return "new story"
    return f"new outlet for a story: {doc.get('outlet', '?')} now carries it"


# --- events ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchEvent:
    """One match, as every channel delivers it: the story or claim, why it matched, and links."""

    watch: str
    kind: str  # story or claim
    event_id: str  # the same match always has the same id (the delivery ledger's key)
    story: Mapping[str, Any]
    why: tuple[str, ...]
    links: Mapping[str, str]
    claim: Mapping[str, Any] | None = None
    repeats: tuple[Mapping[str, Any], ...] = ()  # in this story: who repeated what was already said
    matched_at: float = 0.0
    seen_at: float | None = None  # when the story's feed entry was first seen

    def to_json(self) -> dict[str, Any]:
        return {
            "watch": self.watch,
            "kind": self.kind,
            "event_id": self.event_id,
            "story": dict(self.story),
            "claim": dict(self.claim) if self.claim is not None else None,
            "why": list(self.why),
            "repeats": [dict(r) for r in self.repeats],
            "links": dict(self.links),
            "matched_at": self.matched_at,
            "seen_at": self.seen_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WatchEvent:
        return cls(
            watch=data["watch"],
            kind=data["kind"],
            event_id=data["event_id"],
            story=data["story"],
            why=tuple(data.get("why") or ()),
            links=data.get("links") or {},
            claim=data.get("claim"),
            repeats=tuple(data.get("repeats") or ()),
            matched_at=float(data.get("matched_at") or 0.0),
            seen_at=data.get("seen_at"),
        )


def story_summary(doc: Mapping[str, Any], chars: int = 280) -> dict[str, Any]:
    text = str(doc.get("summary") or doc.get("text") or "")
    cluster = doc.get("cluster") or {}
    return {
        "story_id": doc["story_id"],
        "title": doc.get("title", ""),
        "outlet": doc.get("outlet", ""),
        "url": doc.get("url", ""),
        "published": doc.get("published"),
        "cluster_id": cluster.get("id"),
        "summary": text[:chars].rsplit(" ", 1)[0] if len(text) > chars else text,
    }


def links_for(base_url: str, watch: str, doc: Mapping[str, Any]) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {
        "article": str(doc.get("url", "")),
        "story": f"{base}/api/stories/{doc['story_id']}",
        "feed": f"{base}/watch/{watch}.atom",
    }


def events_for(
    cw: CompiledWatch,
    story: Story,
    outlet_holder: str,
    claim_holders: Mapping[str, FirstSeen],
    base_url: str,
    now: float,
    seen_at: float | None = None,
) -> list[WatchEvent]:
    """The events one watch raises for one newly written document.

    ``claim_holders`` maps each of the document's claim keys to the story that first made that claim
    (possibly this one). A claims watch fires for a claim its speaker had not made before, never for a
    repeat; the repeats in the same story ride along so the reader sees who repeated what.
    """
    doc, watch = story.doc, cw.watch
    links = links_for(base_url, watch.name, doc)
    summary = story_summary(doc)
    if watch.kind == "stories":
        news = newly_searchable(doc, outlet_holder)
        reasons = story_reasons(cw, story) if news else None
        if reasons is None or news is None:
            return []
        return [
            WatchEvent(watch.name, "story", f"story:{doc['story_id']}", summary, (news, *reasons), links,
                       matched_at=now, seen_at=seen_at)
        ]
    matched = matching_claims(cw, story)
    repeats = []
    for claim, _why in matched:
        first = claim_holders.get(claim["key"])
        if first is not None and first.story_id != doc["story_id"]:
            repeats.append(
                {
                    "speaker": claim["speaker"],
                    "text": claim["text"],
                    "repeated_by": doc.get("outlet", ""),
                    "repeated_in": doc["story_id"],
                    "first_story_id": first.story_id,
                    "first_outlet": first.outlet,
                    "first_url": first.url,
                    "first_published": first.published,
                }
            )
    events = []
    for claim, why in matched:
        first = claim_holders.get(claim["key"])
        if first is None or first.story_id != doc["story_id"]:
            continue
        shown = {k: claim.get(k) for k in ("speaker", "speaker_id", "cue", "kind", "text", "key")}
        events.append(
            WatchEvent(watch.name, "claim", f"claim:{claim['key']}", summary,
                       ("new claim by " + str(claim["speaker"]), *why), links, shown, tuple(repeats), now, seen_at)
        )
    return events


# --- webhook backlog ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BacklogPlan:
    """What a webhook gets when it comes back: a summary of what is skipped, then the rest in order."""

    skipped: int
    first_skipped_seq: int | None
    last_skipped_seq: int | None
    send: tuple[int, ...]  # sequence numbers, oldest first


def plan_backlog(pending: Sequence[int], delivered_through: int, bound: int) -> BacklogPlan:
    """Pending event numbers (ascending) after the last delivered one: keep the newest ``bound``.

    Numbers missing between ``delivered_through`` and the first pending one (trimmed from the stream
    while the endpoint was down) are counted as skipped too.
    """
    gap = (pending[0] - delivered_through - 1) if pending else 0
    keep = tuple(pending[-bound:]) if bound > 0 else ()
    dropped = list(pending[: len(pending) - len(keep)])
    skipped = max(gap, 0) + len(dropped)
    if not skipped:
        return BacklogPlan(0, None, None, keep)
    first = delivered_through + 1 if gap > 0 else dropped[0]
    last = dropped[-1] if dropped else pending[0] - 1
    return BacklogPlan(skipped, first, last, keep)


# --- Atom ----------------------------------------------------------------------------------------------


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def atom_feed(watch: Watch, events: Sequence[WatchEvent], base_url: str, now: float) -> bytes:
    """A valid Atom 1.0 feed of a watch's events, newest first."""
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    base = base_url.rstrip("/")
    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", f"{base}/watch/{watch.name}.atom")
    sub(feed, "title", f"wirewatch: {watch.name}")
    sub(feed, "subtitle", describe(watch))
    sub(feed, "updated", _iso(max([e.matched_at for e in events], default=now)))
    sub(feed, "link", rel="self", href=f"{base}/watch/{watch.name}.atom", type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=f"{base}/", type="text/html")
    author = sub(feed, "author")
    sub(author, "name", "wirewatch")
    sub(feed, "generator", "wirewatch")
    for e in events:
        entry = sub(feed, "entry")
        sub(entry, "id", f"urn:wirewatch:{watch.name}:{e.event_id}")
        if e.kind == "claim" and e.claim is not None:
            title = f"{e.claim.get('speaker')}: {e.claim.get('text')}"
        else:
            title = str(e.story.get("title") or e.story.get("story_id"))
        sub(entry, "title", title)
        sub(entry, "updated", _iso(e.matched_at))
        if e.story.get("published"):
            try:
                sub(entry, "published", date_bound(str(e.story["published"]), end=False).replace("+00:00", "Z"))
            except ValueError:
                pass
        sub(entry, "link", rel="alternate", href=str(e.links.get("article") or e.links.get("story", "")))
        sub(entry, "link", rel="related", href=str(e.links.get("story", "")), type="application/json")
        if e.story.get("outlet"):
            who = sub(entry, "author")
            sub(who, "name", str(e.story["outlet"]))
        lines = [f"Why: {'; '.join(e.why)}."]
        if e.story.get("summary"):
            lines.append(str(e.story["summary"]))
        for r in e.repeats:
            lines.append(f"{r['repeated_by']} repeated {r['speaker']}: \u201c{r['text']}\u201d "
                         f"(first said in {r['first_outlet']}, {r['first_url']})")
        sub(entry, "summary", "\n".join(lines), type="text")
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


def describe(watch: Watch) -> str:
    """A watch in words, e.g. ``stories: text "Kaliningrad", entity Q7184``."""
    parts = [f"{k} {v!r}" if k in ("text", "about") else f"{k} {v}" for k, v in watch.query.items()]
    return f"{watch.kind}: " + ", ".join(parts)
