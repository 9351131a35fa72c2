"""The interfaces stages and tasks need; adapters in ``workers/adapters`` implement them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.models import ClaimQuery, ClaimResult, SearchQuery, SearchResult


@dataclass(frozen=True)
class HttpResponse:
    url: str  # final URL after redirects
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes


class HttpFetcher(Protocol):
    def get(self, url: str, headers: Mapping[str, str] | None = None) -> HttpResponse:
        """GET with the client's limits; raises TransientError or PermanentError subclasses."""
        ...


class RawStore(Protocol):
    def put(self, body: bytes) -> str:
        """Store bytes; return their content address (idempotent)."""
        ...

    def get(self, key: str) -> bytes: ...


class StageStore(Protocol):
    """Results of each stage for a story, kept between tasks so messages stay small."""

    def save(self, stage: str, story_id: str, data: Mapping[str, Any]) -> None: ...

    def load(self, stage: str, story_id: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Assignment:
    """The dedupe state's answer for one story."""

    cluster_id: str
    match: str  # new, exact, near, revision
    matched_story_id: str | None = None
    jaccard: float = 1.0
    containment: float = 1.0
    # The cluster's canonical story when it is not the one whose id the cluster carries (a better copy of
    # the same page took that story's place); None when the cluster id names the canonical.
    canonical_id: str | None = None


class DedupeState(Protocol):
    def assign(self, story_id: str, fingerprint: Any) -> Assignment:
        """Atomically find the story's cluster among the window's stories and record the story in it."""
        ...

    def take_over(self, story_id: str, fingerprint: Any, displaced: Sequence[str]) -> Assignment:
        """As ``assign``, for a better copy of a page whose earlier copies (``displaced``) it replaces:
        those leave the window, and the story takes the place of the one found there (its cluster, and
        its role as that cluster's canonical), so the copies already in that cluster stay with it."""
        ...


class StoryIndex(Protocol):
    def ensure_ready(self) -> None:
        """Create whatever the index needs (template, first version, aliases); idempotent."""
        ...

    def put(self, doc: Mapping[str, Any]) -> None:
        """Write one story document under its ``story_id`` (same id, same document)."""
        ...

    def put_many(self, docs: Iterable[Mapping[str, Any]]) -> dict[str, str]:
        """Write a batch; one bad document never fails the others. Returns errors by story id."""
        ...

    def delete(self, story_ids: Iterable[str]) -> set[str]:
        """Remove these stories (one absent is no error); returns those that were there."""
        ...

    def get(self, story_id: str) -> dict[str, Any] | None: ...

    def present(self, story_ids: Iterable[str]) -> set[str]:
        """Which of these stories are searchable now."""
        ...

    def search(self, query: SearchQuery) -> SearchResult: ...

    def search_claims(self, query: ClaimQuery) -> ClaimResult:
        """Distinct claims by a speaker about something, with when first made and how often repeated."""
        ...

    def select_page(self, query: SearchQuery, after: str | None, size: int) -> list[dict[str, Any]]:
        """Whole documents matching the query, in story id order after ``after`` (resumable paging)."""
        ...

    def count(self) -> int: ...

    def refresh(self) -> None:
        """Make every write so far visible to search (the bulk writer calls it after a write, paced)."""
        ...


@dataclass(frozen=True)
class Evidence:
    """What the boilerplate memory knows of one paragraph: on how many stories of an outlet, on how many outlets."""

    stories: int
    outlets: int


class BoilerplateMemory(Protocol):
    """Which paragraphs each outlet repeats across its stories, shared by all workers."""

    def evidence(self, outlet: str, keys: Iterable[str], excluding: str | None = None) -> Mapping[str, Evidence]:
        """For each paragraph key seen before: on how many stories of this outlet, on how many outlets.

        ``excluding``: a story whose own sighting is not counted (a story seen before, cleaned again:
        its evidence comes from the other stories only)."""
        ...

    def record(self, outlet: str, story_id: str, paragraphs: Mapping[str, str]) -> None:
        """Count this story's candidate paragraphs (key -> text) for its outlet; idempotent per story."""
        ...
