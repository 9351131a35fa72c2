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
GENERIC_ORGS = frozenset(
    "ministry government military army navy bank agency company alliance embassy office service committee "
    "council court police operator authority authorities commission union bloc kremlin department board "
    "prosecutors prosecutor regulator watchdog fleet forces".split()
)
_POSSESSIVE = re.compile(r"^([A-Z][\w-]+)['’]s\s+(.+)$")
_DATELINE_WORD = re.compile(r"[A-Z]{2,}[A-Z .'-]*|[—–-]+")
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

    def __init__(
        self, doc: Any, by_id: Mapping[str, GazetteerName], normalise: Any, demonyms: Mapping[str, str]
    ) -> None:
        self.doc = doc
        self.demonyms = demonyms
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

    def _as_speaker(self, m: _Mention) -> tuple[str, str | None]:
        """A place speaking is its government: "Moscow said" is Russia speaking."""
        if m.kind == "place" and m.id:
            entry = self.by_id.get(m.id)
            government = getattr(entry, "government", None)
            if government and (gov := self.by_id.get(government)) is not None:
                return gov.name, gov.id
        return m.name, m.id

    def _describe(self, span: Any) -> str:
        """A speaker described, not named: "Poland's defence minister" becomes "Polish defence minister"."""
        text = str(self.normalise(span.text))
        m = _POSSESSIVE.match(text)
        if m and (demonym := self.demonyms.get(m.group(1).casefold())):
            text = f"{demonym} {m.group(2)}"
        return text

    def _generic_org(self, noun: Any, before: int) -> _Mention | None:
        """ "The bank said": the last organisation named that is such a thing, else the last one named."""
        word = noun.lower_.rstrip("s")
        k = bisect.bisect_right(self._mention_ends, before)
        earlier = [m for m in self.mentions[:k] if m.kind == "org" and not self.inside_quote(m.start)]
        for m in reversed(earlier):
            if word in m.name.casefold():
                return m
        return earlier[-1] if earlier else None

    def speaker_of(self, verb: Any) -> tuple[str, str | None] | None:
        subj = next((c for c in verb.children if c.dep_ in ("nsubj", "nsubjpass")), None)
        if subj is None and verb.dep_ in ("conj", "advcl", "xcomp") and verb.head is not verb:
            return self.speaker_of(verb.head)
        if subj is None or subj.is_punct or self.inside_quote(subj.idx) or _DATELINE_WORD.fullmatch(subj.text):
            return self._entity_near(verb)
        lower = subj.lower_
        if subj.pos_ == "PRON" or lower in PRONOUNS_PERSON or lower in PRONOUNS_OTHER:
            if lower in ("i", "we", "you"):
                return None  # first person outside a quote: the writer, not a source
            kinds = ("person",) if lower in PRONOUNS_PERSON else ("org", "person")
            m = self.last_mention(subj.idx, kinds)
            return self._as_speaker(m) if m else None
        left = subj.left_edge.i
        while left < subj.i and (
            self.doc[left].is_punct
            or _DATELINE_WORD.fullmatch(self.doc[left].text)
            or self.inside_quote(self.doc[left].idx)
        ):
            left += 1
        span = self.doc[left : subj.right_edge.i + 1]
        inside = [m for m in self.mentions if span.start_char <= m.start < span.end_char]
        persons = [m for m in inside if m.kind == "person"]
        if persons:
            return persons[0].name, persons[0].id
        if lower in ROLE_NOUNS or lower.rstrip("s") in ROLE_NOUNS:
            m = self.person_with_role(lower, subj.idx)
            if m is not None:
                return m.name, m.id
            return self._describe(span), None
        if lower in GENERIC_ORGS and not any(m.kind == "org" for m in inside):
            m = self._generic_org(subj, subj.idx)
            if m is not None and len(span) <= 3:
                return m.name, m.id
        named = [m for m in inside if m.kind in ("org", "place")]
        head_named = [m for m in named if m.start <= subj.idx < m.end]
        if head_named:
            return self._as_speaker(head_named[0])
        if named and len(span) <= 2:
            return self._as_speaker(named[-1])
        return self._describe(span), None

    def _entity_near(self, verb: Any) -> tuple[str, str | None] | None:
        """For "…,» said Lavrov": the first person or organisation after the verb, outside quotes."""
        sent = verb.sent
        for m in self.mentions:
            if verb.idx < m.start < sent.end_char and not self.inside_quote(m.start) and m.kind != "group":
                if m.start - verb.idx > 60:
                    break
                return self._as_speaker(m)
        return None

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
                if attribution is not None:
                    last = attribution
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
        """An unattributed quote right after a quoted speaker's words, in the same or the next paragraph."""
        if not claims:
            return False
        between = self.text[claims[-1].end : q.start]
        return between.count("\n\n") <= 1 and len(between) <= 300

    def _attribution(self, q: QuoteSpan) -> tuple[str, str | None, str] | None:
        span = self.doc.char_span(q.start, max(q.start + 1, q.end), alignment_mode="expand")
        if span is None:
            return None
        first = span[0].sent
        last_sent = span[-1].sent
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
        start, end = _trimmed(self.text, start, end)
        while end > start and self.text[end - 1] in ".":
            end -= 1
        if len(self.text[start:end].split()) < 3 or self._mostly_quote(start, end):
            return None
        found = self.speaker_of(verb)
        if found is None:
            return None
        return Claim(found[0], verb.text, "reported", self.text[start:end], start, end, found[1])

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
        if persons:
            speaker, speaker_id = persons[0].name, persons[0].id
        elif inside:
            speaker, speaker_id = self._as_speaker(inside[-1])
        elif obj.lower_ in GENERIC_ORGS and (m := self._generic_org(obj, obj.idx)) is not None:
            speaker, speaker_id = m.name, m.id
        else:
            speaker, speaker_id = self._describe(span), None
        return Claim(speaker, "according to", "reported", self.text[start:end], start, end, speaker_id)


def extract_claims(
    doc: Any, by_id: Mapping[str, GazetteerName], normalise: Any, demonyms: Mapping[str, str] | None = None
) -> list[Claim]:
    """Every direct and reported claim in a parsed story, in text order.

    A quote inside reported speech ("said the rules were «a blockade»") is part of that reported
    claim, not a claim of its own.
    """
    extractor = ClaimExtractor(doc, by_id, normalise, demonyms or {})
    reported = extractor.reported()
    direct = [d for d in extractor.direct() if not any(r.start <= d.start and d.end <= r.end for r in reported)]
    claims = sorted(direct + reported, key=lambda c: c.start)
    # The same span claimed twice (two cues on one clause): keep the first.
    out: list[Claim] = []
    for c in claims:
        if out and c.start < out[-1].end and (min(c.end, out[-1].end) - c.start) >= 0.5 * (c.end - c.start):
            continue
        out.append(c)
    return out


_SPACE = re.compile(r"\s+")


def claim_key(claim: Claim) -> str:
    """The same words by the same speaker, however punctuated: one claim across stories."""
    words = _SPACE.sub(" ", re.sub(r"[^\w\s]", " ", claim.text.casefold())).strip()
    speaker = claim.speaker_id or _SPACE.sub(" ", claim.speaker.casefold()).strip()
    return f"{speaker}|{hashlib.sha1(words.encode()).hexdigest()[:16]}"
