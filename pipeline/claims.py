"""Who said what: direct quotes and reported speech on a spaCy parse, speakers resolved.

The approach (after the GenderGapTracker and citron extractors, rewritten): quotation marks are
paired by a scan of the text (so quotes may span sentences and run across paragraphs); each quote
is attributed to a speech verb outside the quote in its sentence, else to the speaker of the quote
just before it. Reported speech is a speech verb whose clausal complement lies outside quotes, or
"according to X". Speakers that are pronouns or role nouns ("the Kremlin spokesman") resolve to
the person named earlier.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.models import Claim

_VERB_BASES = (
    "say tell warn add state insist claim deny maintain accuse argue announce declare stress note explain "
    "confirm urge reply respond vow caution acknowledge admit assert contend emphasise emphasize predict "
    "promise reiterate suggest threaten complain allege recall remark report testify concede counter "
    "observe point retort signal underline highlight comment demand dismiss describe"
).split()
_IRREGULAR = {
    "said",
    "says",
    "saying",
    "told",
    "tells",
    "telling",
    "wrote",
    "writes",
    "written",
    "write",
    "spoke",
    "speaks",
    "said:",
    "quipped",
}


def _forms(base: str) -> set[str]:
    stem = base[:-1] if base.endswith("e") else base
    ies = base[:-1] + "ies" if base.endswith("y") and base[-2] not in "aeiou" else base + "s"
    ied = base[:-1] + "ied" if base.endswith("y") and base[-2] not in "aeiou" else stem + "ed"
    if base.endswith(("ss", "sh", "ch", "x")):
        ies = base + "es"
    doubled = base + base[-1] + "ed" if base in ("admit", "regret", "commit") else ied
    return {base, ies, ied, doubled, stem + "ing", base + "ing"}


SPEECH_VERBS = frozenset(f for b in _VERB_BASES for f in _forms(b)) | _IRREGULAR
ROLE_NOUNS = frozenset(
    "spokesman spokeswoman spokesperson minister president premier chancellor secretary ambassador "
    "official officials general commander chief head leader envoy diplomat aide adviser advisor "
    "analyst lawmaker senator mayor governor director prime deputy representative negotiator".split()
)
PRONOUNS_PERSON = frozenset({"he", "she", "him", "her"})
PRONOUNS_OTHER = frozenset({"it", "they", "we", "i"})
OPENERS, CLOSERS = "“„«", "”»"
MIN_QUOTE_WORDS = 3


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


def quote_spans(text: str) -> list[QuoteSpan]:
    """Pair quotation marks: curly, guillemets and straight double quotes; per paragraph."""
    spans: list[QuoteSpan] = []
    open_at: int | None = None
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\n" and text.startswith("\n\n", i):
            if open_at is not None:
                spans.append(QuoteSpan(open_at, i, continued=True))
                open_at = None
            i += 2
            continue
        if ch in OPENERS and open_at is None:
            open_at = i + 1
        elif ch in CLOSERS and open_at is not None:
            spans.append(QuoteSpan(open_at, i))
            open_at = None
        elif ch == '"':
            if open_at is None:
                open_at = i + 1
            else:
                spans.append(QuoteSpan(open_at, i))
                open_at = None
        i += 1
    if open_at is not None:
        spans.append(QuoteSpan(open_at, n, continued=True))
    return spans


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """Offsets without surrounding spaces and the punctuation that joins a quote to its attribution."""
    while start < end and text[start] in " \n\t":
        start += 1
    while end > start and text[end - 1] in " \n\t,;:-–—":
        end -= 1
    return start, end


@dataclass
class _Mention:
    start: int
    end: int
    name: str
    id: str | None
    kind: str  # person, org, place


class ClaimExtractor:
    """Claims of one parsed document."""

    def __init__(self, doc: Any, by_id: Mapping[str, GazetteerName], normalise: Any) -> None:
        self.doc = doc
        self.text: str = doc.text
        self.by_id = by_id
        self.normalise = normalise
        self.quotes = quote_spans(self.text)
        self._quote_starts = [q.start for q in self.quotes]
        self.mentions = self._mentions()
        self._mention_ends = [m.end for m in self.mentions]

    # --- helpers ------------------------------------------------------------------------------

    def inside_quote(self, pos: int) -> bool:
        k = bisect.bisect_right(self._quote_starts, pos) - 1
        return k >= 0 and self.quotes[k].start <= pos < self.quotes[k].end

    def _mentions(self) -> list[_Mention]:
        out: list[_Mention] = []
        surnames: dict[str, tuple[str, str | None]] = {}
        for ent in self.doc.ents:
            kind = {"PERSON": "person", "ORG": "org", "GPE": "place", "NORP": "group"}.get(ent.label_)
            if kind is None:
                continue
            known = self.by_id.get(ent.ent_id_) if ent.ent_id_ else None
            name = known.name if known else self.normalise(ent.text)
            ent_id = known.id if known else None
            if kind == "person":
                parts = name.split()
                if len(parts) == 1 and parts[0] in surnames:
                    name, ent_id = surnames[parts[0]][0], ent_id or surnames[parts[0]][1]
                elif len(parts) > 1:
                    surnames[parts[-1]] = (name, ent_id)
            out.append(_Mention(ent.start_char, ent.end_char, name, ent_id, kind))
        return out

    def last_mention(self, before: int, kinds: Sequence[str], outside_quotes: bool = True) -> _Mention | None:
        k = bisect.bisect_right(self._mention_ends, before)
        for m in reversed(self.mentions[:k]):
            if m.kind in kinds and not (outside_quotes and self.inside_quote(m.start)):
                return m
        return None

    def person_with_role(self, role: str, before: int) -> _Mention | None:
        """The last person named right after the role noun ("Kremlin spokesman Dmitry Peskov")."""
        k = bisect.bisect_right(self._mention_ends, before)
        for m in reversed(self.mentions[:k]):
            if m.kind == "person" and role in self.text[max(0, m.start - 40) : m.start].lower():
                return m
        return None

    # --- speakers -----------------------------------------------------------------------------

    def speaker_of(self, verb: Any) -> tuple[str, str | None] | None:
        subj = next((c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass")), None)
        if subj is None and verb.dep_ in ("conj", "advcl", "xcomp") and verb.head is not verb:
            return self.speaker_of(verb.head)
        if subj is None:
            return None
        lower = subj.lower_
        if subj.pos_ == "PRON" or lower in PRONOUNS_PERSON or lower in PRONOUNS_OTHER:
            if lower in ("i", "we"):
                return None  # first person outside a quote: the writer, not a source
            kinds = ("person",) if lower in PRONOUNS_PERSON else ("org", "person")
            m = self.last_mention(subj.idx, kinds)
            return (m.name, m.id) if m else None
        span = self.doc[subj.left_edge.i : subj.right_edge.i + 1]
        persons = [
            m for m in self.mentions if span.start_char <= m.start < span.end_char and m.kind == "person"
        ]
        if persons:
            return persons[-1].name, persons[-1].id
        if subj.lower_ in ROLE_NOUNS or subj.text.lower().rstrip("s") in ROLE_NOUNS:
            m = self.person_with_role(subj.lower_, subj.idx)
            if m is not None:
                return m.name, m.id
        others = [
            m for m in self.mentions if span.start_char <= m.start < span.end_char and m.kind != "place"
        ]
        if others and subj.lower_ not in ROLE_NOUNS:
            return others[-1].name, others[-1].id
        return self.normalise(span.text), (others[-1].id if others else None)

    def speech_verbs(self, start: int, end: int) -> list[Any]:
        """Speech verbs outside quotes between two character offsets."""
        out = []
        for tok in self.doc.char_span(start, end, alignment_mode="expand") or ():
            if tok.lower_ in SPEECH_VERBS and tok.pos_ in ("VERB", "AUX") and not self.inside_quote(tok.idx):
                out.append(tok)
        return out

    # --- claims -------------------------------------------------------------------------------

    def direct(self) -> list[Claim]:
        claims: list[Claim] = []
        last: tuple[str, str | None, str] | None = None
        pending: list[QuoteSpan] = []  # quotes running on into the next paragraph
        for q in self.quotes:
            start, end = _trimmed(self.text, q.start, q.end)
            words = len(self.text[start:end].split())
            if words < MIN_QUOTE_WORDS and not pending:
                continue
            attribution = self._attribution(q)
            if attribution is None and last is not None and self._continues_previous(q, claims):
                attribution = last
            if q.continued:
                pending.append(q)
                continue
            if attribution is None:
                pending = []
                continue
            speaker, speaker_id, cue = attribution
            for p in (*pending, q):
                s, e = _trimmed(self.text, p.start, p.end)
                if len(self.text[s:e].split()) >= 1:
                    claims.append(Claim(speaker, cue, "direct", self.text[s:e], s, e, speaker_id))
            pending = []
            last = attribution
        return claims

    def _continues_previous(self, q: QuoteSpan, claims: list[Claim]) -> bool:
        """A quote that opens its paragraph right after a quoted paragraph keeps that speaker."""
        if not claims:
            return False
        para_start = self.text.rfind("\n\n", 0, q.start)
        return para_start >= 0 and q.start - para_start <= 3 and para_start - claims[-1].end <= 400

    def _attribution(self, q: QuoteSpan) -> tuple[str, str | None, str] | None:
        sent_start = self.doc.char_span(q.start, max(q.start + 1, q.end), alignment_mode="expand")
        if sent_start is None:
            return None
        first = sent_start[0].sent
        last_sent = sent_start[-1].sent
        para_end = self.text.find("\n\n", q.end)
        para_end = len(self.text) if para_end < 0 else para_end
        para_start = self.text.rfind("\n\n", 0, q.start) + 1
        lo = max(min(first.start_char, q.start), para_start)
        hi = min(max(last_sent.end_char, q.end), para_end)
        # Prefer a verb after the quote ("…," he said), then one before it (He said: "…").
        for verbs in (self.speech_verbs(q.end, hi), list(reversed(self.speech_verbs(lo, q.start)))):
            for verb in verbs:
                found = self.speaker_of(verb)
                if found is not None:
                    return found[0], found[1], verb.text
        return None

    def reported(self) -> list[Claim]:
        claims: list[Claim] = []
        for tok in self.doc:
            if self.inside_quote(tok.idx):
                continue
            if tok.lower_ in SPEECH_VERBS and tok.pos_ in ("VERB", "AUX"):
                comp = next((c for c in tok.children if c.dep_ == "ccomp"), None)
                if comp is None:
                    continue
                span = self.doc[comp.left_edge.i : comp.right_edge.i + 1]
                if any(self.inside_quote(t.idx) for t in span) or span.start < tok.i:
                    continue
                first = span[0]
                start = first.idx + len(first.text) + 1 if first.lower_ == "that" else span.start_char
                start, end = _trimmed(self.text, start, span.end_char)
                if len(self.text[start:end].split()) < 3:
                    continue
                found = self.speaker_of(tok)
                if found is None:
                    continue
                claims.append(
                    Claim(found[0], tok.text, "reported", self.text[start:end], start, end, found[1])
                )
            elif tok.lower_ == "according" and tok.i + 1 < len(self.doc) and tok.nbor(1).lower_ == "to":
                claim = self._according_to(tok)
                if claim is not None:
                    claims.append(claim)
        return claims

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
        end = end - 1 if end > start and self.text[end - 1] == "." else end
        if len(self.text[start:end].split()) < 3 or any(self.inside_quote(p) for p in (start, end - 1)):
            return None
        span = self.doc[obj.left_edge.i : obj.right_edge.i + 1]
        persons = [m for m in self.mentions if span.start_char <= m.start < span.end_char]
        speaker, speaker_id = (
            (persons[-1].name, persons[-1].id) if persons else (self.normalise(span.text), None)
        )
        return Claim(speaker, "according to", "reported", self.text[start:end], start, end, speaker_id)


def extract_claims(doc: Any, by_id: Mapping[str, GazetteerName], normalise: Any) -> list[Claim]:
    """Every direct and reported claim in a parsed story, in text order."""
    extractor = ClaimExtractor(doc, by_id, normalise)
    claims = extractor.direct() + extractor.reported()
    claims.sort(key=lambda c: c.start)
    return claims


_SPACE = re.compile(r"\s+")


def claim_key(claim: Claim) -> str:
    """The same words by the same speaker, however punctuated: one claim across stories."""
    words = _SPACE.sub(" ", re.sub(r"[^\w\s]", " ", claim.text.casefold())).strip()
    speaker = claim.speaker_id or _SPACE.sub(" ", claim.speaker.casefold()).strip()
    return f"{speaker}|{hashlib.sha1(words.encode()).hexdigest()[:16]}"
