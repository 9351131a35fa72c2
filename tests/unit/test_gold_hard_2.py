"""The hard claim gold set, prefix 2 (tests/gold/claims-hard/2NN-*.yaml): well-formed and exact."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

GOLD = Path(__file__).resolve().parents[1] / "gold" / "claims-hard"
FILES = sorted(GOLD.glob("2[0-9][0-9]-*.yaml"))

STORY_KEYS = {"id", "title", "topic", "style", "text", "claims"}
OPTIONAL_STORY_KEYS = {"non_claims"}
CLAIM_KEYS = {"speaker", "speaker_type", "cue", "kind", "text", "case"}
OPTIONAL_CLAIM_KEYS = {"org", "also"}
KINDS = {"direct", "reported", "fragment"}
SPEAKER_TYPES = {"person", "organisation", "anonymous"}
STYLES = {"eu", "wire"}
OPEN_QUOTES = "\"“«‘"
# The tag vocabulary is described in NOTES-2.md.
CUE_TAGS = {
    "cue_called", "cue_asked", "cue_wrote", "cue_tweeted", "cue_posted", "cue_told_reporters",
    "cue_statement", "cue_statement_noverb", "cue_colon", "cue_quoted_as_saying", "according_to",
    "cue_argued", "cue_acknowledged", "cue_conceded", "cue_predicted", "cue_vowed", "cue_pledged",
    "cue_urged", "cue_insisted", "cue_recalled", "cue_quipped", "cue_countered", "cue_complained",
    "cue_signalled", "cue_announced", "cue_testified", "cue_memo", "cue_told_media",
    "cue_television", "cue_telegram", "cue_noun",
}
OTHER_TAGS = {
    "fragment", "multi_sentence", "split", "speaker_after", "inverted", "reported", "partial_quote",
    "nested", "anonymous", "pronoun", "role", "org_speaker", "publication_speaker",
    "relative_clause_trap", "apposition_trap", "last_mentioned_trap",
}
NON_CLAIM_TAGS = {"scare_quote", "title", "negated", "hypothetical"}


def _load(path: Path) -> dict[str, Any]:
    story = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(story, dict), path
    return story


STORIES = {p.stem: _load(p) for p in FILES}


def test_set_size() -> None:
    claims = [c for s in STORIES.values() for c in s["claims"]]
    assert len(STORIES) >= 62
    assert len(claims) >= 420
    assert sum(1 for s in STORIES.values() if not s["claims"]) >= 5
    assert sum(1 for s in STORIES.values() if len(s["claims"]) >= 12) >= 3
    styles = Counter(s["style"] for s in STORIES.values())
    assert min(styles["eu"], styles["wire"]) >= len(STORIES) // 3, styles


@pytest.mark.parametrize("stem", sorted(STORIES))
def test_story_is_well_formed(stem: str) -> None:
    s = STORIES[stem]
    assert STORY_KEYS <= set(s) <= STORY_KEYS | OPTIONAL_STORY_KEYS
    assert s["id"] == stem
    assert re.fullmatch(r"2(0[1-9]|[1-9][0-9])-[a-z0-9]+(-[a-z0-9]+)*", stem)
    assert isinstance(s["title"], str) and s["title"].strip()
    assert isinstance(s["topic"], bool)
    assert s["style"] in STYLES
    text = s["text"]
    assert isinstance(text, str) and text == text.strip()
    paragraphs = text.split("\n\n")
    assert all(p and p == p.strip() and "\n" not in p for p in paragraphs), "one blank line between paragraphs"
    assert 180 <= len(text.split()) <= 450
    assert isinstance(s["claims"], list)


@pytest.mark.parametrize("stem", sorted(STORIES))
def test_claims_are_exact_and_unique(stem: str) -> None:
    s = STORIES[stem]
    text = s["text"]
    for c in s["claims"]:
        assert CLAIM_KEYS <= set(c) <= CLAIM_KEYS | OPTIONAL_CLAIM_KEYS, c
        assert c["kind"] in KINDS, c
        assert c["speaker_type"] in SPEAKER_TYPES, c
        assert isinstance(c["speaker"], str) and c["speaker"].strip(), c
        assert c["speaker"] not in ("he", "she", "they"), c
        if c["speaker_type"] == "anonymous":
            assert c["speaker"].startswith("unnamed "), c
        else:
            assert "org" not in c, c
        assert c["cue"] == ":" or c["cue"] in text, c
        tags = c["case"]
        assert isinstance(tags, list) and set(tags) <= CUE_TAGS | OTHER_TAGS, c
        spans = [c["text"], *c.get("also", [])]
        for span in spans:
            assert isinstance(span, str) and span == span.strip() and span, c
            assert text.count(span) == 1, f"not an exact unique substring: {span!r}"
        start = text.find(c["text"])
        if c["kind"] in ("direct", "fragment"):
            assert text[start - 1] in OPEN_QUOTES, f"no opening quote before {c['text']!r}"
        if c["kind"] == "fragment":
            assert 1 <= len(c["text"].split()) <= 3, c
            assert "fragment" in tags, c
        if "also" in c:
            assert "split" in tags and c["also"], c
            assert all(text.find(a) > start for a in c["also"]), c
        if c["kind"] == "reported":
            assert not c["text"].startswith("that "), c
            assert not c["text"].endswith("."), c


@pytest.mark.parametrize("stem", sorted(STORIES))
def test_non_claims_are_exact(stem: str) -> None:
    s = STORIES[stem]
    claim_spans = {c["text"] for c in s["claims"]}
    for n in s.get("non_claims", []):
        assert set(n) == {"text", "case"}, n
        assert n["case"] in NON_CLAIM_TAGS, n
        assert n["text"] in s["text"], n
        assert n["text"] not in claim_spans, n


def test_claims_are_not_duplicated() -> None:
    for stem, s in STORIES.items():
        keys = Counter((c["speaker"], c["text"]) for c in s["claims"])
        assert [k for k, n in keys.items() if n > 1] == [], stem
