"""The failure classes of issue 16, one small story each, written for this test (real model, real config)."""

# ruff: noqa: E501 - sample news sentences read better unbroken

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.claims import load_cues, looks_like_title, verb_forms
from pipeline.extract import (
    ExtractOptions,
    extract,
    extract_many,
    normalise_person,
)
from pipeline.models import Claim, CleanStory, Extraction

CONFIG = Path(__file__).resolve().parents[2] / "config"


def _story(text: str, story_id: str = "s1") -> CleanStory:
    return CleanStory(story_id, f"https://wire.example/{story_id}", f"https://wire.example/{story_id}",
                      "https://wire.example/rss", "Wire", "", text, language="en")


def _claims(nlp: Any, options: ExtractOptions, text: str) -> list[Claim]:
    return list(extract(_story(text), nlp, options).claims)


def _only(nlp: Any, options: ExtractOptions, text: str) -> Claim:
    claims = _claims(nlp, options, text)
    assert len(claims) == 1, claims
    return claims[0]


# --- the lexicon -------------------------------------------------------------------------------


def test_lexicon_has_a_few_hundred_forms_and_inflects_bases() -> None:
    cues = load_cues(yaml.safe_load((CONFIG / "cues.yaml").read_text(encoding="utf-8")))
    assert len(cues.verbs) > 400
    assert {"tweeted", "conceded", "argued", "wrote", "told", "posted"} <= cues.verbs
    assert "asked" in cues.quote_only and "asked" not in cues.verbs  # a question is not a claim of a clause
    assert {"called", "described", "dubbed"} <= cues.fragment_verbs
    assert verb_forms("deny") == {"deny", "denies", "denied", "denying"}
    assert "believe" not in cues.verbs  # thought verbs make claims of narration


# --- cues outside the old verb list ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "speaker", "cue", "content"),
    [
        ('"We will not be intimidated by anyone at all," Mayor Tom Brady wrote on social media.', "Tom Brady", "wrote", "We will not be intimidated by anyone at all"),
        ("Mayor Tom Brady tweeted that the bridge would reopen by Friday.", "Tom Brady", "tweeted", "the bridge would reopen by Friday"),
        ('"Why now?" Senator Maria Lopez asked.', "Maria Lopez", "asked", "Why now?"),
        ('Chancellor Anna Weber on tariffs: "They will hurt our exporters more than anyone else."', "Anna Weber", ":", "They will hurt our exporters more than anyone else."),
        ('The agency TASS quoted Dmitry Peskov as saying "the decision is a provocation aimed at Moscow".', "Dmitry Peskov", "saying", "the decision is a provocation aimed at Moscow"),
        ("The Times wrote in an editorial that the government had lost control of its agenda.", "Times", "wrote", "the government had lost control of its agenda"),
    ],
)
def test_cues_beyond_said(nlp: Any, options: ExtractOptions, text: str, speaker: str, cue: str, content: str) -> None:
    claim = _only(nlp, options, text)
    assert (claim.speaker, claim.cue, claim.text) == (speaker, cue, content)


# --- fragments, titles, scare quotes -----------------------------------------------------------


def test_attributed_fragment_is_a_fragment_claim(nlp: Any, options: ExtractOptions) -> None:
    claim = _only(nlp, options, 'Senator Maria Lopez called the plan "reckless" on Monday.')
    assert (claim.kind, claim.text, claim.speaker, claim.cue) == ("fragment", "reckless", "Maria Lopez", "called")


def test_scare_quotes_and_names_are_not_claims(nlp: Any, options: ExtractOptions) -> None:
    text = (
        'Critics have long mocked the so-called "peace dividend", and a group called "Borealis Cyber Army" '
        'claimed the attack.\n\nThe BBC series "Inside the Kremlin" drew two million viewers.\n\n'
        'The exercise, codenamed "Steadfast Shield", ended on Friday.'
    )
    assert _claims(nlp, options, text) == []


def test_quoted_title_near_a_speaker_is_not_their_quote(nlp: Any, options: ExtractOptions) -> None:
    claims = _claims(nlp, options, 'Defence Minister Jan Novak said the tanker "Eagle Star" would be inspected.\n\n"Operation Baltic Sentry" will continue, he said.')
    assert all("Eagle Star" != c.text and "Operation Baltic Sentry" != c.text for c in claims), claims


def test_looks_like_title() -> None:
    assert looks_like_title("Meet the Press")
    assert looks_like_title("Amber Lantern")
    assert not looks_like_title("reckless")
    assert not looks_like_title("We Will Win.")


# --- one quotation, one claim ------------------------------------------------------------------


def test_split_quote_is_one_claim_with_parts(nlp: Any, options: ExtractOptions) -> None:
    text = '"We are ready," Senator Maria Lopez said, "and we will act if we have to."'
    claim = _only(nlp, options, text)
    assert claim.text == "We are ready"
    assert [text[s:e] for s, e in claim.parts] == ["and we will act if we have to."]


def test_quote_running_over_paragraphs_is_one_claim(nlp: Any, options: ExtractOptions) -> None:
    text = '"The first part is long enough to count," said Senator Maria Lopez. "It goes on here.\n\n"And it ends in the next paragraph."'
    claims = [c for c in _claims(nlp, options, text) if c.kind == "direct"]
    assert len(claims) == 2, claims  # two quotations, the second over two paragraphs
    assert [text[s:e] for s, e in claims[1].parts] == ["And it ends in the next paragraph."]


def test_claims_never_start_with_punctuation(nlp: Any, options: ExtractOptions) -> None:
    text = "The minister, speaking in Riga, said, that the border would stay open.\n\n«, we will see» , Lopez said on Monday."
    for claim in _claims(nlp, options, text):
        assert claim.text[:1].isalnum() or claim.text[:1] in "\"“«‘", claim


# --- speakers ----------------------------------------------------------------------------------


def test_speaker_is_the_subject_not_a_person_in_its_apposition(nlp: Any, options: ExtractOptions) -> None:
    claim = _only(nlp, options, '"This is a dangerous escalation," said John Hale, an adviser to Prime Minister Viktor Orban, on Monday.')
    assert claim.speaker == "John Hale"


def test_speaker_is_the_subject_not_a_person_in_a_relative_clause(nlp: Any, options: ExtractOptions) -> None:
    claim = _only(nlp, options, "Defence Minister Jan Novak, who met Viktor Orban in Budapest, said the talks had been useful.")
    assert claim.speaker == "Jan Novak"


def test_pronoun_goes_to_the_speaker_named_before_not_the_last_person(nlp: Any, options: ExtractOptions) -> None:
    text = "Defence Minister Jan Novak said the plan had the backing of Viktor Orban and Karl Weiss.\n\nHe added that the first troops would arrive in May."
    claims = _claims(nlp, options, text)
    assert [c.speaker for c in claims] == ["Jan Novak", "Jan Novak"], claims


def test_publication_as_speaker(nlp: Any, options: ExtractOptions) -> None:
    claim = _only(nlp, options, "The Times wrote in an editorial that the government had lost control of its agenda.")
    assert claim.speaker == "Times"


def test_unnamed_sources_recorded_as_such(nlp: Any, options: ExtractOptions) -> None:
    text = (
        "A senior NATO official said the alliance had seen no change in Russia's posture.\n\n"
        '"The border will stay closed until further notice," an official at the Interior Ministry told reporters.'
    )
    first, second = _claims(nlp, options, text)
    assert (first.speaker, first.speaker_org) == ("unnamed senior official", "NATO")
    assert (second.speaker, second.speaker_org) == ("unnamed official", "Interior Ministry")


def test_one_speaker_whatever_the_case(nlp: Any, options: ExtractOptions) -> None:
    text = "Officials said the talks would resume on Monday. Later, officials said the venue had not been chosen."
    assert {c.speaker for c in _claims(nlp, options, text)} == {"unnamed officials"}


@pytest.mark.parametrize(
    ("raw", "name"),
    [("Mr Smith", "Smith"), ("President Joe Biden", "Joe Biden"), ("Dr. Anna Weber", "Anna Weber"), ("the PUTIN", "Putin")],
)
def test_person_names_lose_titles(raw: str, name: str) -> None:
    assert normalise_person(raw) == name


# --- speech that says nothing ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "He did not say what those means might include.",
        "The ministry declined to comment on what the inspectors had found.",
        "Novak refused to say whether the troops would stay.",
        "The spokesman would not say when the talks would resume.",
        "If asked, officials could say that the drills were planned long ago.",
    ],
)
def test_negated_or_hypothetical_speech_is_not_a_claim(nlp: Any, options: ExtractOptions, text: str) -> None:
    assert _claims(nlp, options, "Defence Minister Jan Novak visited Riga. " + text) == []


# --- entities ----------------------------------------------------------------------------------


def _types(x: Extraction) -> dict[str, str]:
    return {e.name: e.type for e in x.entities}


def test_longer_name_wins_over_a_place_in_it(nlp: Any, options: ExtractOptions) -> None:
    types = _types(extract(_story("Real Madrid beat Dynamo Moscow 3-1 in Northern Ireland on Wednesday, the Moscow Times reported."), nlp, options))
    assert types == {"Real Madrid": "org", "Dynamo Moscow": "org", "Northern Ireland": "place", "Moscow Times": "org"}


def test_demonyms_vehicles_and_bases_are_not_people_or_organisations(nlp: Any, options: ExtractOptions) -> None:
    text = "The Lithuanian said he had been paid. The tanker Eagle S was detained after an Su-30 flew over Amari air base, the navy said."
    types = _types(extract(_story(text), nlp, options))
    assert "Lithuanian" not in types and "Eagle S" not in types and "Su-30" not in types
    assert types.get("Amari") == "place"


# --- batching ----------------------------------------------------------------------------------


def test_extract_many_gives_what_extract_gives_one_by_one(nlp: Any, options: ExtractOptions) -> None:
    texts = [
        '"We are ready," Senator Maria Lopez said, "and we will act if we have to."',
        "Real Madrid beat Dynamo Moscow, the Moscow Times reported.",
        "Defence Minister Jan Novak said the plan had the backing of Viktor Orban.\n\nHe added that troops would arrive in May.",
        "Nothing was said here at all.",
    ]
    stories = [_story(t, f"s{i}") for i, t in enumerate(texts)]
    stories.append(CleanStory("fr", "u", "u", "f", "o", "", "Le ministre a dit.", language="fr"))
    batched = extract_many(stories, nlp, options)
    assert isinstance(batched, list)
    assert batched == [extract(s, nlp, options) for s in stories]
    assert batched[-1].skipped


def test_claim_parts_and_org_round_trip_through_json(nlp: Any, options: ExtractOptions) -> None:
    x = extract(_story('"We are ready," a senior NATO official said, "and we will act if we have to."'), nlp, options)
    assert x.claims[0].parts and x.claims[0].speaker_org == "NATO"
    assert Extraction.from_json(json.loads(json.dumps(x.to_json()))) == x


def test_places_labels_and_surnames_are_not_people_of_their_own(nlp: Any, options: ExtractOptions) -> None:
    text = (
        "The scramble was logged under the mission codename Silvergull. Investigators found debris near the town of "
        "Elbweiler on Monday.\n\nDefence Minister Jan Novak visited the site. Novak said the debris would be examined."
    )
    people = {e.name: e.count for e in extract(_story(text), nlp, options).entities if e.type == "person"}
    assert "Silvergull" not in people and "Elbweiler" not in people
    assert set(people) == {"Jan Novak"}


def test_a_surname_alone_counts_for_the_full_name(nlp: Any) -> None:
    from spacy.tokens import Span

    from pipeline.extract import _entities

    doc = nlp.make_doc("Jan Novak visited Riga. Novak said little.")
    doc.ents = [Span(doc, 0, 2, label="PERSON"), Span(doc, 5, 6, label="PERSON")]
    assert [(e.name, e.count) for e in _entities(doc, {})] == [("Jan Novak", 2)]


def test_next_sentence_speaker_does_not_take_the_end_of_a_split_quote(nlp: Any, options: ExtractOptions) -> None:
    text = '"We are ready," Maria Lopez said, "and we will act." A senior official said the talks had failed.'
    quote, reported = _claims(nlp, options, text)
    assert quote.speaker == "Maria Lopez" and [text[s:e] for s, e in quote.parts] == ["and we will act."]
    assert (reported.speaker, reported.text) == ("unnamed senior official", "the talks had failed")


def test_nested_attribution_gives_both_speakers_their_claim(nlp: Any, options: ExtractOptions) -> None:
    outer, inner = _claims(nlp, options, "Novak said his counterpart Viktor Orban had told him that the pipeline would stay open.")
    assert (outer.speaker, outer.cue) == ("Novak", "said") and outer.text.startswith("his counterpart")
    assert (inner.speaker, inner.cue, inner.text) == ("Viktor Orbán", "told", "the pipeline would stay open")


def test_fragments_after_as_and_of(nlp: Any, options: ExtractOptions) -> None:
    claims = _claims(nlp, options, 'Defence Minister Jan Novak described the talks as "constructive" and warned of "serious consequences" if they failed.')
    assert [(c.kind, c.cue, c.text) for c in claims] == [("fragment", "described", "constructive"), ("fragment", "warned", "serious consequences")]


def test_a_label_is_not_quoted_by_whoever_comes_after_it(nlp: Any, options: ExtractOptions) -> None:
    claims = _claims(nlp, options, 'Russia calls the war a "special military operation", a term Western governments reject.')
    assert [(c.speaker, c.kind) for c in claims] == [("Russia", "fragment")]


def test_short_rest_of_a_split_quote_joins_it(nlp: Any, options: ExtractOptions) -> None:
    text = '"It\'s a disgrace," Weber said of the decision. "A total disgrace."'
    claim = _only(nlp, options, text)
    assert claim.text == "It's a disgrace" and [text[s:e] for s, e in claim.parts] == ["A total disgrace."]
