"""Dedupe stage logic: copies of the same wire story, exact or edited, become one cluster.

A story's text is reduced to word 5-gram shingles of its normalised form; a MinHash signature
(60 permutations, 16-bit values) estimates Jaccard similarity, and with the shingle counts, the
containment of the shorter text in the longer. LSH bands (20 bands of 3 rows) find candidates.
Two stories are copies when the shorter is mostly contained in the longer (paragraphs dropped or
a local intro added still count) and their Jaccard is not negligible; two different stories
sharing a quote or a stock paragraph share too little of either to pass.

The state (candidates, signatures, clusters) lives behind the ``DedupeState`` port; the Redis
adapter runs the same decision atomically in a Lua script so racing copies agree.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import struct
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.models import CleanStory, DedupeResult
from pipeline.ports import Assignment, DedupeState

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "–": "-", "—": "-"})
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class DedupeOptions:
    num_perm: int = 60
    bands: int = 20  # rows per band = num_perm // bands
    shingle_words: int = 5
    containment: float = 0.55  # the shorter text's share found in the longer
    jaccard_floor: float = 0.15  # guards against a short text swallowed by a long roundup
    bucket_bits: int = 12  # LSH buckets per band and epoch (2**bits); see docs/DECISIONS.md
    seed: int = 20261127


def normalise_text(text: str) -> str:
    """Text reduced to what survives republishing: case, quote styles, punctuation and spacing go."""
    folded = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    return " ".join(_NON_WORD.sub(" ", folded).split())


def text_hash(text: str) -> str:
    """16 hex characters identifying the normalised text: exact copies share it."""
    return hashlib.sha256(normalise_text(text).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Fingerprint:
    text_hash: str  # 16 hex characters of the normalised text's hash
    size: int  # distinct shingles
    signature: bytes  # num_perm big-endian uint16 minimum hashes
    bands: bytes  # per band: 2-byte bucket, 2-byte remainder


def _permutations(options: DedupeOptions) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(options.seed)
    a = rng.integers(1, 2**63, size=options.num_perm, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=options.num_perm, dtype=np.uint64)
    return a, b


_PERMS: dict[DedupeOptions, tuple[np.ndarray, np.ndarray]] = {}


def shingles(text: str, words: int = 5) -> set[int]:
    tokens = normalise_text(text).split()
    if len(tokens) < words:
        return {zlib.crc32(" ".join(tokens).encode())} if tokens else set()
    return {zlib.crc32(" ".join(tokens[i : i + words]).encode()) for i in range(len(tokens) - words + 1)}


def fingerprint(text: str, options: DedupeOptions = DedupeOptions()) -> Fingerprint:
    """MinHash signature and LSH band keys of a text."""
    if options not in _PERMS:
        _PERMS[options] = _permutations(options)
    a, b = _PERMS[options]
    found = shingles(text, options.shingle_words) or {0}
    x = np.fromiter(found, dtype=np.uint64, count=len(found))
    with np.errstate(over="ignore"):
        # Multiply-shift hashing: (a*x + b) mod 2**64, top 16 bits; the minimum per permutation.
        hashed = (np.outer(a, x) + b[:, None]) >> np.uint64(48)
    signature = hashed.min(axis=1).astype(">u2").tobytes()
    rows = options.num_perm // options.bands
    band_keys = bytearray()
    for band in range(options.bands):
        chunk = signature[band * rows * 2 : (band + 1) * rows * 2]
        h = zlib.crc32(chunk, band)
        bucket = h >> (32 - options.bucket_bits)
        remainder = h & 0xFFFF
        band_keys += struct.pack(">HH", bucket, remainder)
    return Fingerprint(text_hash(text), len(found), signature, bytes(band_keys))


def similarity(a: Fingerprint, b: Fingerprint) -> tuple[float, float]:
    """(estimated Jaccard, estimated containment of the smaller shingle set in the larger)."""
    n = len(a.signature) // 2
    same = sum(1 for i in range(n) if a.signature[2 * i : 2 * i + 2] == b.signature[2 * i : 2 * i + 2])
    jaccard = same / n
    return jaccard, containment(jaccard, a.size, b.size)


def containment(jaccard: float, size_a: int, size_b: int) -> float:
    inter = jaccard * (size_a + size_b) / (1 + jaccard)
    return min(1.0, inter / max(1, min(size_a, size_b)))


def is_copy(jaccard: float, contained: float, options: DedupeOptions = DedupeOptions()) -> bool:
    """The rule the Redis script applies too (tests check they agree)."""
    return contained >= options.containment and jaccard >= options.jaccard_floor


def dedupe(
    story: CleanStory, state: DedupeState, options: DedupeOptions = DedupeOptions(), displaced: Sequence[str] = ()
) -> DedupeResult:
    """Put the story in the cluster of the copy it matches, or start a cluster: first seen is canonical.

    ``displaced``: worse copies of the same page this story replaced; it takes the place of the one in
    the window (its cluster, and its role as the cluster's canonical).
    """
    fp = fingerprint(story.text, options)
    others = [sid for sid in displaced if sid != story.story_id]
    found: Assignment = state.take_over(story.story_id, fp, others) if others else state.assign(story.story_id, fp)
    canonical = found.canonical_id or found.cluster_id
    return DedupeResult(
        story_id=story.story_id,
        text_hash=fp.text_hash,
        cluster_id=found.cluster_id,
        is_canonical=canonical == story.story_id,
        match=found.match,
        matched_story_id=found.matched_story_id,
        similarity=round(found.containment, 3) if found.match in ("exact", "near") else 1.0,
        canonical_id=canonical if canonical != found.cluster_id else None,
    )


# --- what an outlet changed ----------------------------------------------------------------


@dataclass(frozen=True)
class ParagraphChanges:
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[tuple[str, str], ...] = ()  # (canonical paragraph, this copy's paragraph)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def paragraph_changes(canonical: str, copy: str, limit: int = 20) -> ParagraphChanges:
    """Paragraphs a copy added, removed and edited against the canonical text (order ignored)."""
    ours = [p for p in canonical.split("\n\n") if p.strip()]
    theirs = [p for p in copy.split("\n\n") if p.strip()]
    key_ours = {normalise_text(p): p for p in ours}
    key_theirs = {normalise_text(p): p for p in theirs}
    only_ours = [p for k, p in key_ours.items() if k not in key_theirs]
    only_theirs = [p for k, p in key_theirs.items() if k not in key_ours]
    changed: list[tuple[str, str]] = []
    for old in list(only_ours):
        best, best_ratio = None, 0.0
        for new in only_theirs:
            ratio = difflib.SequenceMatcher(None, normalise_text(old), normalise_text(new), autojunk=False).ratio()
            if ratio > best_ratio:
                best, best_ratio = new, ratio
        if best is not None and best_ratio >= 0.6:
            changed.append((old, best))
            only_ours.remove(old)
            only_theirs.remove(best)
    return ParagraphChanges(tuple(only_theirs[:limit]), tuple(only_ours[:limit]), tuple(changed[:limit]))


# --- which wire a story came from ----------------------------------------------------------


@dataclass(frozen=True)
class WireRule:
    name: str
    pattern: re.Pattern[str]


def detect_wire(credit: str, credit_lines: Sequence[str], text: str, rules: Sequence[WireRule]) -> str:
    """The originating agency from the dateline credit, credit lines, then the text's first and last lines."""
    paragraphs = text.split("\n\n")
    places = [
        credit,
        *credit_lines,
        paragraphs[0][:300] if paragraphs else "",
        paragraphs[-1] if paragraphs else "",
    ]
    for place in places:
        if not place:
            continue
        for rule in rules:
            if rule.pattern.search(place):
                return rule.name
    return ""
