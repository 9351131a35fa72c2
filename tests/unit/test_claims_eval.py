"""The claim benchmark's scoring: split quotes, unnamed sources, a hard gold file in the new schema."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench.claims_eval import Span, _by_part, load_gold, match, rows, same_speaker, score, span

TEXT = '"We are ready," Maria Lopez said, "and we will act." A senior official said the talks had failed.'


def _gold_file(folder: Path) -> None:
    story = {
        "id": "101-test", "title": "t", "topic": "politics", "style": "wire", "text": TEXT,
        "claims": [
            {"speaker": "Maria Lopez", "speaker_type": "person", "cue": "said", "kind": "direct",
             "text": "We are ready", "also": ["and we will act."], "case": ["split"]},
            {"speaker": "unnamed senior official", "speaker_type": "anonymous", "cue": "said", "kind": "reported",
             "text": "the talks had failed", "case": ["anonymous"]},
        ],
    }
    (folder / "101-test.yaml").write_text(yaml.safe_dump(story), encoding="utf-8")


def test_hard_schema_loads_also_parts_and_anonymous_speakers(tmp_path: Path) -> None:
    _gold_file(tmp_path)
    (story,) = load_gold(tmp_path)
    direct, reported = story["claims"]
    assert [TEXT[s:e] for s, e in direct.parts] == ["We are ready", "and we will act."]
    assert reported.anonymous and not direct.anonymous


def test_one_predicted_quotation_matches_one_gold_quotation(tmp_path: Path) -> None:
    _gold_file(tmp_path)
    gold = load_gold(tmp_path)[0]["claims"]
    a, b = TEXT.index("We are"), TEXT.index("and we")
    whole = Span(((a, a + 12), (b, b + 16)), "Lopez", "direct")
    assert score([([whole], gold[:1])])["f1"] == 1.0
    # The same quotation predicted as two claims: one matches, the other is a false positive.
    halves = _by_part([whole])
    result = score([(halves, gold[:1])])
    assert (result["matched"], result["precision"]) == (1, 0.5)
    # Only the second part predicted still finds the quotation.
    assert len(match(halves[1:], gold[:1])) == 1


def test_unnamed_sources_agree_whatever_their_words() -> None:
    gold = Span(((0, 5),), "unnamed senior official", "reported", anonymous=True)
    assert same_speaker(span(0, 5, "unnamed diplomats"), gold)
    assert not same_speaker(span(0, 5, "Maria Lopez"), gold)
    # The old set names unnamed sources by description: the marker word is not a content word.
    assert same_speaker(span(0, 5, "unnamed Western officials"), span(0, 5, "two Western officials"))


def test_rows_split_claims_by_kind(tmp_path: Path) -> None:
    _gold_file(tmp_path)
    gold = load_gold(tmp_path)[0]["claims"]
    r = TEXT.index("the talks")
    predicted = [span(r, r + 20, "unnamed official", "reported")]
    table = rows([predicted], [gold])
    assert table["reported"]["f1"] == 1.0 and table["reported"]["speaker_accuracy"] == 1.0
    assert table["direct"]["recall"] == 0.0 and table["all"]["recall"] == 0.5
