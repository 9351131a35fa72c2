"""The story and its parts, one section per stage.

Every model is a frozen dataclass that round-trips through plain JSON (``to_json`` /
``from_json``), because stage results are stored between tasks and messages carry only ids.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

PIPELINE_VERSION = "1"


def _drop_none(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not None}


# --- feeds -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    """One configured feed."""

    url: str
    name: str
    interval_s: int = 300


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a parsed feed, with the hints the article page may lack."""

    story_id: str
    url: str
    feed_url: str
    title: str = ""
    summary: str = ""
    published: str | None = None  # ISO 8601, UTC
    guid: str = ""
    # Backfill, not news: a feed's history at its first poll, or entries over the per-poll cap. Its
    # stories yield to live ones in the process stage (workers/topology.py), so a feed's archive never
    # holds back what other feeds report now.
    backfill: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return _drop_none(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeedEntry:
        return cls(**data)


# --- fetch -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchedPage:
    """What the fetch stage got: a reference to the raw body in the raw store, not the body."""

    story_id: str
    url: str  # the URL finally fetched, after redirects
    raw_key: str  # content address in the raw store
    status: int
    content_type: str
    fetched_at: str  # ISO 8601, UTC
    entry: FeedEntry

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["entry"] = self.entry.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FetchedPage:
        return cls(**{**data, "entry": FeedEntry.from_json(data["entry"])})


# --- clean -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanStory:
    """The article as text with its metadata."""

    story_id: str
    url: str
    canonical_url: str
    feed_url: str
    outlet: str
    title: str
    text: str
    summary: str = ""
    authors: tuple[str, ...] = ()
    published: str | None = None
    updated: str | None = None
    language: str = "und"
    language_confidence: float = 0.0
    dateline: str = ""  # "VILNIUS": the place line wire copy opens with
    credit: str = ""  # the agency credited in the dateline, e.g. "Reuters"
    credit_lines: tuple[str, ...] = ()  # credit and copyright lines taken out of the text
    fetched_at: str | None = None
    raw_key: str = ""
    # where each metadata field came from: "page:jsonld", "page:meta", "feed", "both" (page and feed agree)
    sources: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["authors"] = list(self.authors)
        data["credit_lines"] = list(self.credit_lines)
        return _drop_none(data)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CleanStory:
        return cls(
            **{
                **data,
                "authors": tuple(data.get("authors", ())),
                "credit_lines": tuple(data.get("credit_lines", ())),
            }
        )


# --- dedupe ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DedupeResult:
    """Where the story sits among copies of the same text."""

    story_id: str
    text_hash: str
    cluster_id: str  # the story id of the cluster's first-seen story (opaque: see canonical_id)
    is_canonical: bool
    match: str = "new"  # new, exact, near or revision
    matched_story_id: str | None = None  # the copy it matched
    similarity: float = 1.0  # containment of the shorter text in the longer, estimated
    wire: str = ""  # the originating agency, when credited
    changes: dict[str, Any] | None = None  # paragraphs added/removed/changed against the canonical
    # The cluster's canonical story when the cluster id names another (a better copy of that page took
    # its place); None when the cluster id is the canonical's story id.
    canonical_id: str | None = None

    @property
    def canonical_story_id(self) -> str:
        """The story that is the canonical of this story's cluster."""
        return self.canonical_id or self.cluster_id

    def to_json(self) -> dict[str, Any]:
        return _drop_none(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DedupeResult:
        return cls(**data)


# --- extract ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entity:
    name: str  # normalised surface form, or the gazetteer's preferred name
    type: str  # person, org, place
    id: str | None = None  # Wikidata id when the gazetteer knows the actor
    count: int = 1


@dataclass(frozen=True)
class Claim:
    speaker: str
    cue: str
    kind: str  # direct or reported
    text: str
    start: int
    end: int
    speaker_id: str | None = None
    # Further parts of the same quotation, as (start, end): after an interrupting attribution
    # (“A,” he said, “B.”) or in the paragraphs a wire quote runs on into.
    parts: tuple[tuple[int, int], ...] = ()
    speaker_org: str | None = None  # for an unnamed source ("unnamed official"): whom they speak for

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Claim:
        fields = dict(data)
        fields["parts"] = tuple((int(s), int(e)) for s, e in fields.get("parts", ()))
        return cls(**fields)


@dataclass(frozen=True)
class Extraction:
    story_id: str
    entities: tuple[Entity, ...] = ()
    claims: tuple[Claim, ...] = ()
    topic_score: float = 0.0
    topic_reasons: tuple[str, ...] = ()
    skipped: str | None = None  # why extraction was skipped (e.g. not English)

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {
                "story_id": self.story_id,
                "entities": [dataclasses.asdict(e) for e in self.entities],
                "claims": [dataclasses.asdict(c) for c in self.claims],
                "topic_score": self.topic_score,
                "topic_reasons": list(self.topic_reasons),
                "skipped": self.skipped,
            }
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Extraction:
        return cls(
            story_id=data["story_id"],
            entities=tuple(Entity(**e) for e in data.get("entities", ())),
            claims=tuple(Claim.from_json(c) for c in data.get("claims", ())),
            topic_score=float(data.get("topic_score", 0.0)),
            topic_reasons=tuple(data.get("topic_reasons", ())),
            skipped=data.get("skipped"),
        )


# --- search ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchQuery:
    """What a user asks of the story index; every index adapter honours all of it."""

    text: str = ""  # words all match; "a phrase"; -word excludes
    entity: str | None = None  # a name or a Wikidata id
    speaker: str | None = None  # a claim's speaker: name or Wikidata id
    outlet: str | None = None
    language: str | None = None
    min_topic: float | None = None  # topic score at least this
    cluster: str | None = None  # only the copies of this dedupe cluster
    feed: str | None = None  # only stories first seen in this feed (its URL)
    ids: tuple[str, ...] = ()  # only these stories
    date_from: str | None = None  # ISO 8601 date or datetime, inclusive
    date_to: str | None = None
    sort: str = "relevance"  # relevance or newest
    size: int = 10
    offset: int = 0
    collapse: bool = True  # one result per dedupe cluster
    facets: bool = False  # top entities, speakers, outlets and a daily histogram


@dataclass(frozen=True)
class Source:
    """One outlet's copy of a story."""

    story_id: str
    outlet: str
    url: str
    published: str | None = None
    match: str = "new"  # how it joined the cluster: new (canonical), exact, near, revision
    similarity: float = 1.0


@dataclass(frozen=True)
class ClaimView:
    speaker: str
    cue: str
    kind: str
    text: str
    speaker_id: str | None = None


@dataclass(frozen=True)
class SearchHit:
    story_id: str
    title: str
    outlet: str
    url: str
    published: str | None
    snippet: str  # plain text (no HTML entities) with <mark>...</mark> around matches; … where cut
    score: float | None = None
    cluster_id: str | None = None
    sources: tuple[Source, ...] = ()
    topic_score: float = 0.0
    wire: str = ""
    language: str = ""
    claims: tuple[ClaimView, ...] = ()


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int


@dataclass(frozen=True)
class SearchResult:
    total: int  # clusters when collapsed, else stories
    hits: tuple[SearchHit, ...] = field(default_factory=tuple)
    facets: dict[str, tuple[FacetValue, ...]] = field(default_factory=dict)  # person, org, place, speaker, outlet
    histogram: tuple[FacetValue, ...] = ()  # stories per day (YYYY-MM-DD)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "hits": [dataclasses.asdict(h) for h in self.hits],
            "facets": {k: [dataclasses.asdict(v) for v in vs] for k, vs in self.facets.items()},
            "histogram": [dataclasses.asdict(v) for v in self.histogram],
        }


@dataclass(frozen=True)
class ClaimQuery:
    """Claims by a speaker (name or id) about something (words in the claim), newest first."""

    speaker: str | None = None
    about: str = ""
    date_from: str | None = None
    date_to: str | None = None
    size: int = 20


@dataclass(frozen=True)
class ClaimHit:
    """One claim as first made, and how often it was repeated across stories and outlets."""

    key: str
    speaker: str
    speaker_id: str | None
    cue: str
    kind: str
    text: str
    first_story_id: str
    first_title: str
    first_outlet: str
    first_published: str | None
    stories: int
    outlets: int


@dataclass(frozen=True)
class ClaimResult:
    total: int
    hits: tuple[ClaimHit, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "hits": [dataclasses.asdict(h) for h in self.hits]}
