"""The gazetteer and topic in config/: well-formed, ids valid, links consistent."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import yaml

from pipeline.extract import load_gazetteer, load_topic

CONFIG = Path(__file__).resolve().parents[2] / "config"
ENTRIES = yaml.safe_load((CONFIG / "gazetteer.yaml").read_text())["entities"]


def test_entries_are_well_formed() -> None:
    for e in ENTRIES:
        assert set(e) <= {"id", "name", "type", "aliases", "demonym", "government"}, e
        assert e["type"] in ("person", "org", "place"), e
        assert e["id"] is None or re.fullmatch(r"Q[1-9]\d*", e["id"]), e
    assert len(load_gazetteer(ENTRIES)) == len(ENTRIES)


def test_ids_and_surface_forms_are_unique() -> None:
    ids = Counter(e["id"] for e in ENTRIES if e["id"])
    assert [i for i, n in ids.items() if n > 1] == []
    forms = Counter(f.casefold() for e in ENTRIES for f in (e["name"], *e.get("aliases", [])))
    assert [f for f, n in forms.items() if n > 1] == []


def test_governments_point_at_states_in_the_gazetteer() -> None:
    states = {e["id"] for e in ENTRIES if e["type"] == "place" and e.get("demonym")}
    for e in ENTRIES:
        if e.get("government"):
            assert e["government"] in states | {"Q458"}, e


def test_topic_entities_are_in_the_gazetteer() -> None:
    topic = load_topic(yaml.safe_load((CONFIG / "topic.yaml").read_text()))
    assert set(topic.entity_ids) <= {e["id"] for e in ENTRIES if e["id"]}
    assert topic.terms and topic.saturation > 0
