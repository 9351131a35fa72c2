"""Extract stage logic: entities linked to known actors, claims (who said what) and topic relevance."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.claims import extract_claims
from pipeline.models import CleanStory, Entity, Extraction

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
class ExtractOptions:
    gazetteer: tuple[GazetteerEntry, ...] = ()
    topic: TopicDefinition = field(default_factory=lambda: TopicDefinition("none"))
    languages: frozenset[str] = frozenset({"en"})
    batch_size: int = 16


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
        name = normalise_name(ent.text)
        if len(name) < 2:
            continue
        counts[(name, etype, None)] += 1
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


def extract_many(stories: Sequence[CleanStory], nlp: Any, options: ExtractOptions) -> Iterator[Extraction]:
    """Entities, claims and topic score for each story, batched through ``nlp.pipe``."""
    by_id = {e.id: e for e in options.gazetteer if e.id}
    by_id.update({f"name:{e.name}": e for e in options.gazetteer if not e.id})
    demonyms = {e.name.casefold(): e.demonym for e in options.gazetteer if e.demonym}
    wanted = [s for s in stories if s.language in options.languages]
    docs = iter(nlp.pipe((_document_text(s) for s in wanted), batch_size=options.batch_size))
    for story in stories:
        if story.language not in options.languages:
            yield Extraction(story_id=story.story_id, skipped=f"language {story.language} not supported")
            continue
        doc = next(docs)
        entities = _entities(doc, by_id)
        score, reasons = topic_relevance(f"{story.title}\n{story.text}", entities, options.topic)
        yield Extraction(
            story_id=story.story_id,
            entities=tuple(entities),
            claims=tuple(extract_claims(doc, by_id, normalise_name, demonyms)),
            topic_score=score,
            topic_reasons=tuple(reasons),
        )


def extract(story: CleanStory, nlp: Any, options: ExtractOptions) -> Extraction:
    return next(extract_many([story], nlp, options))
