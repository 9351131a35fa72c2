"""Validation of the hard claim gold set, files 101-199 (tests/gold/claims-hard/)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

GOLD_DIR = Path(__file__).resolve().parents[1] / "gold" / "claims-hard"
FILES = sorted(GOLD_DIR.glob("1[0-9][0-9]-*.yaml"))

TOP_REQUIRED = {"id", "title", "topic", "style", "text", "claims"}
TOP_OPTIONAL = {"traps"}
CLAIM_REQUIRED = {"speaker", "speaker_type", "cue", "kind", "text", "case"}
CLAIM_OPTIONAL = {"org", "also"}
KINDS = {"direct", "reported", "fragment"}
SPEAKER_TYPES = {"person", "organisation", "anonymous"}
STYLES = {"us", "uk"}

# Tags a claim may carry; the README explains each one.
CLAIM_TAGS = {
    # cues outside a basic verb list
    "cue_called", "cue_asked", "cue_wrote", "cue_tweeted", "cue_posted", "cue_told_reporters",
    "cue_statement", "cue_statement_noverb", "cue_colon", "cue_quoted_as_saying",
    "cue_according_to", "cue_argued", "cue_acknowledged", "cue_conceded", "cue_predicted",
    "cue_vowed", "cue_pledged", "cue_urged", "cue_insisted", "cue_recalled", "cue_quipped",
    "cue_countered", "cue_complained", "cue_signalled", "cue_announced", "cue_testified",
    "cue_memo", "cue_told_media", "cue_television", "cue_telegram", "cue_noun", "cue_described",
    "cue_warned", "cue_added",
    # quote structure
    "fragment", "split", "multi_sentence", "partial_quote", "nested", "reported_no_quotes",
    # speaker resolution
    "speaker_after", "inverted", "pronoun", "role", "anonymous", "org_speaker", "publication",
    "relative_clause_trap", "apposition_trap", "last_mentioned_trap",
}
# Tags for quoted or speech-like spans that are NOT claims.
TRAP_TAGS = {"scare_quote", "title", "negated", "hypothetical", "say_idiom", "no_content"}


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    return data


@pytest.fixture(scope="module", params=FILES, ids=[p.stem for p in FILES])
def story(request: pytest.FixtureRequest) -> tuple[Path, dict[str, Any]]:
    path: Path = request.param
    return path, _load(path)


def test_story_shape(story: tuple[Path, dict[str, Any]]) -> None:
    path, doc = story
    keys = set(doc)
    assert TOP_REQUIRED <= keys, f"missing {TOP_REQUIRED - keys}"
    assert keys <= TOP_REQUIRED | TOP_OPTIONAL, f"unknown keys {keys - TOP_REQUIRED - TOP_OPTIONAL}"
    assert doc["id"] == path.stem
    assert re.fullmatch(r"1\d\d-[a-z0-9]+(?:-[a-z0-9]+)*", doc["id"])
    assert isinstance(doc["title"], str) and doc["title"].strip()
    assert isinstance(doc["topic"], bool)
    assert doc["style"] in STYLES
    assert isinstance(doc["claims"], list)


def test_paragraphs(story: tuple[Path, dict[str, Any]]) -> None:
    _, doc = story
    text = doc["text"]
    assert isinstance(text, str)
    assert text == text.strip(), "leading or trailing whitespace"
    paragraphs = text.split("\n\n")
    assert len(paragraphs) >= 3
    for para in paragraphs:
        assert para.strip() == para and para, f"blank or padded paragraph: {para[:40]!r}"
        assert "\n" not in para, f"single newline inside a paragraph: {para[:40]!r}"
    words = len(text.split())
    assert 180 <= words <= 450, f"{words} words"


def _spans(text: str, needle: str) -> tuple[int, int]:
    assert needle, "empty span"
    assert text.count(needle) == 1, f"not a unique substring ({text.count(needle)}x): {needle!r}"
    start = text.find(needle)
    return start, start + len(needle)


def test_claims(story: tuple[Path, dict[str, Any]]) -> None:
    _, doc = story
    text = doc["text"]
    taken: list[tuple[int, int]] = []
    for claim in doc["claims"]:
        keys = set(claim)
        assert CLAIM_REQUIRED <= keys, f"missing {CLAIM_REQUIRED - keys} in {claim}"
        assert keys <= CLAIM_REQUIRED | CLAIM_OPTIONAL, f"unknown {keys - CLAIM_REQUIRED - CLAIM_OPTIONAL}"
        assert claim["kind"] in KINDS
        assert claim["speaker_type"] in SPEAKER_TYPES
        speaker = claim["speaker"]
        assert isinstance(speaker, str) and speaker.strip() == speaker and speaker
        assert (claim["speaker_type"] == "anonymous") == speaker.startswith("unnamed "), speaker
        if "org" in claim:
            assert claim["speaker_type"] == "anonymous" and claim["org"]
        cue = claim["cue"]
        assert isinstance(cue, str) and cue
        assert cue in text, f"cue {cue!r} not in text"
        tags = claim["case"]
        assert isinstance(tags, list) and set(tags) <= CLAIM_TAGS, f"bad tags {tags}"
        parts = [claim["text"], *claim.get("also", [])]
        for part in parts:
            assert isinstance(part, str)
            span = _spans(text, part)
            if "nested" in tags:
                # a nested claim lies inside the reported clause of its outer claim
                outer = [c["text"] for c in doc["claims"] if c is not claim and part in c["text"]]
                assert outer, f"nested claim not inside another claim: {part!r}"
                continue
            assert all(span[1] <= s or span[0] >= e for s, e in taken), f"overlapping span {part!r}"
            taken.append(span)
        if claim["kind"] == "fragment":
            assert 1 <= len(claim["text"].split()) <= 3, claim["text"]
            assert "fragment" in tags
        if "also" in claim:
            assert claim["kind"] == "direct" and "split" in tags
        if claim["speaker_type"] == "anonymous":
            assert "anonymous" in tags
    for trap in doc.get("traps", []):
        assert set(trap) == {"text", "case"}, trap
        assert set(trap["case"]) <= TRAP_TAGS and trap["case"], trap
        start, end = _spans(text, trap["text"])
        assert all(end <= s or start >= e for s, e in taken), f"trap inside a claim: {trap['text']!r}"


def test_set_size() -> None:
    docs = [_load(p) for p in FILES]
    claims = [c for d in docs for c in d["claims"]]
    assert len(docs) >= 62
    assert len(claims) >= 420
    assert sum(1 for d in docs if not d["claims"]) >= 5
    assert len({d["id"] for d in docs}) == len(docs)
    styles = Counter(d["style"] for d in docs)
    assert min(styles["us"], styles["uk"]) >= len(docs) // 3, styles


if __name__ == "__main__":  # totals for the report: python tests/unit/test_gold_hard_1.py
    all_docs = [_load(p) for p in FILES]
    all_claims = [c for d in all_docs for c in d["claims"]]
    print(f"stories {len(all_docs)}  claims {len(all_claims)}  empty {sum(1 for d in all_docs if not d['claims'])}")
    print("styles", dict(Counter(d["style"] for d in all_docs)))
    print("kinds", dict(Counter(c["kind"] for c in all_claims)))
    print("speaker types", dict(Counter(c["speaker_type"] for c in all_claims)))
    print("claim tags", dict(sorted(Counter(t for c in all_claims for t in c["case"]).items())))
    print("trap tags", dict(sorted(Counter(t for d in all_docs for tr in d.get("traps", []) for t in tr["case"]).items())))
