"""Extract stage logic: entities linked to known actors, claims (who said what) and topic relevance."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.models import Claim, CleanStory, Entity, Extraction

LABEL_TYPES = {"PERSON": "person", "ORG": "org", "GPE": "place", "LOC": "place", "FAC": "place"}
SPEECH_VERBS = frozenset(
    "say said says tell told warn warned warns add added adds state stated states insist insisted insists "
    "claim claimed claims deny denied denies maintain maintained maintains accuse accused accuses "
    "argue argued argues announce announced announces declare declared declares stress stressed stresses "
    "note noted notes explain explained explains write wrote writes confirm confirmed confirms "
    "urge urged urges reply replied replies respond responded responds vow vowed vows".split()
)
_QUOTE_SPAN = re.compile(r"[\"“”]([^\"“”]{12,}?)[\"“”]")


@dataclass(frozen=True)
class GazetteerEntry:
    id: str | None
    name: str
    type: str  # person, org, place
    aliases: tuple[str, ...] = ()


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


def add_gazetteer(nlp: Any, gazetteer: Sequence[GazetteerEntry]) -> Any:
    """Put an entity ruler with the gazetteer before the statistical NER, so known actors win."""
    label = {"person": "PERSON", "org": "ORG", "place": "GPE"}
    patterns = []
    for entry in gazetteer:
        for surface in (entry.name, *entry.aliases):
            patterns.append(
                {
                    "label": label[entry.type],
                    "pattern": [{"LOWER": tok.lower()} for tok in surface.split()],
                    "id": entry.id or f"name:{entry.name}",
                }
            )
    if "entity_ruler" in nlp.pipe_names:
        nlp.remove_pipe("entity_ruler")
    before = {"before": "ner"} if "ner" in nlp.pipe_names else {}
    ruler = nlp.add_pipe("entity_ruler", config={"overwrite_ents": True}, **before)
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


def _speaker_near(
    sent: Any, by_id: Mapping[str, GazetteerEntry], last_person: Entity | None
) -> tuple[str, str | None, str] | None:
    """The subject of a speech verb in the sentence: (speaker, speaker id, cue)."""
    for tok in sent:
        if tok.lemma_.lower() not in SPEECH_VERBS and tok.lower_ not in SPEECH_VERBS:
            continue
        for child in tok.children:
            if child.dep_ not in ("nsubj", "nsubjpass"):
                continue
            if child.pos_ == "PRON" and last_person is not None:
                return last_person.name, last_person.id, tok.text
            span = sent.doc[child.left_edge.i : child.right_edge.i + 1]
            ent = next((e for e in span.ents if e.label_ in ("PERSON", "ORG", "GPE")), None)
            if ent is not None:
                known = by_id.get(ent.ent_id_) if ent.ent_id_ else None
                return (
                    (known.name if known else normalise_name(ent.text)),
                    (known.id if known else None),
                    tok.text,
                )
            return normalise_name(span.text), None, tok.text
    return None


def _claims(doc: Any, by_id: Mapping[str, GazetteerEntry]) -> list[Claim]:
    claims: list[Claim] = []
    last_person: Entity | None = None
    text = doc.text
    for sent in doc.sents:
        persons = [e for e in sent.ents if e.label_ == "PERSON"]
        found = _speaker_near(sent, by_id, last_person)
        quotes = [m for m in _QUOTE_SPAN.finditer(text, sent.start_char, sent.end_char)]
        if found is not None:
            speaker, speaker_id, cue = found
            if quotes:
                for m in quotes:
                    claims.append(
                        Claim(
                            speaker, cue, "direct", m.group(1).strip(" ,"), m.start(1), m.end(1), speaker_id
                        )
                    )
            else:
                verb = next(t for t in sent if t.text == cue)
                comp = [c for c in verb.children if c.dep_ == "ccomp"]
                if comp:
                    span = doc[comp[0].left_edge.i : comp[0].right_edge.i + 1]
                    claims.append(
                        Claim(speaker, cue, "reported", span.text, span.start_char, span.end_char, speaker_id)
                    )
        if persons:
            last = persons[-1]
            known = by_id.get(last.ent_id_) if last.ent_id_ else None
            last_person = Entity(
                known.name if known else normalise_name(last.text), "person", known.id if known else None
            )
    return claims


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
            claims=tuple(_claims(doc, by_id)),
            topic_score=score,
            topic_reasons=tuple(reasons),
        )


def extract(story: CleanStory, nlp: Any, options: ExtractOptions) -> Extraction:
    return next(extract_many([story], nlp, options))
