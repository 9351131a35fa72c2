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
    fetched_at: str | None = None
    raw_key: str = ""

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["authors"] = list(self.authors)
        return _drop_none(data)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CleanStory:
        return cls(**{**data, "authors": tuple(data.get("authors", ()))})


# --- dedupe ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DedupeResult:
    """Where the story sits among copies of the same text."""

    story_id: str
    text_hash: str
    cluster_id: str  # the story id of the cluster's canonical (first-seen) story
    is_canonical: bool

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

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
            claims=tuple(Claim(**c) for c in data.get("claims", ())),
            topic_score=float(data.get("topic_score", 0.0)),
            topic_reasons=tuple(data.get("topic_reasons", ())),
            skipped=data.get("skipped"),
        )


# --- search ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchQuery:
    """What a user asks of the story index; every index adapter honours all of it."""

    text: str = ""
    entity: str | None = None  # a name or a Wikidata id
    outlet: str | None = None
    date_from: str | None = None  # ISO 8601 date or datetime, inclusive
    date_to: str | None = None
    sort: str = "relevance"  # relevance or newest
    size: int = 10
    collapse: bool = True  # one result per dedupe cluster


@dataclass(frozen=True)
class Source:
    story_id: str
    outlet: str
    url: str
    published: str | None = None


@dataclass(frozen=True)
class SearchHit:
    story_id: str
    title: str
    outlet: str
    url: str
    published: str | None
    snippet: str  # HTML-escaped text with <mark>...</mark> around matches
    score: float | None = None
    cluster_id: str | None = None
    sources: tuple[Source, ...] = ()
    topic_score: float = 0.0


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: tuple[SearchHit, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "hits": [dataclasses.asdict(h) for h in self.hits],
        }
