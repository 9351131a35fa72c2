"""Extract stage logic: entities linked to known actors, claims (who said what) and topic relevance."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.claims import CueLexicon, extract_claims
from pipeline.models import Claim, CleanStory, Entity, Extraction

LABEL_TYPES = {"PERSON": "person", "ORG": "org", "GPE": "place", "LOC": "place", "FAC": "place"}


@dataclass(frozen=True)
class GazetteerEntry:
    id: str | None
    name: str
    type: str  # person, org, place
    aliases: tuple[str, ...] = ()
    demonym: str | None = None  # for states: "Polish"
    government: str | None = None  # for capitals: the id of the state whose government they stand for


@dataclass(frozen=True)
class TopicDefinition:
    name: str
    terms: Mapping[str, float] = field(default_factory=dict)  # lower-case phrase -> weight
    entity_ids: Mapping[str, float] = field(default_factory=dict)  # Wikidata id -> weight
    saturation: float = 6.0  # the weight sum at which the score reaches about 0.63


@dataclass(frozen=True)
class EntityRules:
    """Checks on the model's entity types (config/gazetteer.yaml, ``rules``)."""

    demonyms: frozenset[str] = frozenset()  # casefolded: "lithuanian"
    vehicle_words: tuple[str, ...] = ()  # casefolded, longest first: "aircraft carrier", "tanker"
    vehicle_pattern: str = r"^[A-Z][A-Za-z]{0,4}-\d{1,4}[A-Z]{0,3}$"
    place_words: tuple[str, ...] = ()  # casefolded, longest first: "air base"
    before_place: tuple[str, ...] = ()  # "Northern" + Ireland is a place
    before_org: tuple[str, ...] = ()  # "Real" + Madrid is a club
    after_place: tuple[str, ...] = ()
    after_org: tuple[str, ...] = ()  # Washington + "Post" is a newspaper
    place_before: tuple[str, ...] = ()  # "near the town of" + a name: a place
    label_before: tuple[str, ...] = ()  # "codename" + a name: a label
    label_first_words: frozenset[str] = frozenset()  # "Project" Tessera
    org_last_words: frozenset[str] = frozenset()  # Dunmore "Rovers"


@dataclass(frozen=True)
class ExtractOptions:
    gazetteer: tuple[GazetteerEntry, ...] = ()
    topic: TopicDefinition = field(default_factory=lambda: TopicDefinition("none"))
    languages: frozenset[str] = frozenset({"en"})
    batch_size: int = 16
    cues: CueLexicon = field(default_factory=CueLexicon)
    entity_rules: EntityRules = field(default_factory=EntityRules)


def load_gazetteer(spec: Iterable[Mapping[str, Any]]) -> tuple[GazetteerEntry, ...]:
    return tuple(
        GazetteerEntry(
            id=e.get("id"),
            name=str(e["name"]),
            type=str(e["type"]),
            aliases=tuple(str(a) for a in e.get("aliases", ())),
            demonym=e.get("demonym"),
            government=e.get("government"),
        )
        for e in spec
    )


def load_entity_rules(spec: Mapping[str, Any], gazetteer: Sequence[GazetteerEntry] = ()) -> EntityRules:
    """The entity checks from config; the gazetteer's demonyms count as demonyms too."""

    def words(key: str) -> tuple[str, ...]:
        return tuple(sorted({str(w).casefold() for w in spec.get(key) or ()}, key=lambda w: (-len(w), w)))

    def sided(key: str, kind: str) -> tuple[str, ...]:
        return tuple(sorted({str(w) for w in (spec.get(key) or {}).get(kind) or ()}, key=lambda w: (-len(w), w)))

    demonyms = {str(d).casefold() for d in spec.get("demonyms") or ()}
    demonyms |= {e.demonym.casefold() for e in gazetteer if e.demonym and len(e.demonym) > 3}
    default = EntityRules()
    return EntityRules(
        demonyms=frozenset(demonyms),
        vehicle_words=words("vehicle_words"),
        vehicle_pattern=str(spec.get("vehicle_pattern") or default.vehicle_pattern),
        place_words=words("place_words"),
        before_place=sided("longer_name_before", "place"),
        before_org=sided("longer_name_before", "org"),
        after_place=sided("longer_name_after", "place"),
        after_org=sided("longer_name_after", "org"),
        place_before=words("place_before"),
        label_before=words("label_before"),
        label_first_words=frozenset(str(w) for w in spec.get("label_first_words") or ()),
        org_last_words=frozenset(str(w) for w in spec.get("org_last_words") or ()),
    )


def load_topic(spec: Mapping[str, Any]) -> TopicDefinition:
    return TopicDefinition(
        name=str(spec["name"]),
        terms={str(k).casefold(): float(v) for k, v in dict(spec.get("terms", {})).items()},
        entity_ids={str(k): float(v) for k, v in dict(spec.get("entities", {})).items()},
        saturation=float(spec.get("saturation", 6.0)),
    )


def _token_pattern(text: str) -> dict[str, str]:
    """Acronyms match their exact case ("US" is not "us"); other words match in any case."""
    letters = [c for c in text if c.isalpha()]
    if letters and all(c.isupper() for c in letters) and len(letters) <= 4:
        return {"ORTH": text}
    return {"LOWER": text.lower()}


def add_gazetteer(nlp: Any, gazetteer: Sequence[GazetteerEntry]) -> Any:
    """Put an entity ruler with the gazetteer before the statistical NER, so known actors win.

    Names match in any case through the (fast) phrase matcher; names with an acronym in them ("US",
    "NATO") go through the token matcher so the acronym matches only in capitals ("us" is not "US").
    """
    label = {"person": "PERSON", "org": "ORG", "place": "GPE"}
    patterns: list[dict[str, Any]] = []
    for entry in gazetteer:
        for surface in (entry.name, *entry.aliases):
            tokens = [_token_pattern(tok.text) for tok in nlp.make_doc(surface)]
            pattern: Any = tokens if any("ORTH" in t for t in tokens) else surface
            patterns.append({"label": label[entry.type], "pattern": pattern, "id": entry.id or f"name:{entry.name}"})
    if "entity_ruler" in nlp.pipe_names:
        nlp.remove_pipe("entity_ruler")
    before = {"before": "ner"} if "ner" in nlp.pipe_names else {}
    ruler = nlp.add_pipe("entity_ruler", config={"overwrite_ents": True, "phrase_matcher_attr": "LOWER"}, **before)
    ruler.add_patterns(patterns)
    return nlp


def normalise_name(text: str) -> str:
    name = " ".join(text.split())
    name = re.sub(r"^(the|The)\s+", "", name)
    name = re.sub(r"['’]s$", "", name)
    return name.strip(" .,;:-\"'“”")


_TITLES = re.compile(
    r"^(?:(?:Mr|Mrs|Ms|Miss|Dr|Prof|Professor|Sir|Dame|Lord|Lady|President|Vice President|Prime Minister|"
    r"Chancellor|Premier|Minister|Secretary|Senator|Sen|Rep|Representative|Governor|Gov|Mayor|General|Gen|"
    r"Admiral|Adm|Colonel|Col|Lieutenant|Lt|Major|Maj|Captain|Capt|Sergeant|Sgt|Judge|Justice|Ambassador|"
    r"King|Queen|Prince|Princess|Pope|Father|Rev|Reverend|Sheikh|Chairman|Chairwoman|Commissioner)\.?\s+)+"
)


def normalise_person(text: str) -> str:
    """A person's name for grouping: no titles ("Mr", "President"), no article, words capitalised."""
    name = _TITLES.sub("", normalise_name(text))
    name = re.sub(r"(?:\s+\S*\d\S*)+$", "", name)  # "Henrik Solvang 6-4": a score caught in the name
    if name.isupper() and len(name) > 4:
        name = name.title()  # "PUTIN" in a shouted headline is Putin
    return name or normalise_name(text)


def _listed_with_place(previous: Sequence[Any], ent: Any, text: str) -> bool:
    """ "Lublin and Rzeszow": a name listed right after a place is a place."""
    if not previous or previous[-1].label_ not in ("GPE", "LOC", "FAC"):
        return False
    return re.fullmatch(r",?\s+(?:and|or)\s+|,\s+", text[previous[-1].end_char : ent.start_char]) is not None


@functools.cache
def _rule_patterns(rules: EntityRules) -> tuple[re.Pattern[str], ...]:
    """The rules' word lists as compiled patterns, made once per rule set."""

    def alternatives(words: Sequence[str]) -> str:
        return "|".join(re.escape(w) for w in words) or r"(?!x)x"

    return (
        re.compile(rules.vehicle_pattern),
        re.compile(rf"\b(?:{alternatives(rules.vehicle_words)})\s+(?:the\s+)?$"),
        re.compile(rf"\s+(?:{alternatives(rules.place_words)})\b"),
        re.compile(rf"\b(?:{alternatives(rules.place_before)})\s+(?:the\s+)?$"),
        re.compile(rf"\b(?:{alternatives(rules.label_before)})\s+$"),
    )


def check_entities(doc: Any, rules: EntityRules) -> None:
    """Correct the model's entity types in place: demonyms are not people, vehicles and vessels not
    organisations, a named base or bridge not a person, and a longer name wins over a place in it."""
    from spacy.tokens import Span

    text = doc.text
    vehicle, vehicle_before, place_after, place_before, label_before = _rule_patterns(rules)
    out: list[Any] = []
    changed = False
    for ent in doc.ents:
        if out and ent.start < out[-1].end:
            continue  # inside a name grown over it ("Times" of "Moscow Times")
        label, start, end, kb = ent.label_, ent.start, ent.end, ent.ent_id_
        words = ent.text.casefold()
        before = text[max(0, ent.start_char - 30) : ent.start_char].casefold()
        after = text[ent.end_char : ent.end_char + 30].casefold()
        unlinked = label in ("PERSON", "ORG") and not kb
        name_words = ent.text.split()
        if unlinked and (words in rules.demonyms or words.rstrip("s") in rules.demonyms):
            label = "NORP"
        elif unlinked and (label_before.search(before) or name_words[0] in rules.label_first_words):
            label = "WORK_OF_ART"  # a codename or project: not an actor
        elif unlinked and (place_after.match(after) or place_after.match(" " + name_words[-1].casefold())):
            label = "FAC"  # "Amari air base", "Lynx Crossing"
        elif label == "PERSON" and not kb and (place_before.search(before) or _listed_with_place(out, ent, text)):
            label = "GPE"  # "near the town of Elbweiler", "Lublin and Rzeszow"
        elif label == "PERSON" and not kb and name_words[-1] in rules.org_last_words:
            label = "ORG"
        elif label in ("ORG", "PERSON", "GPE") and not kb and (
            vehicle.match(ent.text)
            or vehicle_before.search(before)
        ):
            label = "PRODUCT"
        elif label == "GPE" and kb:
            grown = _longer_name(doc, text, ent, rules)
            if grown is not None:
                start, end, label = grown
                kb = ""
        if (label, start, end, kb) != (ent.label_, ent.start, ent.end, ent.ent_id_):
            changed = True
            # A grown name swallows the model's entity it now covers ("Dynamo" of "Dynamo Moscow").
            while out and out[-1].end > start:
                out.pop()
            span = Span(doc, start, end, label=label)
            span.id_ = kb  # cleared for a grown name: it is no longer the gazetteer's place
            out.append(span)
        else:
            out.append(ent)
    if changed:
        doc.ents = out
        for span in out:
            if not span.id_:
                for tok in span:
                    tok.ent_id_ = ""  # the span's id is read from its root token


def _longer_name(doc: Any, text: str, ent: Any, rules: EntityRules) -> tuple[int, int, str] | None:
    """ "Real Madrid", "Northern Ireland", "Washington Post": the whole name, with its type."""
    left = text[max(0, ent.start_char - 25) : ent.start_char]
    right = text[ent.end_char : ent.end_char + 25]
    for words, label in ((rules.before_org, "ORG"), (rules.before_place, "GPE")):
        for w in words:
            if left.endswith(w + " "):
                span = doc.char_span(ent.start_char - len(w) - 1, ent.end_char)
                if span is not None:
                    return span.start, span.end, label
    for words, label in ((rules.after_org, "ORG"), (rules.after_place, "GPE")):
        for w in words:
            if right.startswith(" " + w) and not right[len(w) + 1 : len(w) + 2].isalpha():
                span = doc.char_span(ent.start_char, ent.end_char + 1 + len(w))
                if span is not None:
                    return span.start, span.end, label
    return None


def _entities(doc: Any, by_id: Mapping[str, GazetteerEntry]) -> list[Entity]:
    counts: Counter[tuple[str, str, str | None]] = Counter()
    for ent in doc.ents:
        etype = LABEL_TYPES.get(ent.label_)
        if etype is None:
            continue
        ent_id = ent.ent_id_ or None
        known = by_id.get(ent_id) if ent_id else None
        if known is not None:
            counts[(known.name, known.type, known.id)] += 1
            continue
        name = normalise_person(ent.text) if etype == "person" else normalise_name(ent.text)
        if len(name) < 2:
            continue
        counts[(name, etype, None)] += 1
    # "Kask" after "Siim Kask": one person, counted once under the full name.
    full = {n.split()[-1]: (n, t, i) for (n, t, i) in counts if t == "person" and len(n.split()) > 1}
    # "Dunmore" after "Dunmore Rovers": the club's short name, not a person.
    clubs = {n.split()[0]: (n, t, i) for (n, t, i) in counts if t == "org" and len(n.split()) > 1}
    for key in [k for k in counts if k[1] == "person" and len(k[0].split()) == 1]:
        if key[0] in full or key[0] in clubs:
            counts[full.get(key[0]) or clubs[key[0]]] += counts.pop(key)
    return [Entity(name=n, type=t, id=i, count=c) for (n, t, i), c in counts.most_common()]


def topic_relevance(text: str, entities: Sequence[Entity], topic: TopicDefinition) -> tuple[float, list[str]]:
    """A 0..1 score from weighted terms and actors, with the matches that produced it."""
    lowered = text.casefold()
    weight = 0.0
    reasons: list[str] = []
    for term, w in topic.terms.items():
        hits = len(re.findall(r"\b" + re.escape(term) + r"\b", lowered))
        if hits:
            weight += w * (1 + math.log(hits))
            reasons.append(f"term:{term}")
    for ent in entities:
        if ent.id and ent.id in topic.entity_ids:
            weight += topic.entity_ids[ent.id] * (1 + math.log(ent.count))
            reasons.append(f"entity:{ent.id}:{ent.name}")
    score = 1.0 - math.exp(-weight / topic.saturation) if weight > 0 else 0.0
    return round(score, 4), reasons


def _document_text(story: CleanStory) -> str:
    return story.text


def _lookups(options: ExtractOptions) -> tuple[dict[str, GazetteerEntry], dict[str, str]]:
    by_id = {e.id: e for e in options.gazetteer if e.id}
    by_id.update({f"name:{e.name}": e for e in options.gazetteer if not e.id})
    demonyms = {e.name.casefold(): e.demonym for e in options.gazetteer if e.demonym}
    return by_id, demonyms


def _extraction(story: CleanStory, doc: Any, options: ExtractOptions, by_id: Mapping[str, GazetteerEntry],
                demonyms: Mapping[str, str]) -> Extraction:
    check_entities(doc, options.entity_rules)
    entities = _entities(doc, by_id)
    score, reasons = topic_relevance(f"{story.title}\n{story.text}", entities, options.topic)
    claims = extract_claims(doc, by_id, normalise_name, demonyms, options.cues, normalise_person)
    return Extraction(
        story_id=story.story_id,
        entities=tuple(entities),
        claims=tuple(_grouped_speakers(claims)),
        topic_score=score,
        topic_reasons=tuple(reasons),
    )


def _grouped_speakers(claims: Sequence[Claim]) -> list[Claim]:
    """One spelling per speaker in a story: "officials" and "Officials" are one speaker."""
    seen: dict[str, str] = {}
    out = []
    for c in claims:
        key = (c.speaker_id or "") + "|" + " ".join(c.speaker.casefold().split())
        spelling = seen.setdefault(key, c.speaker)
        out.append(c if spelling == c.speaker else dataclasses.replace(c, speaker=spelling))
    return out


def _skipped(story: CleanStory) -> Extraction:
    return Extraction(story_id=story.story_id, skipped=f"language {story.language} not supported")


def extract_many(stories: Sequence[CleanStory], nlp: Any, options: ExtractOptions) -> list[Extraction]:
    """Entities, claims and topic score for each story, parsed in batches through ``nlp.pipe``.

    The results are those of ``extract`` called on each story in turn.
    """
    by_id, demonyms = _lookups(options)
    wanted = [s for s in stories if s.language in options.languages]
    docs = iter(nlp.pipe((_document_text(s) for s in wanted), batch_size=options.batch_size))
    return [
        _extraction(story, next(docs), options, by_id, demonyms) if story.language in options.languages
        else _skipped(story)
        for story in stories
    ]


def extract(story: CleanStory, nlp: Any, options: ExtractOptions) -> Extraction:
    """Entities, claims and topic score of one story (the worker's call)."""
    if story.language not in options.languages:
        return _skipped(story)
    by_id, demonyms = _lookups(options)
    return _extraction(story, nlp(_document_text(story)), options, by_id, demonyms)
