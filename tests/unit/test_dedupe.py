"""Dedupe stage: text normalisation, text hashes and clusters with an in-memory state."""

# ruff: noqa: E501 - sample news paragraphs and bug reasons read better unbroken

from __future__ import annotations

import re

import pytest

from pipeline.dedupe import dedupe, normalise_text, text_hash
from pipeline.models import CleanStory

BASE = 'Peskov said NATO\'s "drills" near the border - held every year - were a provocation.'


@pytest.mark.parametrize(
    "variant",
    [
        "Peskov said NATO’s “drills” near the border – held every year – were a provocation.",  # curly, en dash
        "Peskov said NATO's «drills» near the border — held every year — were a provocation.",  # guillemets, em
        'PESKOV SAID NATO\'S "DRILLS" NEAR THE BORDER - HELD EVERY YEAR - WERE A PROVOCATION.',
        '  Peskov   said\nNATO\'s "drills"\tnear the border  -  held every year - were a provocation.  ',
        "Peskov said NATO's drills near the border, held every year, were a provocation!",
        "Peskov said „NATO's drills“ near the border (held every year) were a provocation",
        "Peskov said NATO\u2019s \u201cdrills\u201d near the border\u00a0- held every year - were a provocation.",
    ],
)
def test_normalise_text_equates_republishing_variants(variant: str) -> None:
    assert normalise_text(variant) == normalise_text(BASE)
    assert text_hash(variant) == text_hash(BASE)


def test_normalise_text_output() -> None:
    assert normalise_text("  The Kremlin’s “Warning” — Again!  ") == "the kremlin s warning again"
    assert normalise_text("") == ""


@pytest.mark.parametrize(
    "changed",
    [
        'Peskov said NATO\'s "drills" near the border - held every year - were not a provocation.',
        'Lavrov said NATO\'s "drills" near the border - held every year - were a provocation.',
        'Peskov said NATO\'s "drills" near the border - held every month - were a provocation.',
        'Peskov said NATO\'s "drills" near the border - held every year - were a provocation. More soon.',
    ],
)
def test_text_hash_differs_when_a_word_changes(changed: str) -> None:
    assert text_hash(changed) != text_hash(BASE)


def test_text_hash_shape() -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", text_hash(BASE))
    assert text_hash(BASE) == text_hash(BASE)


class DictDedupeState:
    """In-memory DedupeState: the first story to claim a hash holds it."""

    def __init__(self) -> None:
        self.holders: dict[str, str] = {}

    def claim(self, text_hash: str, story_id: str) -> str:
        return self.holders.setdefault(text_hash, story_id)


def _story(story_id: str, text: str) -> CleanStory:
    return CleanStory(
        story_id=story_id,
        url=f"https://wire.example/{story_id}",
        canonical_url=f"https://wire.example/{story_id}",
        feed_url="https://wire.example/rss",
        outlet="Wire",
        title="Drill",
        text=text,
    )


def test_dedupe_clusters() -> None:
    state = DictDedupeState()
    text = "NATO began a two-week air-defence exercise over the Baltic states on Friday, the alliance said."
    first = dedupe(_story("s1", text), state)
    assert first.story_id == "s1"
    assert first.cluster_id == "s1"
    assert first.is_canonical is True
    assert first.text_hash == text_hash(text)

    # a republished copy with different quotes and case joins the first story's cluster
    copy = dedupe(_story("s2", text.upper().replace("-", "–")), state)
    assert copy.story_id == "s2"
    assert copy.cluster_id == "s1"
    assert copy.is_canonical is False
    assert copy.text_hash == first.text_hash

    other = dedupe(
        _story("s3", "Finland said it would keep its eastern border closed until February."), state
    )
    assert other.cluster_id == "s3"
    assert other.is_canonical is True
    assert other.text_hash != first.text_hash

    # redelivery of the first story is idempotent: it is still the canonical one
    again = dedupe(_story("s1", text), state)
    assert again == first
    assert state.holders == {first.text_hash: "s1", other.text_hash: "s3"}
