"""Dedupe stage logic: copies of the same text become one cluster."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from pipeline.models import CleanStory, DedupeResult
from pipeline.ports import DedupeState

_QUOTES = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "–": "-", "—": "-"}
)
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalise_text(text: str) -> str:
    """Text reduced to what survives republishing: case, quote styles, punctuation and spacing go."""
    folded = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()
    return " ".join(_NON_WORD.sub(" ", folded).split())


def text_hash(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode()).hexdigest()[:32]


def dedupe(story: CleanStory, state: DedupeState) -> DedupeResult:
    """Find the cluster of exact copies the story belongs to; the first seen is canonical."""
    digest = text_hash(story.text)
    holder = state.claim(digest, story.story_id)
    return DedupeResult(
        story_id=story.story_id,
        text_hash=digest,
        cluster_id=holder,
        is_canonical=holder == story.story_id,
    )
