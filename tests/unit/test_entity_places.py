"""Places the small model takes for people or organisations (issue 16, item 3), one wire-style story each.

Each rule that makes a name a place in the whole story has a story where it must, and stories where a
real person in a like position must stay a person. Real model, real config.
"""

# ruff: noqa: E501 - sample news sentences read better unbroken

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.extract import (
    ExtractOptions,
    check_entities,
    dateline_places,
    extract,
    extract_many,
)
from pipeline.models import CleanStory, Extraction

CONFIG = Path(__file__).resolve().parents[2] / "config"


def _story(text: str, story_id: str = "s1", dateline: str = "") -> CleanStory:
    return CleanStory(story_id, f"https://wire.example/{story_id}", f"https://wire.example/{story_id}",
                      "https://wire.example/rss", "Wire", "", text, language="en", dateline=dateline)


def _run(nlp: Any, options: ExtractOptions, text: str, dateline: str = "") -> Extraction:
    return extract(_story(text, dateline=dateline), nlp, options)


def _typed(x: Extraction, name: str) -> set[str]:
    """The types the story's entities give a name: one, when the story agrees with itself."""
    return {e.type for e in x.entities if e.name == name}


# --- a place in the whole story ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "dateline"),
    [
        # The dateline the clean stage took off the text.
        ("Azulmar has about 4,000 residents, the mayor said. Tourism has doubled since the bridge opened.", "AZULMAR"),
        # A dateline still opening the text, with a country and a credit, or with a dash only.
        ("AZULMAR, Portugal (Reuters) - The harbour was closed on Monday. Azulmar has about 4,000 residents, the mayor said.", ""),
        ("AZULMAR — The harbour was closed on Monday. Azulmar has about 4,000 residents, the mayor said.", ""),
        # After a locative preposition, in another sentence than the mention the model calls a person.
        ("Fishermen from Azulmar said the catch had fallen. Azulmar has about 4,000 residents.", ""),
        # The model's own place type for the name elsewhere in the story.
        ("Azulmar has about 4,000 residents, the mayor said. Tourism in Azulmar has doubled since 2020.", ""),
        # Before "-based", wherever the model does not tag it a person.
        ("Researchers from an Azulmar-based institute said the tiles were old. Azulmar has 4,000 residents.", ""),
        # A facility word after it: a place (the museum), whoever it may be named after.
        ("The Azulmar museum opened on Thursday with 3,000 tiles on display.", ""),
    ],
)
def test_a_place_shown_anywhere_in_the_story_is_a_place_in_all_of_it(
    nlp: Any, options: ExtractOptions, text: str, dateline: str
) -> None:
    assert _typed(_run(nlp, options, text, dateline), "Azulmar") == {"place"}


def test_a_county_named_elsewhere_makes_the_bare_name_a_place_and_so_the_one_listed_after_it(
    nlp: Any, options: ExtractOptions
) -> None:
    x = _run(nlp, options, "Dozens of homes were evacuated in County Cork on Tuesday. An orange warning stayed in place for Cork and Kerry until Wednesday.")
    assert _typed(x, "Cork") == _typed(x, "Kerry") == {"place"}


def test_a_coast_or_delta_after_a_name_makes_it_a_place_in_the_whole_story(nlp: Any, options: ExtractOptions) -> None:
    algarve = _run(nlp, options, "The film follows a family working the salt pans of the Algarve coast. Jury members praised its use of actors from the Algarve.")
    assert _typed(algarve, "Algarve") == {"place"}  # the model says organisation, twice
    danube = _run(nlp, options, "Drone fragments were found on the Danube. Allies discussed sending more surveillance assets to the Danube delta region.")
    assert _typed(danube, "Danube") == {"place"}


def test_a_county_the_model_calls_a_person_is_a_place(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, "Former US secretary of state John Kerry visited County Kerry on Monday. Kerry said the county had been generous.")
    assert _typed(x, "County Kerry") == {"place"}
    assert _typed(x, "John Kerry") == {"person"} and _typed(x, "Kerry") == set()  # he, counted under his full name
    assert [c.speaker for c in x.claims] == ["John Kerry"]


def test_cork_born_minister(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, "The plan was praised by Cork-born minister Mary Walsh, who said it was overdue.")
    assert _typed(x, "Cork") == {"place"} and _typed(x, "Mary Walsh") == {"person"}
    assert [c.speaker for c in x.claims] == ["Mary Walsh"]  # not Cork


def test_a_name_followed_by_a_country_and_a_pause_is_a_place(nlp: Any, options: ExtractOptions) -> None:
    from spacy.tokens import Span

    doc = nlp.make_doc("Flights to Cork, Ireland, were cancelled. Cork stayed cut off.")
    doc.ents = [Span(doc, 2, 3, label="PERSON"), Span(doc, 4, 5, label="GPE"), Span(doc, 9, 10, label="ORG")]
    check_entities(doc, options.entity_rules)
    assert [(e.text, e.label_) for e in doc.ents] == [("Cork", "GPE"), ("Ireland", "GPE"), ("Cork", "GPE")]


def test_a_person_followed_by_a_country_stays_a_person(nlp: Any, options: ExtractOptions) -> None:
    from spacy.tokens import Span

    doc = nlp.make_doc("Walsh, Ireland's foreign minister, said the talks had failed.")
    doc.ents = [Span(doc, 0, 1, label="PERSON"), Span(doc, 2, 3, label="GPE")]
    check_entities(doc, options.entity_rules)
    assert doc.ents[0].label_ == "PERSON"


@pytest.mark.parametrize(
    ("dateline", "places"),
    [("CORK, Ireland", ("CORK", "Ireland")), ("BRUSSELS, Nov 20", ("BRUSSELS",)), ("", ())],
)
def test_dateline_places(dateline: str, places: tuple[str, ...]) -> None:
    assert dateline_places(dateline) == places


# --- real people in the same positions stay people ---------------------------------------------------


def test_a_person_speaking_in_a_place_stays_a_person(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, "Foreign Minister Anna Smith arrived on Monday. Smith said in Brussels that the talks had failed.")
    assert _typed(x, "Anna Smith") == {"person"} and _typed(x, "Brussels") == {"place"}
    assert [c.speaker for c in x.claims] == ["Anna Smith"]


def test_a_surname_after_a_preposition_is_the_person_named_in_full(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, "Foreign Minister Mary Walsh met officials in Dublin. Critics have piled pressure on Walsh since the vote.")
    assert {e.name: (e.type, e.count) for e in x.entities if e.name.endswith("Walsh")} == {"Mary Walsh": ("person", 2)}


def test_a_name_with_a_title_stays_a_person_beside_a_county_of_that_name(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, "Flooding hit County Kerry on Tuesday. Mr Kerry warned that the roads were closed.")
    assert _typed(x, "Kerry") == {"person"}


def test_a_name_that_speaks_stays_a_person_beside_a_county_of_that_name(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, "Rain fell across County Kerry. Kerry said on Monday that the talks would resume, according to his office.")
    assert _typed(x, "County Kerry") == {"place"} and _typed(x, "Kerry") == {"person"}


def test_a_facility_named_after_a_person_does_not_make_her_a_place(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, "Visitors queued at the Walsh museum on Monday. It is named after the painter Mary Walsh. Walsh died in 1990.")
    assert {e.name: (e.type, e.count) for e in x.entities if e.type == "person"} == {"Mary Walsh": ("person", 2)}


def test_a_person_from_a_place_based_there(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, "A Moscow-based researcher, Pavel Ostrovsky, said both sides were signalling resolve.")
    assert _typed(x, "Pavel Ostrovsky") == {"person"} and [c.speaker for c in x.claims] == ["Pavel Ostrovsky"]


# --- demonyms, vessels, surnames the model calls organisations ----------------------------------------


def test_demonyms_are_not_people_or_named_speakers(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, "The Lithuanian said he had been paid. Lithuanians said they would vote.")
    assert not [e for e in x.entities if e.name.startswith("Lithuanian")]
    assert [c.speaker for c in x.claims] == ["unnamed Lithuanian", "unnamed Lithuanians"]


def test_vessels_named_after_their_kind_are_not_organisations_or_people(nlp: Any, options: ExtractOptions) -> None:
    text = (
        "The tanker, the Marit Solveig, sails under the flag of a small Pacific island state. The aircraft, identified as "
        "an Ilyushin Il-20, did not file a flight plan. Divers from the Romanian minehunter Sfantu Vlad placed a charge on the mine."
    )
    x = _run(nlp, options, text)
    assert not [e for e in x.entities if e.type in ("person", "org")], x.entities


def test_a_surname_the_model_calls_an_organisation_is_the_person(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, '"This is a pattern we have seen," said Lieutenant Colonel Kaarel Mets, a spokesman for the Estonian Air Force. Mets said the jets took off from Amari air base.')
    assert "Mets" not in {e.name for e in x.entities}
    assert [c.speaker for c in x.claims] == ["Kaarel Mets", "Kaarel Mets"]


def test_a_score_and_a_shouted_dateline_are_not_part_of_names(nlp: Any, options: ExtractOptions) -> None:
    x = _run(nlp, options, "CONSTANTA, Romania — Dunmore Rovers won on Saturday, beating Castlebridge United 2-1 in the cup final.")
    names = {e.name: e.type for e in x.entities}
    assert names["Castlebridge United"] == "org" and names["Constanta"] == "place"


# --- one spelling per described speaker, whichever story it is in ------------------------------------


@pytest.mark.parametrize(
    ("opening", "inside", "speaker"),
    [
        ("Troops arrived on Monday.\n\nLithuanian officials said the brigade would reach full strength by 2027.",
         "On Monday, Lithuanian officials said the brigade would arrive.", "unnamed Lithuanian officials"),
        ("The museum opened on Thursday.\n\nCity officials said they expected 400,000 visitors a year.",
         "On Friday, city officials said they expected 400,000 visitors a year.", "unnamed city officials"),
        ("Firefighters battled the blaze overnight.\n\nWeather forecasters said a cooler change was expected on Friday.",
         "On Thursday, weather forecasters said a cooler change was expected on Friday.", "weather forecasters"),
        ("Officials said the road would reopen.", "Later, officials said the bridge was safe.", "unnamed officials"),
    ],
)
def test_a_described_speaker_has_one_spelling_across_stories(
    nlp: Any, options: ExtractOptions, opening: str, inside: str, speaker: str
) -> None:
    """Opening a sentence or not, the facet counts them as one speaker."""
    first, second = extract_many([_story(opening, "a"), _story(inside, "b")], nlp, options)
    assert [c.speaker for c in first.claims] == [c.speaker for c in second.claims] == [speaker]
