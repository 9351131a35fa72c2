"""Who said what: direct quotes, quoted fragments and reported speech on a spaCy parse.

The approach (after the GenderGapTracker and citron extractors, rewritten): quotation marks are
paired by a scan of the text (so quotes may span sentences and run across paragraphs); each quote
is attributed to a cue (a verb of the cue lexicon, a noun cue such as "in a statement", a colon
lead-in) outside the quote in its sentence, else to the speaker of the quote just before it. One
quotation is one claim, however often the attribution or a paragraph break interrupts it. Short
quoted words are claims only as the complement of a cue ("called the plan «reckless»": a
fragment); titles, names and scare quotes never are. Reported speech is a cue verb whose clausal
complement lies outside quotes, or "according to X". The speaker is the cue's subject (its head,
not a person in a relative clause or a prepositional phrase of it); pronouns and role nouns
resolve to the person named earlier; unnamed sources are recorded as "unnamed …".
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.models import Claim

_IRREGULAR_DEFAULT = {"say": ("said",), "tell": ("told",), "write": ("wrote", "written"), "speak": ("spoke", "spoken")}


def verb_forms(base: str) -> set[str]:
    """The regular inflections of a base form: warn → warns, warned, warning."""
    stem = base[:-1] if base.endswith("e") else base
    consonant_y = base.endswith("y") and len(base) > 1 and base[-2] not in "aeiou"
    third = base[:-1] + "ies" if consonant_y else base + "s"
    past = base[:-1] + "ied" if consonant_y else stem + "ed"
    if base.endswith(("ss", "sh", "ch", "x", "o")):
        third = base + "es"
    return {base, third, past, stem + "ing", base + "ing"}


def _expand(bases: Iterable[str], irregular: Mapping[str, Sequence[str]]) -> frozenset[str]:
    out: set[str] = set()
    for b in bases:
        b = b.casefold()
        out |= verb_forms(b) | {f.casefold() for f in irregular.get(b, ())}
    return frozenset(out)


_DEFAULT_VERBS = (
    "say tell warn add state insist claim deny maintain accuse argue announce declare stress note explain "
    "confirm urge reply respond vow caution acknowledge admit assert contend emphasise emphasize predict "
    "promise reiterate suggest threaten complain allege recall remark report testify concede counter "
    "observe point retort signal underline highlight comment demand dismiss describe write speak ask"
).split()


def _definite(noun: Any) -> bool:
    """ "the minister", "this newspaper": a noun that points back to someone the story named."""
    return any(c.dep_ == "det" and c.lower_ in ("the", "this") for c in noun.children)


def doc_text(doc: Any) -> str:
    """A parsed document's text, kept with it: spaCy joins its tokens' text again on every ``doc.text``."""
    text = doc.user_data.get("text")
    if not isinstance(text, str):
        text = doc.user_data["text"] = doc.text
    return str(text)


@dataclass(frozen=True)
class CueLexicon:
    """Word forms that attribute speech (see config/cues.yaml)."""

    verbs: frozenset[str] = field(default_factory=lambda: _expand(_DEFAULT_VERBS, _IRREGULAR_DEFAULT))
    quote_only: frozenset[str] = frozenset({"continued", "added", "quipped", "went"})
    fragment_verbs: frozenset[str] = field(
        default_factory=lambda: _expand("call describe dub brand label term dismiss".split(), {})
    )
    nouns: frozenset[str] = frozenset({"statement", "interview", "post", "remarks", "speech", "briefing"})
    negating: frozenset[str] = field(default_factory=lambda: _expand("decline refuse fail".split(), {}))


def load_cues(spec: Mapping[str, Any]) -> CueLexicon:
    """The cue lexicon from its config: base forms, inflected here."""
    irregular = {str(k).casefold(): [str(f) for f in v] for k, v in dict(spec.get("irregular") or {}).items()}
    default = CueLexicon()
    return CueLexicon(
        verbs=_expand(spec.get("verbs") or (), irregular) or default.verbs,
        quote_only=_expand(spec.get("quote_only") or (), irregular),
        fragment_verbs=_expand(spec.get("fragment_verbs") or (), irregular) or default.fragment_verbs,
        nouns=frozenset(str(n).casefold() for n in spec.get("nouns") or ()) or default.nouns,
        negating=_expand(spec.get("negating") or (), irregular) or default.negating,
    )


ROLE_NOUNS = frozenset(
    "spokesman spokeswoman spokesperson minister president premier chancellor secretary ambassador "
    "official officials general commander chief head leader envoy diplomat aide adviser advisor "
    "analyst lawmaker senator mayor governor director prime deputy representative negotiator".split()
)
# Heads of a noun phrase that, without a name, make an unnamed source ("a senior official said").
ANONYMOUS_HEADS = frozenset(
    "official source diplomat person people aide insider officer staffer employee negotiator "
    "spokesman spokeswoman spokesperson adviser advisor lawmaker analyst expert witness resident "
    "investigator prosecutor member executive banker trader economist commander soldier".split()
)
_PLURALS = {"people": "person"}
GENERIC_ORGS = frozenset(
    "ministry government military army navy bank agency company alliance embassy office service committee "
    "council court police operator authority authorities commission union bloc kremlin department board "
    "prosecutors prosecutor regulator watchdog fleet forces".split()
)
# A quote right after one of these names something ("the so-called «peacekeepers»", "codenamed «X»").
_NAMING = frozenset(
    "so-called dubbed codenamed code-named titled entitled nicknamed named branded labelled labeled known "
    "called slogan motto hashtag headline".split()
)
_SMALL_WORDS = frozenset("a an the of and or in on at to for with by from as de la le von van der".split())
_NOT_THE_NAME = frozenset({"prep", "relcl", "acl", "advcl", "ccomp", "cc", "conj"})
# A publication speaks through these: "its editorial board wrote", "the newspaper said".
_NEWSPAPERS = frozenset("newspaper paper daily weekly magazine tabloid broadsheet".split())
_PUBLICATION_PARTS = _NEWSPAPERS | frozenset("editorial editorials board page column commentary newsroom".split())
_PARTITIVES = frozenset("one some most many several all each none few both any either neither".split())
_DOCUMENTS = frozenset(
    "declaration statement communique communiqué report indictment letter document ruling decision "
    "resolution memo study paper assessment filing complaint charge sheet".split()
)
_DATELINE = re.compile(r"[A-Z][A-Z .'-]+(?:,\s+[A-Z][\w .'-]+)?\s+[—–-]+\s+")
_POSSESSIVE = re.compile(r"^([A-Z][\w-]+)['’]s\s+(.+)$")
_DATELINE_WORD = re.compile(r"[A-Z]{2,}[A-Z .'-]*|[—–-]+")
PRONOUNS_PERSON = frozenset({"he", "she", "him", "her"})
_PRONOUN_GENDER = {"he": "m", "him": "m", "his": "m", "she": "f", "her": "f", "hers": "f"}
_HONORIFICS = {"mr": "m", "sir": "m", "lord": "m", "king": "m", "mrs": "f", "ms": "f", "miss": "f", "dame": "f",
               "lady": "f", "queen": "f", "dr": "", "prof": "", "professor": "", "judge": ""}
PRONOUNS_OTHER = frozenset({"it", "they", "we", "i"})
_HYPOTHETICAL_AUX = frozenset({"could", "might", "may", "should"})
_CONDITIONAL = frozenset({"if", "unless", "whether"})
MIN_QUOTE_WORDS = 4  # shorter quotes are fragments: claims only as the complement of a cue
_FRAGMENT_DEPS = frozenset({"oprd", "dobj", "attr", "acomp", "xcomp", "ccomp", "npadvmod"})


class GazetteerName(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def id(self) -> str | None: ...


@dataclass(frozen=True)
class QuoteSpan:
    start: int  # first character inside the marks
    end: int  # the closing mark (or the paragraph's end)
    continued: bool = False  # the quote runs on into the next paragraph


_CLOSES = {"“": "”", "„": "“”", "«": "»", '"': '"', "‘": "’"}


def quote_spans(text: str) -> list[QuoteSpan]:
    """Pair quotation marks per paragraph: curly, low, guillemets, straight doubles and single curly.

    A quote opened by one style is closed only by its partner. A single curly quote opens only
    after a space or an opening bracket and closes only before a non-letter, so apostrophes in
    words (don’t, Kremlin’s) are left alone.
    """
    spans: list[QuoteSpan] = []
    open_at: int | None = None
    closer = ""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n" and text.startswith("\n\n", i):
            if open_at is not None:
                spans.append(QuoteSpan(open_at, i, continued=True))
                open_at = None
            i += 2
            continue
        if open_at is None:
            if (
                ch in _CLOSES
                and ch != "‘"
                or (ch == "‘" and (i == 0 or text[i - 1] in " \n(—–-") and i + 1 < n and not text[i + 1].isspace())
            ):
                open_at, closer = i + 1, _CLOSES[ch]
        elif ch in closer and (ch != "’" or i + 1 == n or not text[i + 1].isalpha()):
            spans.append(QuoteSpan(open_at, i))
            open_at = None
        i += 1
    if open_at is not None:
        spans.append(QuoteSpan(open_at, n, continued=True))
    return spans


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """Offsets without surrounding spaces and the punctuation that joins a claim to its attribution."""
    while start < end and text[start] in " \n\t,;:.-–—)":
        start += 1
    while end > start and text[end - 1] in " \n\t,;:-–—(":
        end -= 1
    return start, end


def looks_like_title(words: str) -> bool:
    """Capitalised words without sentence punctuation: a name or title ("Amber Lantern", "Meet the Press")."""
    tokens = words.split()
    if not tokens or len(tokens) > 8 or words.rstrip()[-1:] in ".?!,":
        return False
    content = [t for t in tokens if t.casefold() not in _SMALL_WORDS]
    if not content or (len(content) == 1 and len(tokens) == 1 and not content[0][:1].isupper()):
        return False
    return all(t[:1].isupper() or t[:1].isdigit() for t in content) and not (
        len(tokens) == 1 and tokens[0].isupper() and len(tokens[0]) > 5  # "NEVER": shouting, not a name
    )


@dataclass
class _Mention:
    start: int
    end: int
    name: str
    id: str | None
    kind: str  # person, org, place, group
    subject: bool = False  # the mention is the subject of its clause


@dataclass(frozen=True)
class _Speaker:
    name: str
    id: str | None = None
    org: str | None = None


@dataclass
class _Attribution:
    speaker: _Speaker
    cue: str
    cue_start: int  # offset of the cue in the text (-1 when carried over from an earlier quote)
    fragment: bool = False


class ClaimExtractor:
    """Claims of one parsed document."""

    def __init__(
        self,
        doc: Any,
        by_id: Mapping[str, GazetteerName],
        normalise: Any,
        demonyms: Mapping[str, str],
        cues: CueLexicon | None = None,
        person_name: Any = None,
    ) -> None:
        self.doc = doc
        self.person_name = person_name or normalise
        self.demonyms = demonyms
        self.cues = cues or CueLexicon()
        self._quote_cues = self.cues.verbs | self.cues.quote_only
        self.text: str = doc_text(doc)
        self.by_id = by_id
        self.normalise = normalise
        self.quotes = quote_spans(self.text)
        self._quote_starts = [q.start for q in self.quotes]
        self._gender: dict[str, str] = {}  # "m" or "f" for a person's name, when the story shows it
        self.mentions = self._mentions()
        self._mention_ends = [m.end for m in self.mentions]
        self._anonymous: dict[str, _Speaker] = {}
        self._demonym_words = frozenset(d.casefold() for d in demonyms.values() if d and len(d) > 3)

    # --- helpers ------------------------------------------------------------------------------

    def inside_quote(self, pos: int) -> bool:
        k = bisect.bisect_right(self._quote_starts, pos) - 1
        return k >= 0 and self.quotes[k].start <= pos < self.quotes[k].end

    def _mentions(self) -> list[_Mention]:
        out: list[_Mention] = []
        surnames: dict[str, tuple[str, str | None]] = {}
        # Surnames of the people the tagger found anywhere in the story: the same name tagged as an
        # organisation or a place elsewhere ("Reyes said"), or missed ("Ellery spoke"), is that person.
        tagged: dict[str, tuple[str, str | None]] = {}
        for ent in self.doc.ents:
            if ent.label_ == "PERSON" and not (ent.ent_id_ and ent.ent_id_ in self.by_id):
                words = str(self.person_name(ent.text)).split()
                if len(words) > 1:
                    tagged.setdefault(words[-1], (" ".join(words), None))
        covered: set[int] = set()
        for ent in self.doc.ents:
            kind = {"PERSON": "person", "ORG": "org", "GPE": "place", "NORP": "group"}.get(ent.label_)
            if kind is None:
                continue
            known = self.by_id.get(ent.ent_id_) if ent.ent_id_ else None
            if known is not None and kind == "person" and getattr(known, "type", "person") != "person":
                kind = "org" if getattr(known, "type", "") == "org" else "place"
            if known is None and kind in ("org", "place") and self._person_like(ent, tagged):
                kind = "person"
            name = known.name if known else (self.person_name if kind == "person" else self.normalise)(ent.text)
            ent_id = known.id if known else None
            if kind == "person":
                parts = name.split()
                if len(parts) == 1 and parts[0] in surnames:
                    name, ent_id = surnames[parts[0]][0], ent_id or surnames[parts[0]][1]
                elif len(parts) == 1 and parts[0] in tagged:
                    name = tagged[parts[0]][0]
                elif len(parts) > 1:
                    surnames[parts[-1]] = (name, ent_id)
                self._note_gender(name, ent)
            covered.update(range(ent.start, ent.end))
            out.append(_Mention(ent.start_char, ent.end_char, name, ent_id, kind, self._is_subject(ent.root)))
        for tok in self.doc:
            if tok.i in covered or tok.pos_ != "PROPN" or tok.text not in tagged:
                continue
            if tok.i + 1 < len(self.doc) and self.doc[tok.i + 1].pos_ == "PROPN":
                continue  # part of a longer name
            name = tagged[tok.text][0]
            self._note_gender(name, self.doc[tok.i : tok.i + 1])
            out.append(_Mention(tok.idx, tok.idx + len(tok.text), name, None, "person", self._is_subject(tok)))
        out.sort(key=lambda m: m.start)
        return out

    @staticmethod
    def _is_subject(root: Any) -> bool:
        """The subject of a clause that carries the story, not of a relative clause on someone else
        ("Wehrmann, whose predecessor Ulrike Brandt had pushed …, spoke": Wehrmann)."""
        if root.dep_ == "appos":
            root = root.head
        return root.dep_ in ("nsubj", "nsubjpass") and root.head.dep_ not in ("relcl", "acl")

    def _person_like(self, ent: Any, tagged: Mapping[str, Any]) -> bool:
        """A name tagged as an organisation or place that is a person: a surname the tagger knows as a
        person's, a title before it ("Ms Brun"), a relative "who" on it, or a role in apposition."""
        words = str(self.person_name(ent.text)).split()
        if not words or len(words) > 4:
            return False
        if words[-1] in tagged and (len(words) == 1 or " ".join(words) == tagged[words[-1]][0]):
            return True  # not "County Kerry" beside "John Kerry"
        if ent[0].lower_.rstrip(".") in _HONORIFICS:
            return True
        if ent.start > 0 and self.doc[ent.start - 1].lower_.rstrip(".") in _HONORIFICS:
            return True
        root = ent.root
        if any(c.dep_ == "relcl" and self.doc[c.left_edge.i].lower_ == "who" for c in root.children):
            return True
        roles = [root.head] if root.dep_ == "appos" else []
        roles += [c for c in root.children if c.dep_ == "appos"]
        return any(r.pos_ == "NOUN" and r.lower_ in ROLE_NOUNS for r in roles)

    def _note_gender(self, name: str, span: Any) -> None:
        """He or she, from a title ("Ms Keane") or "X said she …" (the subject of the reported clause)."""
        before = self.doc[span.start - 1].lower_.rstrip(".") if span.start > 0 else ""
        gender = _HONORIFICS.get(span[0].lower_.rstrip(".")) or _HONORIFICS.get(before)
        root = span.root
        if gender is None and root.dep_ in ("nsubj", "nsubjpass") and root.head.lower_ in self._quote_cues:
            for comp in (c for c in root.head.children if c.dep_ == "ccomp"):
                pron = next((c.lower_ for c in comp.children if c.dep_ in ("nsubj", "nsubjpass")), "")
                gender = {"he": "m", "she": "f"}.get(pron, gender)
        if gender:
            self._gender.setdefault(name, gender)

    def last_mention(self, before: int, kinds: Sequence[str], outside_quotes: bool = True) -> _Mention | None:
        k = bisect.bisect_right(self._mention_ends, before)
        for m in reversed(self.mentions[:k]):
            if m.kind in kinds and not (outside_quotes and self.inside_quote(m.start)):
                return m
        return None

    def _paragraph_start(self, pos: int) -> int:
        return self.text.rfind("\n\n", 0, pos) + 1

    def _resolve_person(self, before: int, pronoun: str = "") -> _Mention | None:
        """He/she: the last person who was the subject of a clause, in this or the previous paragraph;
        else the last person named. The speaker named a sentence earlier beats a person named since
        inside what they said, or as the object of a clause; a person known to be of the other gender
        (a title, "X said she …") is skipped."""
        want = _PRONOUN_GENDER.get(pronoun)
        k = bisect.bisect_right(self._mention_ends, before)
        people = [
            m for m in self.mentions[:k]
            if m.kind == "person" and not self.inside_quote(m.start) and self._gender.get(m.name, want) == want
        ]
        if not people:
            return self.last_mention(before, ("person",))
        window = self._paragraph_start(self._paragraph_start(before) - 2) if before > 2 else 0
        for m in reversed(people):
            if m.start < window:
                break
            if m.subject:
                return m
        return people[-1]

    def _title(self, m: _Mention) -> set[str]:
        """The words of a person's title: before the name ("Health Secretary Alan Whitlock") or in
        apposition ("the Chancellor, Rachel Orme"; "Fiona Carr, the director of …")."""
        span = self.doc.char_span(m.start, m.end, alignment_mode="expand")
        if span is None:
            return set()
        root = span.root
        words = [t for t in self.doc[root.left_edge.i : span.start] if t.dep_ in ("compound", "amod")]
        heads = [root.head] if root.dep_ == "appos" else []
        heads += [c for c in root.children if c.dep_ == "appos"]
        for head in heads:
            words += [t for t in self._core(head) if t.dep_ not in ("det", "poss", "case")
                      and not span.start <= t.i < span.end]
        return {t.lower_ for t in words if not t.is_punct}

    def person_titled(self, subj: Any) -> _Mention | None:
        """ "the minister", "the health secretary": the person named earlier with that title, the one
        whose title matches it best ("Health Secretary Alan Whitlock", not "shadow health secretary
        Joanna Reeve"), else the last such."""
        role = {t.lower_ for t in self._core(subj) if t.dep_ not in ("det", "poss", "case")}
        k = bisect.bisect_right(self._mention_ends, subj.idx)
        best: tuple[int, int, int] | None = None
        found = None
        for i, m in enumerate(self.mentions[:k]):
            if m.kind != "person" or self.inside_quote(m.start):
                continue
            title = self._title(m)
            if subj.lower_ not in title:
                continue
            rank = (len(role & title), -len(title - role), i)
            if best is None or rank > best:
                best, found = rank, m
        return found

    def person_with_role(self, role: str, before: int) -> _Mention | None:
        """The last person named right after the role noun ("Kremlin spokesman Dmitry Peskov")."""
        k = bisect.bisect_right(self._mention_ends, before)
        for m in reversed(self.mentions[:k]):
            if m.kind == "person" and (
                role in self.text[max(0, m.start - 40) : m.start].lower()
                or self._appositive_role(role, m.end)
            ):
                return m
        return None

    def _appositive_role(self, role: str, end: int) -> bool:
        """ "Ruta Simkute, a spokeswoman for the armed forces": the role in apposition after the name."""
        after = self.text[end : end + 60]
        if not after.startswith(","):
            return False
        return role in after[1:].split(",")[0].lower().split()

    # --- speakers -----------------------------------------------------------------------------

    def _as_speaker(self, m: _Mention) -> _Speaker:
        """A place speaking is its government: "Moscow said" is Russia speaking."""
        if m.kind == "place" and m.id:
            entry = self.by_id.get(m.id)
            government = getattr(entry, "government", None)
            if government and (gov := self.by_id.get(government)) is not None:
                return _Speaker(gov.name, gov.id)
        return _Speaker(m.name, m.id)

    def _cased(self, tok: Any) -> str:
        """A describing word in one spelling wherever it stands: "City officials" and "city officials" are one
        speaker; a demonym is capitalised ("Lithuanian officials"), a name keeps its capitals."""
        if tok.lower_ in self._demonym_words:
            return str(tok.lower_).capitalize()
        if tok.ent_type_ or (tok.pos_ == "PROPN" and not tok.is_sent_start):
            return str(tok.text)
        return str(tok.lower_)

    def _describe(self, span: Any) -> str:
        """A speaker described, not named: "Poland's defence minister" becomes "Polish defence minister".

        Without an article or possessive, and a common noun lower-cased at the start of a sentence,
        so "Officials" and "officials" are one speaker."""
        while len(span) > 1 and span[0].lower_ in ("a", "an", "the", "its", "their", "his", "her", "our"):
            span = span[1:]
        text = str(self.normalise(span.text))
        first = span[0]
        common = (
            (first.pos_ in ("NOUN", "ADJ") or (
                first.pos_ == "PROPN" and first.is_sent_start and len(span) > 1
                and not any(t.text[:1].isupper() for t in span[1:])
            ))
            and not first.ent_type_
            and first.lower_ not in self._demonym_words
        )  # "Weather forecasters" opening a sentence, tagged a proper noun, are weather forecasters
        if common and first.text[:1].isupper() and text.startswith(first.text):
            text = first.lower_ + text[len(first.text) :]
        m = _POSSESSIVE.match(text)
        if m and (demonym := self.demonyms.get(m.group(1).casefold())):
            text = f"{demonym} {m.group(2)}"
        return text

    def _generic_org(self, noun: Any, before: int) -> _Mention | None:
        """ "The bank said": the last organisation named that is such a thing, else the last one named."""
        word = noun.lower_.rstrip("s")
        k = bisect.bisect_right(self._mention_ends, before)
        earlier = [
            m
            for m in self.mentions[:k]
            if m.kind == "org" and not self.inside_quote(m.start) and not self._in_dateline(m.start)
        ]
        for m in reversed(earlier):
            if word in m.name.casefold():
                return m
        return earlier[-1] if earlier else None

    def _core(self, head: Any) -> list[Any]:
        """The head of a noun phrase and its modifiers, without relative clauses, appositions or
        prepositional phrases (where other people are named: "an adviser to Viktor Orban")."""
        out = [head]
        for c in head.children:
            if c.dep_ in ("compound", "flat", "amod", "nmod", "poss", "det", "nummod", "case", "quantmod"):
                out.extend(self._core(c))
        return sorted(out, key=lambda t: t.i)

    def _mentions_in(self, tokens: Sequence[Any]) -> list[_Mention]:
        starts = {t.idx for t in tokens}
        return [m for m in self.mentions if any(m.start <= s < m.end for s in starts)]

    def speaker_of(self, verb: Any) -> _Speaker | None:
        # "TASS quoted Peskov as saying …": the one quoted speaks.
        if verb.lower_ == "saying" and verb.head.lower_ in ("quoted", "quoting", "quotes", "quote"):
            quoted = verb.head
        elif verb.lower_ == "saying" and verb.head.dep_ == "prep" and verb.head.head.lower_.startswith("quot"):
            quoted = verb.head.head
        else:
            quoted = None
        if quoted is not None:
            obj = next((c for c in quoted.children if c.dep_ == "dobj"), None)
            if obj is not None:
                return self._speaker_of_np(obj)
        subjects = [c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass")]
        # "his counterpart Viktor Orban had told him": the parser may give two subjects; the named one speaks.
        named = [c for c in subjects if any(m.kind == "person" for m in self._mentions_in([c]))]
        subj = (named or subjects or [None])[0]
        if subj is None and verb.dep_ in ("conj", "advcl", "xcomp", "pcomp") and verb.head is not verb:
            return self.speaker_of(verb.head if verb.dep_ != "pcomp" else verb.head.head)
        if subj is None or subj.is_punct or self.inside_quote(subj.idx) or _DATELINE_WORD.fullmatch(subj.text):
            return self._entity_near(verb)
        return self._speaker_of_np(subj)

    def _named_in(self, head: Any) -> list[_Mention]:
        """Persons named in a noun phrase or in its appositions, not in its prepositional phrases or
        relative clauses ("Anna Kovacs, an adviser to Viktor Orban": Kovacs)."""
        tokens, stack = [], [head]
        while stack:
            tok = stack.pop()
            tokens.append(tok)
            stack.extend(c for c in tok.children if c.dep_ not in _NOT_THE_NAME)
        return [m for m in self._mentions_in(tokens) if m.kind == "person" and not self.inside_quote(m.start)]

    def _speaker_of_np(self, subj: Any) -> _Speaker | None:
        lower = subj.lower_
        if subj.pos_ == "PRON" or lower in PRONOUNS_PERSON or lower in PRONOUNS_OTHER:
            if lower in ("i", "we", "you", "me", "us"):
                return None  # first person outside a quote: the writer, not a source
            if lower in ("who", "which", "that") and subj.head.dep_ == "relcl":
                return self._speaker_of_np(subj.head.head)
            m = self._resolve_person(subj.idx, lower) if lower in PRONOUNS_PERSON else self.last_mention(
                subj.idx, ("org", "person")
            )
            return self._as_speaker(m) if m else None
        # "one of the officials", "most of the analysts": the group is the speaker.
        if lower in _PARTITIVES or subj.pos_ == "NUM":
            of = next((c for c in subj.children if c.dep_ == "prep" and c.lower_ == "of"), None)
            pobj = next((c for c in of.children if c.dep_ == "pobj"), None) if of is not None else None
            if pobj is not None:
                return self._speaker_of_np(pobj)
        core = [t for t in self._core(subj) if not self._in_dateline(t.idx)]
        inside = [m for m in self._mentions_in(core) if not self.inside_quote(m.start)]
        persons = self._named_in(subj)
        if persons:
            return _Speaker(persons[0].name, persons[0].id)
        singular = _PLURALS.get(lower, lower[:-1] if lower.endswith("s") and not lower.endswith("ss") else lower)
        orgs = [m for m in inside if m.kind in ("org", "place")]
        if singular in ANONYMOUS_HEADS and subj.pos_ == "NOUN" and self._unnamed(subj):
            return self._anonymous_speaker(subj, core, orgs)
        if lower in _PUBLICATION_PARTS and (found := self._publication(subj)) is not None:
            return found
        if (subj.pos_ == "NOUN" and _definite(subj) and not orgs and lower == singular
                and (m := self.person_titled(subj))):
            return _Speaker(m.name, m.id)  # "the coroner said": the person introduced with that title
        span = self._phrase(subj)
        if lower in ROLE_NOUNS or singular in ROLE_NOUNS or singular in ANONYMOUS_HEADS or lower in self._demonym_words:
            definite = any(c.dep_ in ("det", "poss") for c in subj.children) or lower in self._demonym_words
            m = self.person_with_role(lower, subj.idx) if definite else None
            if m is not None:
                return _Speaker(m.name, m.id)
            if singular in self._anonymous:
                return self._anonymous[singular]
            if lower in self._demonym_words and (m := self._resolve_person(subj.idx)) is not None:
                return _Speaker(m.name, m.id)  # "the Czech said": the player named before
            if lower in self._demonym_words and len(span) == 1:
                return _Speaker("unnamed " + lower.capitalize())  # "the Lithuanian said", no one named: not a name
            return _Speaker(self._describe(span))
        if singular in self._demonym_words and len(span) == 1:
            return _Speaker("unnamed " + singular.capitalize() + lower[len(singular) :])  # "Lithuanians said"
        if lower in GENERIC_ORGS and not orgs and all(t.dep_ == "det" for t in core if t is not subj):
            m = self._generic_org(subj, subj.idx)
            if m is not None:
                return _Speaker(m.name, m.id)
        head_named = [m for m in orgs if m.start <= subj.idx < m.end]
        if head_named:
            return self._as_speaker(head_named[0])
        if orgs and len(core) <= 2 and lower not in GENERIC_ORGS:
            return self._as_speaker(orgs[-1])
        if lower in _DOCUMENTS:
            # "The declaration said": its authors, named in it or just before.
            named = [m for m in self._mentions_in(list(subj.subtree)) if m.kind in ("org", "person")]
            m = named[0] if named else self.last_mention(subj.idx, ("org",))
            if m is not None:
                return self._as_speaker(m)
        return _Speaker(self._describe(span))

    def _publication(self, subj: Any) -> _Speaker | None:
        """ "The Ledger's editorial board wrote", "its editorial page", "an editorial in the paper",
        "the newspaper said": the publication, named or the last organisation named."""
        owner = next((c for c in subj.children if c.dep_ == "poss"), None)
        if owner is not None:
            return self._speaker_of_np(owner)
        for prep in (c for c in subj.children if c.dep_ == "prep" and c.lower_ in ("in", "of", "at")):
            pobj = next((c for c in prep.children if c.dep_ == "pobj"), None)
            if pobj is not None and pobj.lower_ in _PUBLICATION_PARTS:
                return self._publication(pobj)
        if subj.lower_ in _NEWSPAPERS and _definite(subj):
            m = self.last_mention(subj.idx, ("org",))
            return self._as_speaker(m) if m else None
        return None

    def _phrase(self, subj: Any) -> Any:
        """The subject's words for a described speaker: up to a comma, a relative clause or the verb."""
        left = subj.left_edge.i
        while left < subj.i and (
            self.doc[left].is_punct
            or self.doc[left].lower_ in ("the", "a", "an")
            or _DATELINE_WORD.fullmatch(self.doc[left].text)
            or self._in_dateline(self.doc[left].idx)
            or self.inside_quote(self.doc[left].idx)
        ):
            left += 1
        right = subj.i
        for tok in self.doc[subj.i + 1 : subj.right_edge.i + 1]:
            if tok.is_punct or tok.dep_ in ("relcl", "acl", "appos", "cc") or tok.lower_ in ("who", "which", "that"):
                break
            right = tok.i
        return self.doc[left : right + 1]

    def _in_dateline(self, pos: int) -> bool:
        para = self._paragraph_start(pos)
        m = _DATELINE.match(self.text, para)
        return m is not None and pos < m.end()

    def _unnamed(self, head: Any) -> bool:
        """Indefinite ("a senior official", "two diplomats", "officials") or anaphoric to such."""
        det = next((c for c in head.children if c.dep_ in ("det", "nummod", "quantmod")), None)
        if det is None:
            return not any(c.dep_ == "poss" for c in head.children) and head.lower_.endswith(("s", "people"))
        if det.lower_ in ("a", "an", "one", "some", "several", "many", "two", "three", "four", "other", "another"):
            return True
        if det.pos_ == "NUM":
            return True
        singular = head.lower_.rstrip("s")
        return det.lower_ in ("the", "this", "that", "these", "those") and singular in self._anonymous

    def _anonymous_speaker(self, head: Any, core: Sequence[Any], orgs: Sequence[_Mention]) -> _Speaker:
        org = orgs[0] if orgs else None
        if org is None:
            # "an official at the ministry", "a source close to the Kremlin", "a spokesman for NATO"
            for prep in (c for c in head.children if c.dep_ == "prep"):
                found = [m for m in self._mentions_in(list(prep.subtree)) if m.kind in ("org", "place")]
                if found:
                    org = found[0]
                    break
        skip = {t.i for t in core if t.dep_ in ("det", "nummod", "quantmod", "poss", "case")}
        if org is not None:
            skip |= {t.i for t in core if org.start <= t.idx < org.end}
        words = [self._cased(t) for t in core if t.i not in skip and not t.is_punct and t.i <= head.i]
        singular = head.lower_.rstrip("s") if head.lower_ != "people" else "person"
        if head.lower_ in ("the", "this") or (words and words[0] in ("the",)):
            words = words[1:]
        words = words or [head.lower_]
        speaker = _Speaker("unnamed " + " ".join(words), None, self._as_speaker(org).name if org else None)
        if any(c.dep_ == "det" and c.lower_ in ("the", "this", "that", "these", "those") for c in head.children):
            return self._anonymous.get(singular, speaker)
        self._anonymous[singular] = speaker
        return speaker

    def _entity_near(self, verb: Any) -> _Speaker | None:
        """For "…,» said Lavrov": the person named right after the verb, else the organisation."""
        sent = verb.sent
        near = [
            m for m in self.mentions
            if verb.idx < m.start < min(sent.end_char, verb.idx + 60) and not self.inside_quote(m.start)
            and m.kind in ("person", "org", "place")
        ]
        persons = [m for m in near if m.kind == "person"]
        if persons:
            return _Speaker(persons[0].name, persons[0].id)
        return self._as_speaker(near[0]) if near else None

    def is_cue(self, tok: Any, quote_only: bool = True) -> bool:
        forms = self._quote_cues if quote_only else self.cues.verbs
        return tok.lower_ in forms and tok.pos_ in ("VERB", "AUX") and not self.inside_quote(tok.idx)

    def negated(self, verb: Any) -> bool:
        """ "did not say", "declined to comment", "if asked", "could say": no content is claimed."""
        node = verb
        for _ in range(3):
            if any(c.dep_ == "neg" for c in node.children):
                return True
            if any(c.dep_ == "mark" and c.lower_ in _CONDITIONAL for c in node.children):
                return True
            if any(c.dep_ == "aux" and c.lower_ in _HYPOTHETICAL_AUX for c in node.children):
                return True
            if node is not verb and node.lower_ in self.cues.negating:
                return True
            if node.dep_ not in ("xcomp",) or node.head is node:
                break
            node = node.head
        return node.lower_ in self.cues.negating and node is not verb

    def speech_verbs(self, start: int, end: int) -> list[Any]:
        """Cue verbs outside quotes between two character offsets."""
        return [tok for tok in self.doc.char_span(start, end, alignment_mode="expand") or () if self.is_cue(tok)]

    # --- direct quotes and fragments ----------------------------------------------------------

    def _naming_before(self, q: QuoteSpan) -> bool:
        """The quote names something: "the so-called «peacekeepers»", "a group called «X»"."""
        before = self.text[max(0, q.start - 30) : q.start - 1].rstrip()
        words = re.findall(r"[\w'-]+", before.casefold())
        if not words:
            return False
        if words[-1] in _NAMING or (len(words) > 1 and words[-2:] == ["known", "as"]):
            span = self.doc.char_span(max(0, q.start - 30), q.start, alignment_mode="expand")
            last = [t for t in (span or ()) if not t.is_punct]
            if last and last[-1].lower_ in self.cues.fragment_verbs and any(
                c.dep_ in ("nsubj", "nsubjpass") for c in last[-1].children
            ) and last[-1].dep_ not in ("acl", "amod", "relcl"):
                return False  # "Peskov dubbed the move «a provocation»": a fragment, not a name
            return True
        return False

    def _fragment_cue(self, q: QuoteSpan) -> Any | None:
        """The cue verb whose complement the quoted words are: "called the plan «reckless»"."""
        span = self.doc.char_span(q.start, q.end, alignment_mode="expand")
        if span is None or not len(span):
            return None
        root = span.root
        node, prep = root, None
        for _ in range(4):
            head = node.head
            if head is node:
                return None
            if head.dep_ == "prep" and node.dep_ in ("pobj", "amod", "pcomp", "dobj"):
                prep, node = head, head
                continue
            if node.dep_ in ("conj", "appos") and head.idx >= q.start:
                node = head
                continue
            if self.is_cue(head, quote_only=False) or head.lower_ in self.cues.fragment_verbs:
                if head.pos_ not in ("VERB", "AUX") or self.inside_quote(head.idx) or head.dep_ in ("acl", "amod"):
                    return None
                if prep is not None and prep.lower_ not in ("as", "of", "for", "to", "about", "against"):
                    return None
                dep = prep.dep_ if prep is not None else node.dep_
                if dep not in _FRAGMENT_DEPS and dep != "prep":
                    return None
                if dep == "dobj" and any(c.dep_ in ("oprd", "prep") and c.i > node.i and c.lower_ == "as"
                                         for c in head.children):
                    return None  # "described the «shadow fleet» as a threat": the object is not the claim
                return head
            return None
        return None

    def direct(self) -> list[Claim]:
        claims: list[Claim] = []
        last: _Attribution | None = None
        pending: list[QuoteSpan] = []  # quotes running on into the next paragraph
        for q in self.quotes:
            start, end = _trimmed(self.text, q.start, q.end)
            content = self.text[start:end]
            if not content.strip():
                continue
            words = len(content.split())
            if not pending and (self._naming_before(q) or looks_like_title(content)):
                continue
            attribution = self._attribution(q)
            if words < MIN_QUOTE_WORDS and not pending and not q.continued:
                more = self._split_from_previous(q, attribution, claims, last) if attribution else None
                if more or (attribution is None and self._right_after(q, claims)):
                    claims.append(self._extend(claims.pop(), [q]))  # “It's a disgrace,” he said. “A total disgrace.”
                    continue
                if attribution is not None and attribution.cue_start >= 0 and self._directly_attributed(q, attribution):
                    pass  # "«Never,» he said." is a whole answer
                else:
                    verb = self._fragment_cue(q)
                    if verb is None or self.negated(verb):
                        continue
                    speaker = self.speaker_of(verb)
                    if speaker is None:
                        continue
                    claims.append(self._claim(speaker, verb.text, "fragment", [q]))
                    continue
            if attribution is None and last is not None and self._continues_previous(q, claims):
                attribution = _Attribution(last.speaker, last.cue, -1)
            if q.continued:
                pending.append(q)
                if attribution is not None:
                    last = attribution
                continue
            if attribution is None:
                pending = []
                continue
            parts = [*pending, q]
            pending = []
            if self._split_from_previous(q, attribution, claims, last):
                previous = claims.pop()
                claims.append(self._extend(previous, parts))
            else:
                claims.append(self._claim(attribution.speaker, attribution.cue, "direct", parts))
            last = attribution
        return claims

    def _directly_attributed(self, q: QuoteSpan, a: _Attribution) -> bool:
        """The cue sits right beside the quote (“…,” she said / she said: “…”)."""
        if a.cue_start >= q.end:
            between = self.text[q.end : a.cue_start]
            if len(between) > 40 or "\n" in between:
                return False
            # Nothing but the cue's subject between: not "«a term», a word Western governments reject".
            span = self.doc.char_span(q.end + 1, a.cue_start, alignment_mode="contract")
            verb = self.doc.char_span(a.cue_start, a.cue_start + 1, alignment_mode="expand")
            if span is None or verb is None:
                return True
            subject = {t.i for c in verb[0].children if c.dep_ in ("nsubj", "nsubjpass") for t in c.subtree}
            return all(t.is_punct or t.i in subject or t.pos_ in ("ADV", "PART") for t in span)
        between = self.text[a.cue_start : q.start]
        return len(between) <= 40 and between.rstrip(" “\"«‘").endswith((":", ",")) and "\n" not in between

    def _split_from_previous(
        self, q: QuoteSpan, a: _Attribution, claims: list[Claim], last: _Attribution | None
    ) -> bool:
        """“A,” he said, “B.”: the attribution between two parts of one quotation."""
        if not claims or last is None or claims[-1].kind != "direct" or last.cue_start < 0:
            return False
        prev_end = claims[-1].parts[-1][1] if claims[-1].parts else claims[-1].end
        if not (prev_end < last.cue_start < q.start) or last.speaker != a.speaker:
            return False
        between = self.text[prev_end : q.start]
        if "\n" in between or len(between) > 90:
            return False
        closed = between.lstrip(" \n\t”\"»’")
        # The first part ended on a comma inside or outside the marks, or the attribution is short.
        return self.text[prev_end - 1 : prev_end] in ",—–-" or closed.startswith(",") or len(between) <= 45

    def _claim(self, speaker: _Speaker, cue: str, kind: str, parts: Sequence[QuoteSpan]) -> Claim:
        spans = [_trimmed(self.text, p.start, p.end) for p in parts]
        (s, e), rest = spans[0], tuple(x for x in spans[1:] if x[1] > x[0])
        return Claim(speaker.name, cue, kind, self.text[s:e], s, e, speaker.id, parts=rest, speaker_org=speaker.org)

    def _extend(self, claim: Claim, parts: Sequence[QuoteSpan]) -> Claim:
        more = tuple(x for x in (_trimmed(self.text, p.start, p.end) for p in parts) if x[1] > x[0])
        return Claim(claim.speaker, claim.cue, claim.kind, claim.text, claim.start, claim.end, claim.speaker_id,
                     parts=claim.parts + more, speaker_org=claim.speaker_org)

    def _right_after(self, q: QuoteSpan, claims: list[Claim]) -> bool:
        """A short quote just after a direct claim's attribution, in the same paragraph: more of it."""
        if not claims or claims[-1].kind != "direct":
            return False
        prev_end = claims[-1].parts[-1][1] if claims[-1].parts else claims[-1].end
        between = self.text[prev_end : q.start]
        return "\n" not in between and len(between) <= 60

    def _continues_previous(self, q: QuoteSpan, claims: list[Claim]) -> bool:
        """An unattributed quote right after a quoted speaker's words, in the same or the next paragraph."""
        if not claims or claims[-1].kind == "fragment":
            return False
        prev_end = claims[-1].parts[-1][1] if claims[-1].parts else claims[-1].end
        between = self.text[prev_end : q.start]
        return between.count("\n\n") <= 1 and len(between) <= 300

    def _attribution(self, q: QuoteSpan) -> _Attribution | None:
        span = self.doc.char_span(q.start, max(q.start + 1, q.end), alignment_mode="expand")
        if span is None:
            return None
        first = span[0].sent
        last_sent = span[-1].sent
        para_end = self.text.find("\n\n", q.end)
        para_end = len(self.text) if para_end < 0 else para_end
        para_start = self._paragraph_start(q.start)
        lo = max(min(first.start_char, q.start), para_start)
        hi = min(max(last_sent.end_char, q.end), para_end)
        after = self.speech_verbs(q.end, hi)
        if not after and self.text[q.start : q.end].rstrip()[-1:] in "?!,—":
            # “Why now?” | she asked.: the parser split the sentence after a question; the cue sits right there.
            after = self.speech_verbs(q.end, min(q.end + 40, para_end))
        # Prefer a verb after the quote ("…," he said), then one before it (He said: "…").
        for verbs in (after, list(reversed(self.speech_verbs(lo, q.start)))):
            for verb in verbs:
                if self.negated(verb):
                    continue
                found = self.speaker_of(verb)
                if found is not None:
                    return _Attribution(found, verb.text, verb.idx)
        return self._lead_in(q, lo) or self._noun_cue(q, lo, hi)

    def _lead_in(self, q: QuoteSpan, lo: int) -> _Attribution | None:
        """A colon lead-in without a verb: `Smith on tariffs: "…"`, `Of the deal, the minister: "…"`."""
        before = self.text[lo : q.start - 1]
        stripped = before.rstrip()
        if not stripped.endswith(":") or len(stripped) > 160:
            return None
        lead = stripped[:-1]
        start = lo + (len(before) - len(before.lstrip()))
        for m in self.mentions:
            if start <= m.start < lo + len(lead) and m.kind in ("person", "org") and not self.inside_quote(m.start):
                return _Attribution(self._as_speaker(m), ":", lo + len(lead))
        span = self.doc.char_span(start, lo + len(lead), alignment_mode="contract")
        names = [t for t in (span or ()) if t.pos_ == "PROPN" and not _DATELINE_WORD.fullmatch(t.text)]
        if names:
            first = names[0]
            run = [first]
            while run[-1].i + 1 < len(self.doc) and self.doc[run[-1].i + 1].pos_ == "PROPN":
                run.append(self.doc[run[-1].i + 1])
            name = self.normalise(" ".join(t.text for t in run))
            for m in self.mentions:  # a surname alone: the full name said earlier
                if m.kind == "person" and m.name.split()[-1:] == name.split()[-1:]:
                    return _Attribution(_Speaker(m.name, m.id), ":", lo + len(lead))
            return _Attribution(_Speaker(name), ":", lo + len(lead))
        return None

    def _noun_cue(self, q: QuoteSpan, lo: int, hi: int) -> _Attribution | None:
        """ "In a statement, the ministry: …" or "…, the minister in an interview": a noun cue and its subject."""
        span = self.doc.char_span(lo, hi, alignment_mode="expand")
        for tok in span or ():
            if self.inside_quote(tok.idx) or tok.lower_ not in self.cues.nouns or tok.pos_ != "NOUN":
                continue
            root = tok.sent.root
            subj = next((c for c in root.children if c.dep_ in ("nsubj", "nsubjpass")), None)
            if subj is not None and not self.inside_quote(subj.idx):
                found = self._speaker_of_np(subj)
                if found is not None:
                    return _Attribution(found, tok.text, tok.idx)
        return None

    # --- reported speech ----------------------------------------------------------------------

    def reported(self) -> list[Claim]:
        claims: list[Claim] = []
        for tok in self.doc:
            if self.inside_quote(tok.idx):
                continue
            if self.is_cue(tok, quote_only=False):
                if self.negated(tok):
                    continue
                claim = self._reported_by(tok)
                if claim is not None:
                    claims.append(claim)
            elif tok.lower_ == "according" and tok.i + 1 < len(self.doc) and tok.nbor(1).lower_ == "to":
                claim = self._according_to(tok)
                if claim is not None:
                    claims.append(claim)
        return claims

    def _reported_by(self, verb: Any) -> Claim | None:
        comp = next((c for c in verb.children if c.dep_ in ("ccomp", "parataxis") and c.pos_ in ("VERB", "AUX")), None)
        if comp is None:
            comp = self._clause_after_noun_cue(verb)
        if comp is not None:
            span = self.doc[comp.left_edge.i : comp.right_edge.i + 1]
            if span.start > verb.i:
                first = span[0]
                start = first.idx + len(first.text) + 1 if first.lower_ == "that" else span.start_char
            else:
                start = span.start_char  # the wire lede: "Jets were scrambled on Monday, the ministry said."
            end = span.end_char
        elif verb.lower_.startswith(("accus", "den")):
            # "accused Brussels of undermining ...", "denied the report"
            obj = next((c for c in verb.children if c.dep_ == "dobj"), None)
            if obj is None:
                return None
            tail = [c for c in verb.children if c.dep_ == "prep" and c.i > obj.i]
            start, end = obj.left_edge.idx, (tail[-1] if tail else obj).right_edge
            end = end.idx + len(end.text)
        else:
            return None
        if self._in_dateline(start):
            start = max(start, _DATELINE.match(self.text, self._paragraph_start(start)).end())  # type: ignore[union-attr]
        start, end = _trimmed(self.text, start, end)
        while end > start and self.text[end - 1] in ".":
            end -= 1
        if len(self.text[start:end].split()) < 3 or self._mostly_quote(start, end):
            return None
        found = self.speaker_of(verb)
        if found is None:
            return None
        return Claim(found.name, verb.text, "reported", self.text[start:end], start, end, found.id,
                     speaker_org=found.org)

    def _clause_after_noun_cue(self, verb: Any) -> Any | None:
        """ "wrote in an editorial that …": the parser hangs the clause on the noun cue."""
        for prep in (c for c in verb.children if c.dep_ == "prep" and c.i > verb.i):
            for noun in (c for c in prep.children if c.dep_ == "pobj" and c.lower_ in self.cues.nouns):
                for clause in noun.children:
                    if clause.dep_ in ("relcl", "acl", "ccomp") and self.doc[clause.left_edge.i].lower_ == "that":
                        return clause
        return None

    def _mostly_quote(self, start: int, end: int) -> bool:
        """Reported clause that is really a direct quote (He said: "…"): the quote claim covers it."""
        quoted = sum(max(0, min(end, q.end) - max(start, q.start)) for q in self.quotes)
        return quoted >= 0.8 * (end - start)

    def _according_to(self, tok: Any) -> Claim | None:
        to = tok.nbor(1)
        obj = next((c for c in to.children if c.dep_ == "pobj"), None)
        if obj is None:
            return None
        phrase = self.doc[tok.i : obj.right_edge.i + 1]
        sent = tok.sent
        if phrase.start_char - sent.start_char < 3:
            start, end = phrase.end_char, sent.end_char
        else:
            start, end = sent.start_char, phrase.start_char
        start, end = _trimmed(self.text, start, end)
        while end > start and self.text[end - 1] in ".":
            end -= 1
        if len(self.text[start:end].split()) < 3 or self._mostly_quote(start, end):
            return None
        span = self.doc[obj.left_edge.i : obj.right_edge.i + 1]
        inside = [m for m in self.mentions if span.start_char <= m.start < span.end_char and m.kind != "group"]
        persons = [m for m in inside if m.kind == "person"]
        singular = obj.lower_.rstrip("s") if obj.lower_ != "people" else "person"
        speaker: _Speaker
        if persons:
            speaker = _Speaker(persons[0].name, persons[0].id)
        elif singular in ANONYMOUS_HEADS and obj.pos_ == "NOUN" and self._unnamed(obj):
            core = self._core(obj)
            speaker = self._anonymous_speaker(obj, core, [m for m in self._mentions_in(core) if m.kind != "person"])
        elif inside:
            speaker = self._as_speaker(inside[-1])
        elif obj.lower_ in GENERIC_ORGS and (m := self._generic_org(obj, obj.idx)) is not None:
            speaker = _Speaker(m.name, m.id)
        else:
            speaker = _Speaker(self._describe(span))
        return Claim(speaker.name, "according to", "reported", self.text[start:end], start, end, speaker.id,
                     speaker_org=speaker.org)


def extract_claims(
    doc: Any,
    by_id: Mapping[str, GazetteerName],
    normalise: Any,
    demonyms: Mapping[str, str] | None = None,
    cues: CueLexicon | None = None,
    person_name: Any = None,
) -> list[Claim]:
    """Every direct, fragment and reported claim in a parsed story, in text order.

    A quote inside reported speech ("said the rules were «a blockade»") is part of that reported
    claim, not a claim of its own.
    """
    extractor = ClaimExtractor(doc, by_id, normalise, demonyms or {}, cues, person_name)
    reported = extractor.reported()
    direct = [d for d in extractor.direct() if not any(r.start <= d.start and d.end <= r.end for r in reported)]
    claims = sorted(direct + reported, key=lambda c: c.start)
    # The same span claimed twice (two cues on one clause): keep the first.
    out: list[Claim] = []
    for c in claims:
        if out and c.start < out[-1].end and (min(c.end, out[-1].end) - c.start) >= 0.5 * (c.end - c.start):
            nested = c.end <= out[-1].end and c.speaker != out[-1].speaker and c.kind == "reported"
            if not nested:  # "X said Y had told him that …": both are claims, each of its own speaker
                continue
        out.append(c)
    return out


_SPACE = re.compile(r"\s+")


def quotation(claim: Claim, text: str) -> str:
    """The claim's words with the further parts of its quotation, joined by an ellipsis."""
    parts = [text[s:e] for s, e in claim.parts if 0 <= s < e <= len(text)]
    return " … ".join([claim.text, *parts])


def claim_key(claim: Claim) -> str:
    """The same words by the same speaker, however punctuated: one claim across stories."""
    words = _SPACE.sub(" ", re.sub(r"[^\w\s]", " ", claim.text.casefold())).strip()
    speaker = claim.speaker_id or _SPACE.sub(" ", claim.speaker.casefold()).strip()
    return f"{speaker}|{hashlib.sha1(words.encode()).hexdigest()[:16]}"
