"""Claim extraction against the project's gold sets, with textacy as baseline.

Two sets: tests/gold/claims (written beside the extractor) and tests/gold/claims-hard (written to
be hard, annotated before the extractor was run on it; scored when present). A gold claim is one
quotation: its `text` and, for a quote split by its attribution, its `also` parts. A predicted
claim matches a gold claim when one of its parts and one of the gold's overlap by at least half of
the longer of the two (one-to-one, greedy by total overlap). The old set annotates each part of a
split quote as a claim of its own (its README), so there predictions are scored part by part.

Reports precision, recall and F1 of claims and speaker accuracy on matched claims, for all claims
and for direct quotes (with fragments), reported speech and fragments alone; then the same for
textacy's direct-quotation extractor on the same parses. Usage: python -m bench.claims_eval
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench import report
from bench.progress import track

REPO = Path(__file__).resolve().parent.parent
GOLD = REPO / "tests" / "gold" / "claims"
HARD_GOLD = REPO / "tests" / "gold" / "claims-hard"
_STOP = frozenset("the a an of for in on at to and s unnamed".split())
QUOTE_KINDS = frozenset({"direct", "fragment"})


@dataclass(frozen=True)
class Span:
    """A claim as the scorer sees it: its parts, speaker and kind."""

    parts: tuple[tuple[int, int], ...]
    speaker: str
    kind: str = ""
    anonymous: bool = False

    @property
    def start(self) -> int:
        return self.parts[0][0]

    @property
    def end(self) -> int:
        return self.parts[0][1]

    @property
    def length(self) -> int:
        return sum(e - s for s, e in self.parts)


def span(start: int, end: int, speaker: str, kind: str = "") -> Span:
    return Span(((start, end),), speaker, kind, speaker.casefold().startswith("unnamed"))


def load_gold(folder: Path = GOLD) -> list[dict[str, Any]]:
    stories = []
    for path in sorted(folder.glob("*.yaml")):
        story = yaml.safe_load(path.read_text(encoding="utf-8"))
        text = story["text"]
        spans = []
        for claim in story.get("claims") or []:
            start = text.find(claim["text"])
            if start < 0:
                raise ValueError(f"{path.name}: claim text not in story: {claim['text'][:60]!r}")
            parts = [(start, start + len(claim["text"]))]
            for more in claim.get("also") or []:
                at = text.find(more, parts[-1][1])
                at = text.find(more) if at < 0 else at
                if at < 0:
                    raise ValueError(f"{path.name}: 'also' part not in story: {more[:60]!r}")
                parts.append((at, at + len(more)))
            speaker = str(claim["speaker"])
            anonymous = claim.get("speaker_type") == "anonymous" or speaker.casefold().startswith("unnamed")
            spans.append(Span(tuple(parts), speaker, claim["kind"], anonymous))
        stories.append({"id": story["id"], "title": story.get("title", ""), "text": text, "claims": spans})
    return stories


def _words(name: str) -> set[str]:
    words = set()
    for w in re.findall(r"\w+", name.casefold()):
        if w in _STOP:
            continue
        words.add(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w)
    return words


def same_speaker(predicted: Span, gold: Span) -> bool:
    """Names agree when every content word of the shorter appears in the longer ("Peskov" ~ "Dmitry
    Peskov"); an unnamed source predicted for an unnamed source in the gold agrees."""
    if predicted.anonymous and gold.anonymous:
        return True
    a, b = _words(predicted.speaker), _words(gold.speaker)
    if not a or not b:
        return False
    return a <= b or b <= a


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def match(predicted: Sequence[Span], gold: Sequence[Span]) -> list[tuple[Span, Span]]:
    candidates = []
    for i, p in enumerate(predicted):
        for j, g in enumerate(gold):
            if any(
                _overlap(a, b) > 0 and _overlap(a, b) >= 0.5 * max(a[1] - a[0], b[1] - b[0])
                for a in p.parts
                for b in g.parts
            ):
                candidates.append((sum(_overlap(a, b) for a in p.parts for b in g.parts), i, j))
    candidates.sort(key=lambda c: -c[0])
    used_p: set[int] = set()
    used_g: set[int] = set()
    pairs = []
    for _overlap_chars, i, j in candidates:
        if i in used_p or j in used_g:
            continue
        used_p.add(i)
        used_g.add(j)
        pairs.append((predicted[i], gold[j]))
    return pairs


def score(results: Iterable[tuple[Sequence[Span], Sequence[Span]]]) -> dict[str, float]:
    tp = n_pred = n_gold = right_speaker = 0
    for predicted, gold in results:
        pairs = match(predicted, gold)
        tp += len(pairs)
        n_pred += len(predicted)
        n_gold += len(gold)
        right_speaker += sum(same_speaker(p, g) for p, g in pairs)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "speaker_accuracy": right_speaker / tp if tp else 0.0, "matched": tp, "gold": n_gold}


def _by_part(spans: Sequence[Span]) -> list[Span]:
    return [Span((p,), s.speaker, s.kind, s.anonymous) for s in spans for p in s.parts]


def rows(predicted: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]) -> dict[str, dict[str, float]]:
    """All claims, quotes (direct and fragments), direct only, reported only, fragments only."""
    kinds: dict[str, Callable[[Span], bool]] = {
        "all": lambda s: True,
        "quotes": lambda s: s.kind in QUOTE_KINDS,
        "direct": lambda s: s.kind == "direct",
        "reported": lambda s: s.kind == "reported",
        "fragment": lambda s: s.kind == "fragment",
    }
    return {
        name: score(([s for s in p if keep(s)], [s for s in g if keep(s)]) for p, g in zip(predicted, gold, strict=True))
        for name, keep in kinds.items()
    }


def _textacy_spans(doc: Any) -> list[Span]:
    from textacy.extract.triples import direct_quotations

    spans = []
    try:
        triples = list(direct_quotations(doc))
    except ValueError:
        return []  # textacy bails out on a quote left open (as wire copy does across paragraphs)
    for triple in triples:
        content = triple.content
        start, end = content[0].idx, content[-1].idx + len(content[-1].text)
        text = doc.text
        # textacy's content includes the quotation marks; the gold spans do not.
        while start < end and text[start] in "\"'“”‘’«» ":
            start += 1
        while end > start and text[end - 1] in "\"'“”‘’«», ":
            end -= 1
        speaker = " ".join(t.text for t in triple.speaker)
        spans.append(span(start, end, speaker, "direct"))
    return spans


def _predicted(extraction: Any) -> list[Span]:
    return [
        Span(((c.start, c.end), *c.parts), c.speaker, c.kind, c.speaker.casefold().startswith("unnamed"))
        for c in extraction.claims
    ]


def evaluate(gold: Sequence[dict[str, Any]], runtime: Any, by_part: bool, baseline: Any = None) -> dict[str, Any]:
    """Figures of one gold set: ours by kind, and textacy's when ``baseline`` (a full spaCy model) is given."""
    from pipeline.extract import extract_many
    from pipeline.models import CleanStory

    stories = [CleanStory(s["id"], "u", "u", "f", "o", s["title"], s["text"], language="en") for s in gold]
    batches = [stories[i : i + 16] for i in range(0, len(stories), 16)]
    extractions = [x for batch in track(batches, f"claims: {len(stories)} gold stories, batches of 16")
                   for x in extract_many(batch, runtime.nlp, runtime.extract_options)]
    predicted = [_predicted(x) for x in extractions]
    if by_part:
        predicted = [_by_part(p) for p in predicted]
    golds = [g["claims"] for g in gold]
    out: dict[str, Any] = {"stories": len(gold), "claims": sum(len(g) for g in golds), "ours": rows(predicted, golds)}
    if baseline is not None:
        docs = list(baseline.pipe(s["text"] for s in gold))
        out["baseline"] = rows([_textacy_spans(d) for d in docs], golds)
    return out


def run(baseline: bool = True, hard: bool = True) -> dict[str, Any]:
    from workers.runtime import Runtime
    from workers.settings import Settings

    runtime = Runtime(Settings())
    full = None
    if baseline:
        import spacy

        # textacy reads lemmas: give it the model's full pipeline (ours leaves the lemmatizer out).
        full = spacy.load(runtime.settings.spacy_model)
    old = evaluate(load_gold(), runtime, by_part=True, baseline=full)
    ours = old["ours"]
    figures: dict[str, Any] = {
        "gold_stories": old["stories"],
        "gold_claims": old["claims"],
        "precision": round(ours["all"]["precision"], 4),
        "recall": round(ours["all"]["recall"], 4),
        "f1": round(ours["all"]["f1"], 4),
        "speaker_accuracy": round(ours["all"]["speaker_accuracy"], 4),
        "direct_f1": round(ours["direct"]["f1"], 4),
        "reported_f1": round(ours["reported"]["f1"], 4),
    }
    if baseline:
        base = old["baseline"]
        figures |= {"baseline_f1": round(base["all"]["f1"], 4),
                    "baseline_speaker_accuracy": round(base["all"]["speaker_accuracy"], 4),
                    "baseline_direct_f1": round(base["direct"]["f1"], 4)}
    figures["_old_rows"] = old
    if hard and HARD_GOLD.is_dir() and any(HARD_GOLD.glob("*.yaml")):
        new = evaluate(load_gold(HARD_GOLD), runtime, by_part=False, baseline=full)
        h = new["ours"]
        figures |= {
            "hard_gold_stories": new["stories"],
            "hard_gold_claims": new["claims"],
            "hard_precision": round(h["all"]["precision"], 4),
            "hard_recall": round(h["all"]["recall"], 4),
            "hard_f1": round(h["all"]["f1"], 4),
            "hard_speaker_accuracy": round(h["all"]["speaker_accuracy"], 4),
            "hard_quote_f1": round(h["quotes"]["f1"], 4),
            "hard_direct_f1": round(h["direct"]["f1"], 4),
            "hard_reported_f1": round(h["reported"]["f1"], 4),
            "hard_fragment_f1": round(h["fragment"]["f1"], 4),
        }
        if baseline:
            figures |= {"hard_baseline_f1": round(new["baseline"]["all"]["f1"], 4),
                        "hard_baseline_speaker_accuracy": round(new["baseline"]["all"]["speaker_accuracy"], 4),
                        "hard_baseline_direct_f1": round(new["baseline"]["direct"]["f1"], 4)}
        figures["_hard_rows"] = new
    return figures


def _table(title: str, result: dict[str, Any]) -> str:
    lines = [f"**{title}** ({result['stories']} stories, {result['claims']} claims)", "",
             "| extractor | claims | F1 | precision | recall | speaker accuracy | gold claims |",
             "|---|---|---|---|---|---|---|"]
    for who, label in (("ours", "wirewatch"), ("baseline", "textacy 0.13")):
        if who not in result:
            continue
        for kind in ("all", "quotes", "direct", "reported", "fragment"):
            r = result[who][kind]
            if not r["gold"] and kind == "fragment":
                continue
            lines.append(f"| {label} | {kind} | {r['f1']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} | "
                         f"{r['speaker_accuracy']:.3f} | {r['gold']} |")
    return "\n".join(lines)


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    r = run()
    old, hard = r.pop("_old_rows"), r.pop("_hard_rows", None)
    sections = [_table("The project's gold set, tests/gold/claims (split quotes scored part by part)", old)]
    if hard is not None:
        sections.append(_table("The hard gold set, tests/gold/claims-hard", hard))
    body = "\n\n".join(sections)
    md = f"""## Extract: claims against the gold sets

`python -m bench.claims_eval` — a predicted claim matches a gold one when one of its parts and one
of the gold's overlap by at least half of the longer (a quote split by its attribution is one claim
with parts); speaker accuracy is on matched claims (names agree when every content word of the
shorter is in the longer; an unnamed source agrees with an unnamed source). "quotes" is direct
quotes and quoted fragments together. The baseline is textacy's `direct_quotations` on the same
parses (direct quotes only, so its recall is bounded by their share of the gold).

{body}

Targets: on the hard set F1 ≥ 0.85 and speaker accuracy ≥ 0.85; on the project's set F1 ≥ 0.93.
"""
    report.write("claims", r, md)
    print(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
