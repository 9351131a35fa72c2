"""The claim development set (tests/gold/claims-dev/): the old set's schema, exact and unique spans.

The set is for tuning speaker resolution; the hard set stays held out. It follows the schema of
tests/gold/claims (split quotes annotated part by part) and adds the hard set's wrong-speaker tags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.claims_eval import load_gold
from tests.unit.test_gold_hard_1 import _load, _spans

DEV = Path(__file__).resolve().parents[1] / "gold" / "claims-dev"
FILES = sorted(DEV.glob("[0-9][0-9][0-9]-*.yaml"))

STORY_KEYS = {"id", "title", "topic", "text", "entities", "claims"}
CLAIM_KEYS = {"speaker", "cue", "kind", "text"}
OPTIONAL_CLAIM_KEYS = {"case"}
ENTITY_TYPES = {"person", "org", "place"}
TAGS = {
    # tests/gold/claims/README.md
    "straight", "curly", "guillemets", "single_quotes", "speaker_after", "speaker_before", "inverted",
    "pronoun", "role", "unnamed_role", "org_speaker", "metonym", "anonymous", "cataphoric_description",
    "split", "mid_sentence_split", "multi_sentence", "multi_paragraph", "no_local_cue", "according_to",
    "accused", "denied", "partial_quote", "document_source", "nested_cue", "question",
    # tests/gold/claims-hard/README.md: the traps this set concentrates on
    "publication", "relative_clause_trap", "apposition_trap", "last_mentioned_trap",
}


@pytest.fixture(scope="module", params=FILES, ids=[p.stem for p in FILES])
def story(request: pytest.FixtureRequest) -> tuple[Path, dict[str, Any]]:
    path: Path = request.param
    return path, _load(path)


def test_story_shape(story: tuple[Path, dict[str, Any]]) -> None:
    path, doc = story
    assert set(doc) == STORY_KEYS, set(doc) ^ STORY_KEYS
    assert doc["id"] == path.stem
    assert isinstance(doc["topic"], bool) and doc["title"].strip()
    paragraphs = doc["text"].split("\n\n")
    assert len(paragraphs) >= 3 and all(p and p.strip() == p and "\n" not in p for p in paragraphs)
    assert 150 <= len(doc["text"].split()) <= 350
    for entity in doc["entities"]:
        assert set(entity) == {"name", "type"} and entity["type"] in ENTITY_TYPES, entity


def test_claims_are_exact_unique_and_apart(story: tuple[Path, dict[str, Any]]) -> None:
    _, doc = story
    text = doc["text"]
    taken: list[tuple[int, int]] = []
    for claim in doc["claims"]:
        assert CLAIM_KEYS <= set(claim) <= CLAIM_KEYS | OPTIONAL_CLAIM_KEYS, claim
        assert claim["kind"] in {"direct", "reported"}
        assert claim["speaker"].strip() == claim["speaker"] and claim["speaker"]
        assert claim["cue"] in text, claim["cue"]
        assert set(claim.get("case") or []) <= TAGS, claim.get("case")
        start, end = _spans(text, claim["text"])
        assert all(end <= s or start >= e for s, e in taken), f"overlapping span {claim['text']!r}"
        taken.append((start, end))


def test_set_loads_in_the_benchmark() -> None:
    stories = load_gold(DEV)
    assert len(stories) >= 25
    assert sum(len(s["claims"]) for s in stories) >= 150
