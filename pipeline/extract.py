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

from pipeline.claims import CueLexicon, doc_text, extract_claims
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
    place_hyphen_words: tuple[str, ...] = ()  # a name + "-born", "-based": a place
    designators_before: tuple[str, ...] = ()  # casefolded: "County" Cork is Cork, a place
    designators_after: tuple[str, ...] = ()  # casefolded: the Danube "delta", the Algarve "coast"
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
        place_hyphen_words=words("place_hyphen_words"),
        designators_before=tuple(w.casefold() for w in sided("place_designators", "before")),
        designators_after=tuple(w.casefold() for w in sided("place_designators", "after")),
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


_TITLE_WORDS = (
    r"Mr|Mrs|Ms|Miss|Dr|Prof|Professor|Sir|Dame|Lord|Lady|President|Vice President|Prime Minister|"
    r"Chancellor|Premier|Minister|Secretary|Senator|Sen|Rep|Representative|Governor|Gov|Mayor|General|Gen|"
    r"Admiral|Adm|Colonel|Col|Lieutenant|Lt|Major|Maj|Captain|Capt|Sergeant|Sgt|Judge|Justice|Ambassador|"
    r"King|Queen|Prince|Princess|Pope|Father|Rev|Reverend|Sheikh|Chairman|Chairwoman|Commissioner"
)
_TITLES = re.compile(rf"^(?:(?:{_TITLE_WORDS})\.?\s+)+")
_TITLE_BEFORE = re.compile(rf"\b(?:{_TITLE_WORDS})\.?\s+$")


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


@dataclass(frozen=True)
class _Patterns:
    vehicle: re.Pattern[str]
    vehicle_before: re.Pattern[str]
    place_after: re.Pattern[str]
    place_before: re.Pattern[str]
    label_before: re.Pattern[str]
    place_hyphen: re.Pattern[str]
    designator_before: re.Pattern[str]
    designator_after: re.Pattern[str]
    designators: re.Pattern[str]


@functools.cache
def _rule_patterns(rules: EntityRules) -> _Patterns:
    """The rules' word lists as compiled patterns, made once per rule set."""

    def alternatives(words: Sequence[str]) -> str:
        return "|".join(re.escape(w) for w in words) or r"(?!x)x"

    before, after = alternatives(rules.designators_before), alternatives(rules.designators_after)
    # Case-blind: the checks of one mention read casefolded text, the search over a story's text does not.
    return _Patterns(
        vehicle=re.compile(rules.vehicle_pattern),
        # "the tanker Eagle S", "The corvette, the Bystry Veter,"
        vehicle_before=re.compile(rf"\b(?:{alternatives(rules.vehicle_words)})(?:\s+(?:the\s+)?|\s*,\s+the\s+)$"),
        place_after=re.compile(rf"\s+(?:{alternatives(rules.place_words)})\b"),
        place_before=re.compile(rf"\b(?:{alternatives(rules.place_before)})\s+(?:the\s+)?$", re.IGNORECASE),
        label_before=re.compile(rf"\b(?:{alternatives(rules.label_before)})\s+$"),
        place_hyphen=re.compile(rf"[-\u2010\u2011](?:{alternatives(rules.place_hyphen_words)})\b", re.IGNORECASE),
        designator_before=re.compile(rf"\b(?:{before})\s+$", re.IGNORECASE),
        # the coast, not the coast guard
        designator_after=re.compile(rf"\s+(?:{after})\b(?![-\s]+guards?\b)", re.IGNORECASE),
        designators=re.compile(rf"^(?:{before})\s+(?=\S)|\s+(?:{after})$"),
    )


# "CORK, Ireland (Reuters) - ", "AZULMAR — ", "BRUSSELS, Nov 20 (AFP) - ": a dateline opening a paragraph.
_DATELINE = re.compile(
    r"^(?P<place>[A-Z][A-Z.'’ -]{1,40}?)(?:,\s+(?P<region>[A-Z][A-Za-z.'’ -]{1,30}?))?"
    r"(?:,?\s+[A-Z][a-z]{2,8}\.?\s+\d{1,2})?\s*(?:\([^()\n]{1,40}\))?\s*[-–—]{1,2}\s+(?=\S)",
    re.MULTILINE,
)
_POSSESSIVE_AFTER = re.compile(r"['’]s\b")  # with match(): right after the name


def _name_key(text: str) -> str:
    return normalise_name(text).casefold()


def _place_keys(text: str, patterns: _Patterns) -> set[str]:
    """A place's name and its name without a designator: "County Cork" is also "cork"."""
    key = _name_key(text)
    bare = patterns.designators.sub("", key).strip()
    return {key, bare} if bare else {key}


def dateline_places(dateline: str) -> tuple[str, ...]:
    """The places of a dateline: "CORK, Ireland" is Cork and Ireland; the date in "BRUSSELS, Nov 20" is not."""
    return tuple(p.strip() for p in dateline.split(",") if p.strip() and not re.search(r"\d", p))


def _story_places(doc: Any, patterns: _Patterns, places: Iterable[str]) -> set[str]:
    """What the whole story shows to be places: its datelines (given, or opening a paragraph) and every
    name the model or the gazetteer types a place (GPE, LOC) anywhere in it."""
    keys = {k for p in places for k in _place_keys(p, patterns)}
    for m in _DATELINE.finditer(doc_text(doc)):
        for part in (m.group("place"), m.group("region")):
            if part:
                keys |= _place_keys(part, patterns)
    for ent in doc.ents:
        if ent.label_ in ("GPE", "LOC"):
            keys |= _place_keys(ent.text, patterns)
    return keys


def _text_places(doc: Any, patterns: _Patterns, persons: set[str]) -> set[str]:
    """Names the model calls a person or an organisation that the text shows to be places somewhere, however
    the model typed them there: "County Cork", "the Algarve coast"; for a "person" also "from Azulmar",
    "Azulmar-based"."""
    found: set[str] = set()
    seen: set[tuple[str, str]] = set()
    text = doc_text(doc)
    for ent in doc.ents:
        if ent.label_ not in ("PERSON", "ORG") or ent.ent_id_:
            continue
        name = normalise_name(ent.text)
        key = name.casefold()
        if not name or (key, ent.label_) in seen or key in persons:
            continue
        seen.add((key, ent.label_))
        for start, end in _name_places(text, name, patterns, ent.label_ == "PERSON"):
            # Not inside a longer name of another kind: "Hull Bay" of the club "Hull Bay Rovers".
            if not any(e.start_char <= start and end <= e.end_char and e.label_ not in ("GPE", "LOC")
                       for e in doc.ents if len(e.text) > len(name)):
                found.add(key)
                break
    return found


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _name_places(text: str, name: str, patterns: _Patterns, as_person: bool) -> Iterable[tuple[int, int]]:
    """(start, end) of each place in the text where the name, standing as a whole word, reads as a place."""
    start = text.find(name)
    while start >= 0:
        end = start + len(name)
        whole = (start == 0 or not _is_word(text[start - 1]) or not _is_word(name[0])) and (
            end == len(text) or not _is_word(text[end]) or not _is_word(name[-1]))
        if whole:
            window = max(0, start - 80)
            designated = patterns.designator_before.search(text, window, start) or (
                _is_word(name[-1]) and patterns.designator_after.match(text, end))
            placed = as_person and (
                (patterns.place_before.search(text, window, start) and not _POSSESSIVE_AFTER.match(text, end))
                or patterns.place_hyphen.match(text, end))
            if designated or placed:
                yield start, end
        start = text.find(name, start + 1)


def _story_persons(doc: Any, speech_verbs: frozenset[str]) -> set[str]:
    """Names the story uses for people: the surname of a full name ("Mary Walsh": walsh), a name with a
    title ("Mr Walsh", "Minister Walsh") and a name that speaks ("Walsh said"). Such a name is not made a
    place by a place seen elsewhere in the story."""
    names: set[str] = set()
    text = doc_text(doc)
    for ent in doc.ents:
        if ent.label_ != "PERSON":
            continue
        words = normalise_person(ent.text).split()
        if len(words) > 1:
            names.add(words[-1].casefold())
        elif (
            _TITLES.match(normalise_name(ent.text))
            or _TITLE_BEFORE.search(text[max(0, ent.start_char - 30) : ent.start_char])
            or (ent.root.dep_ == "nsubj" and ent.root.head.lower_ in speech_verbs)
        ):
            names.add(words[0].casefold() if words else _name_key(ent.text))
    return names


def _beside_place(ents: Sequence[Any], i: int, text: str) -> bool:
    """ "Cork, Ireland," "in Azulmar, Portugal.": a one-word name followed by a place and then a pause."""
    if i + 1 >= len(ents) or ents[i + 1].label_ != "GPE":
        return False
    ent, nxt = ents[i], ents[i + 1]
    return (
        re.fullmatch(r",\s+", text[ent.end_char : nxt.start_char]) is not None
        and re.match(r"\s*(?:[,.;:)(]|$)", text[nxt.end_char : nxt.end_char + 2]) is not None
    )


def check_entities(doc: Any, rules: EntityRules, places: Iterable[str] = (),
                   speech_verbs: frozenset[str] = frozenset()) -> None:
    """Correct the model's entity types in place: demonyms are not people, vehicles and vessels not
    organisations, a named base or bridge not a person, and a longer name wins over a place in it.

    A name is a place in the whole story when the story shows it to be one anywhere: a dateline
    (``places``, or one opening a paragraph), the model's place type for it elsewhere, a territorial word
    before or after it ("County Cork", "the Algarve coast"), a country after it ("Cork, Ireland,"), and for
    a name the model calls a person, a locative word before it ("in", "from", "near the town of") or
    "-born"/"-based" after it. The surname of a person the story names in full, a name with a title and a
    name that speaks ("Walsh said": ``speech_verbs``) are not made places by what is seen elsewhere."""
    patterns = _rule_patterns(rules)
    persons = _story_persons(doc, speech_verbs)
    known = (_story_places(doc, patterns, places) | _text_places(doc, patterns, persons)) - persons
    ents = list(doc.ents)
    out, found, changed = _checked(doc, ents, rules, patterns, known, persons)
    found -= persons
    if not found <= known:  # a rule found a place: its mentions before the one that showed it are places too
        out, _found, changed = _checked(doc, ents, rules, patterns, known | found, persons)
    if changed:
        doc.ents = out
        for span in out:
            if not span.id_:
                for tok in span:
                    tok.ent_id_ = ""  # the span's id is read from its root token


def _checked(doc: Any, ents: Sequence[Any], rules: EntityRules, patterns: _Patterns, places: set[str],
             persons: set[str]) -> tuple[list[Any], set[str], bool]:
    """One pass over the entities: the checked ones, the places the rules found, whether any changed."""
    from spacy.tokens import Span

    text = doc_text(doc)
    out: list[Any] = []
    found: set[str] = set()
    changed = False
    for i, ent in enumerate(ents):
        if out and ent.start < out[-1].end:
            continue  # inside a name grown over it ("Times" of "Moscow Times")
        label, start, end, kb = ent.label_, ent.start, ent.end, ent.ent_id_
        words = ent.text.casefold()
        before = text[max(0, ent.start_char - 30) : ent.start_char].casefold()
        after = text[ent.end_char : ent.end_char + 30].casefold()
        unlinked = label in ("PERSON", "ORG") and not kb
        name_words = ent.text.split()
        key = _name_key(ent.text)
        a_person = key in persons
        place = False  # shown to be a place by this mention: a place in the whole story
        if unlinked and (words in rules.demonyms or words.rstrip("s") in rules.demonyms):
            label = "NORP"
        elif unlinked and (patterns.label_before.search(before) or name_words[0] in rules.label_first_words):
            label = "WORK_OF_ART"  # a codename or project: not an actor
        elif unlinked and not a_person and (
            patterns.designator_after.match(after) or patterns.designator_before.search(before)
            or (label == "PERSON" and patterns.designators.search(words))
        ):
            label, place = "GPE", True  # "the Algarve coast", "the Danube delta", "County Cork"
        elif unlinked and (
            patterns.place_after.match(after) or patterns.place_after.match(" " + name_words[-1].casefold())
        ):
            label = "FAC"  # "Amari air base", "Lynx Crossing", "the Azulmar museum": maybe named after a person
        elif label == "PERSON" and not kb and not a_person and (
            patterns.place_before.search(before) or _listed_with_place(out, ent, text)
            or patterns.place_hyphen.match(after)
        ):
            # "near the town of Elbweiler", "Lublin and Rzeszow", "Cork-born"; not "in Walsh's view"
            label, place = "GPE", not _POSSESSIVE_AFTER.match(after)
        elif unlinked and not a_person and len(name_words) == 1 and _beside_place(ents, i, text):
            label, place = "GPE", True  # "Cork, Ireland,"
        elif label == "PERSON" and not kb and name_words[-1] in rules.org_last_words:
            label = "ORG"
        elif label in ("ORG", "PERSON", "GPE") and not kb and (
            patterns.vehicle.match(ent.text)
            or patterns.vehicle.match(name_words[-1])  # "Ilyushin Il-20"
            or patterns.vehicle_before.search(before + ("the " if words.startswith("the ") else ""))
        ):
            label = "PRODUCT"
        elif label == "ORG" and not kb and len(name_words) == 1 and a_person:
            label = "PERSON"  # "Walsh" after "Mary Walsh": her, not an organisation
        elif unlinked and key in places:
            label = "GPE"  # a place elsewhere in the story: "County Cork" ... "for Cork and Kerry"
        elif label == "GPE" and kb:
            grown = _longer_name(doc, text, ent, rules)
            if grown is not None:
                start, end, label = grown
                kb = ""
        if place:
            found |= _place_keys(ent.text, patterns)
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
    return out, found, changed


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
        if etype == "person":
            name = normalise_person(ent.text)
        else:
            name = re.sub(r"(?:\s+\d+-\d+)+$", "", normalise_name(ent.text))  # "Castlebridge United 2-1": a score
            if etype == "place" and name.isupper() and len(name) > 4:
                name = name.title()  # the dateline's "CONSTANTA" is Constanta
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


_PARAGRAPH_END = re.compile(r"(?<=\n\n)(?=\S)")


def parse(texts: Sequence[str], nlp: Any, batch_size: int = 16) -> list[Any]:
    """One spaCy ``Doc`` per text, its paragraphs parsed as one batch through ``nlp.pipe``.

    A story is a few paragraphs, and a sentence, an entity or a parse never crosses a blank line, so
    each paragraph (with the blank line after it) is parsed on its own and the parts are joined back
    into one document with the story's exact text and offsets. Batching the paragraphs makes one story
    nearly as cheap to parse as a batch of stories: the worker often has a single story in hand.
    """
    from spacy.tokens import Doc

    parts = [[p for p in _PARAGRAPH_END.split(text) if p] or [text] for text in texts]
    flat = iter(nlp.pipe((p for ps in parts for p in ps), batch_size=max(batch_size, 64)))
    docs = []
    for text, ps in zip(texts, parts, strict=True):
        pieces = [next(flat) for _ in ps]
        doc = pieces[0] if len(pieces) == 1 else Doc.from_docs(pieces, ensure_whitespace=False)
        if doc.text != text:  # never a document of another text
            doc = nlp(text)
        doc.user_data["text"] = text
        docs.append(doc)
    return docs


def _lookups(options: ExtractOptions) -> tuple[dict[str, GazetteerEntry], dict[str, str]]:
    by_id = {e.id: e for e in options.gazetteer if e.id}
    by_id.update({f"name:{e.name}": e for e in options.gazetteer if not e.id})
    demonyms = {e.name.casefold(): e.demonym for e in options.gazetteer if e.demonym}
    return by_id, demonyms


def _extraction(story: CleanStory, doc: Any, options: ExtractOptions, by_id: Mapping[str, GazetteerEntry],
                demonyms: Mapping[str, str]) -> Extraction:
    check_entities(doc, options.entity_rules, dateline_places(story.dateline), options.cues.verbs)
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
    docs = iter(parse([_document_text(s) for s in wanted], nlp, options.batch_size))
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
    return _extraction(story, parse([_document_text(story)], nlp, options.batch_size)[0], options, by_id, demonyms)
