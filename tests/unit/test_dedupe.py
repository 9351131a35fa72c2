"""Dedupe stage: text normalisation, text hashes and clusters with an in-memory state."""

# ruff: noqa: E501 - sample news paragraphs and bug reasons read better unbroken

from __future__ import annotations

import re

import pytest

from pipeline.dedupe import (
    Fingerprint,
    WireRule,
    dedupe,
    detect_wire,
    fingerprint,
    is_copy,
    normalise_text,
    paragraph_changes,
    similarity,
    text_hash,
)
from pipeline.models import CleanStory
from pipeline.ports import Assignment

BASE = 'Peskov said NATO\'s "drills" near the border - held every year - were a provocation.'


@pytest.mark.parametrize(
    "variant",
    [
        "Peskov said NATO’s “drills” near the border – held every year – were a provocation.",  # curly, en dash
        "Peskov said NATO's «drills» near the border — held every year — were a provocation.",  # guillemets, em
        'PESKOV SAID NATO\'S "DRILLS" NEAR THE BORDER - HELD EVERY YEAR - WERE A PROVOCATION.',
        '  Peskov   said\nNATO\'s "drills"\tnear the border  -  held every year - were a provocation.  ',
        "Peskov said NATO's drills near the border, held every year, were a provocation!",
        "Peskov said „NATO's drills“ near the border (held every year) were a provocation",
        "Peskov said NATO\u2019s \u201cdrills\u201d near the border\u00a0- held every year - were a provocation.",
    ],
)
def test_normalise_text_equates_republishing_variants(variant: str) -> None:
    assert normalise_text(variant) == normalise_text(BASE)
    assert text_hash(variant) == text_hash(BASE)


def test_normalise_text_output() -> None:
    assert normalise_text("  The Kremlin’s “Warning” — Again!  ") == "the kremlin s warning again"
    assert normalise_text("") == ""


@pytest.mark.parametrize(
    "changed",
    [
        'Peskov said NATO\'s "drills" near the border - held every year - were not a provocation.',
        'Lavrov said NATO\'s "drills" near the border - held every year - were a provocation.',
        'Peskov said NATO\'s "drills" near the border - held every month - were a provocation.',
        'Peskov said NATO\'s "drills" near the border - held every year - were a provocation. More soon.',
    ],
)
def test_text_hash_differs_when_a_word_changes(changed: str) -> None:
    assert text_hash(changed) != text_hash(BASE)


def test_text_hash_shape() -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", text_hash(BASE))
    assert text_hash(BASE) == text_hash(BASE)


class ExhaustiveDedupeState:
    """In-memory DedupeState comparing with every story seen, by the same rule as the Redis script."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[Fingerprint, str]] = {}

    def assign(self, story_id: str, fingerprint: Fingerprint) -> Assignment:
        if story_id in self.seen:
            return Assignment(self.seen[story_id][1], "revision", story_id)
        best: tuple[float, float, str, str] | None = None
        for other_id, (fp, cluster) in self.seen.items():
            jaccard, contained = similarity(fingerprint, fp)
            if fp.text_hash == fingerprint.text_hash:
                jaccard = contained = 1.0
            if is_copy(jaccard, contained) and (best is None or (contained, jaccard) > best[:2]):
                best = (contained, jaccard, other_id, cluster)
        if best is None:
            self.seen[story_id] = (fingerprint, story_id)
            return Assignment(story_id, "new")
        self.seen[story_id] = (fingerprint, best[3])
        match = "exact" if self.seen[best[2]][0].text_hash == fingerprint.text_hash else "near"
        return Assignment(best[3], match, best[2], best[1], best[0])


def _story(story_id: str, text: str) -> CleanStory:
    return CleanStory(
        story_id=story_id,
        url=f"https://wire.example/{story_id}",
        canonical_url=f"https://wire.example/{story_id}",
        feed_url="https://wire.example/rss",
        outlet="Wire",
        title="Drill",
        text=text,
    )


WIRE = [
    "NATO began a two-week air-defence exercise over the Baltic states on Friday, deploying fighter jets and "
    "ground-based missile batteries from eleven member countries, the alliance said in a statement.",
    "The drill, codenamed Amber Shield, involves about 4,000 troops and is the largest of its kind in the region "
    "this year, according to a spokesperson for the alliance's air command in Ramstein.",
    "Lithuanian Defence Minister Jonas Petraitis told reporters in Vilnius that the exercise was defensive and "
    "had been planned for more than a year, long before recent airspace violations along the border.",
    "The Kremlin said the manoeuvres were a provocation and that Russia would take measures to ensure its "
    "security, without giving details of what those measures might be or when they would be taken.",
    "Estonian and Latvian officials said civilian flights would not be affected, although some routes over the "
    "Baltic Sea could be shifted for short periods while live-fire phases take place off the coast.",
    "Analysts said the timing sent a message ahead of a meeting of alliance defence ministers in Brussels next "
    "week, where members are expected to discuss further funding for air defence on the eastern flank.",
]
OTHER = [
    "Finland said on Tuesday it would keep its eastern border crossings closed until February, citing a risk "
    "that Moscow could again steer migrants towards the frontier, the interior ministry said.",
    "The government first closed the crossings a year ago after hundreds of asylum seekers without visas "
    "arrived at the border within weeks, in what Helsinki described as a hybrid operation.",
    "Border guard chief Pekka Laine told a news conference that traffic across the frontier had fallen to "
    "almost nothing and that patrols had been reinforced along forest sections of the border.",
    "Russia has denied using migrants to pressure Finland and said the closure harmed residents of border "
    "towns on both sides who had relied on cross-border trade and family visits for decades.",
    "The interior minister said the situation would be reviewed again in the new year and that any reopening "
    "would be gradual, starting with a single crossing in the south-east of the country.",
]


def _ids(n: int) -> list[str]:
    return [f"{i:032x}" for i in range(n)]


def test_dedupe_clusters_exact_near_and_distinct() -> None:
    state = ExhaustiveDedupeState()
    s1, s2, s3, s4, s5, s6 = _ids(6)
    text = "\n\n".join(WIRE)
    first = dedupe(_story(s1, text), state)
    assert (first.cluster_id, first.is_canonical, first.match) == (s1, True, "new")
    assert first.text_hash == text_hash(text)

    # a republished copy with different quotes and case joins the first story's cluster
    exact = dedupe(_story(s2, text.upper().replace("-", "–")), state)
    assert (exact.cluster_id, exact.is_canonical, exact.match, exact.matched_story_id) == (
        s1,
        False,
        "exact",
        s1,
    )

    # paragraphs dropped and a local intro added: still a copy
    local = (
        "A councillor in the port city of Klaipeda said residents had been told about the jets in advance."
    )
    near = dedupe(_story(s3, "\n\n".join([local, *WIRE[:4]])), state)
    assert (near.cluster_id, near.match) == (s1, "near")
    assert 0.55 <= near.similarity <= 1.0

    # a different story on another topic that quotes one of the wire paragraphs is not a copy
    other = dedupe(_story(s4, "\n\n".join([*OTHER, WIRE[3]])), state)
    assert (other.cluster_id, other.match) == (s4, "new")

    # the same URL with changed text is a revision of its story, not a new one
    revised = dedupe(_story(s4, "\n\n".join(OTHER[:3])), state)
    assert (revised.cluster_id, revised.match) == (s4, "revision")

    # a very short text is not swallowed by the long one it happens to share words with
    short = dedupe(_story(s5, "NATO began a two-week air-defence exercise."), state)
    assert short.match == "new"
    assert dedupe(_story(s6, OTHER[0]), state).match in ("new", "near")


@pytest.mark.parametrize("transform", ["reorder", "trim", "punctuation", "quotes"])
def test_fingerprint_similarity_survives_light_edits(transform: str) -> None:
    base = "\n\n".join(WIRE)
    if transform == "reorder":
        edited = "\n\n".join([WIRE[1], WIRE[0], *WIRE[2:]])
    elif transform == "trim":
        edited = "\n\n".join(p.rsplit(",", 1)[0] + "." for p in WIRE)
    elif transform == "punctuation":
        edited = base.replace(",", "").replace(".", " .")
    else:
        edited = base.replace("said", "said:").replace("'", "’")
    jaccard, contained = similarity(fingerprint(base), fingerprint(edited))
    assert is_copy(jaccard, contained), (jaccard, contained)


def test_fingerprint_is_deterministic_and_compact() -> None:
    a, b = fingerprint("\n\n".join(WIRE)), fingerprint("\n\n".join(WIRE))
    assert a == b
    assert len(a.signature) == 120 and len(a.bands) == 80 and len(a.text_hash) == 16


def test_paragraph_changes() -> None:
    canonical = "\n\n".join(WIRE)
    copy = "\n\n".join(
        [
            "Local intro about the harbour town and its mayor, who welcomed the news.",
            WIRE[0],
            WIRE[1].replace("about 4,000", "some 4,000"),
            *WIRE[2:5],
        ]
    )
    changes = paragraph_changes(canonical, copy)
    assert changes.added == ("Local intro about the harbour town and its mayor, who welcomed the news.",)
    assert changes.removed == (WIRE[5],)
    assert changes.changed == ((WIRE[1], WIRE[1].replace("about 4,000", "some 4,000")),)
    assert paragraph_changes(canonical, canonical).empty


WIRES = [
    WireRule("Reuters", re.compile(r"\bReuters\b|^Reporting by .*(Editing|Writing) by")),
    WireRule("AP", re.compile(r"\(AP\)|\bAssociated Press\b")),
    WireRule("AFP", re.compile(r"\(AFP\)|Agence France[- ]Presse|\bAFP\b")),
]


@pytest.mark.parametrize(
    ("credit", "lines", "text", "wire"),
    [
        ("Reuters", (), "NATO said.", "Reuters"),
        ("", ("Reporting by Anna Nowak; Editing by Tom Hale",), "NATO said.", "Reuters"),
        ("", ("Copyright 2026 The Associated Press. All rights reserved.",), "NATO said.", "AP"),
        ("", (), "NATO said.\n\nThe Associated Press contributed to this report.", "AP"),
        ("", (), "PARIS (AFP) - France said...\n\nMore text.", "AFP"),
        ("Harbour Herald", (), "NATO said on Friday it would meet.", ""),
    ],
)
def test_detect_wire(credit: str, lines: tuple[str, ...], text: str, wire: str) -> None:
    assert detect_wire(credit, lines, text, WIRES) == wire
