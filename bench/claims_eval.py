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


def _figures(prefix: str, result: dict[str, Any], kinds: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The flat figures of one gold set's result, each key with ``prefix``; ``kinds``: (key, row) of the
    per-kind F1 figures to report."""
    ours = result["ours"]
    figures: dict[str, Any] = {
        f"{prefix}gold_stories": result["stories"],
        f"{prefix}gold_claims": result["claims"],
        f"{prefix}precision": round(ours["all"]["precision"], 4),
        f"{prefix}recall": round(ours["all"]["recall"], 4),
        f"{prefix}f1": round(ours["all"]["f1"], 4),
        f"{prefix}speaker_accuracy": round(ours["all"]["speaker_accuracy"], 4),
    }
    figures |= {f"{prefix}{key}_f1": round(ours[row]["f1"], 4) for key, row in kinds}
    if "baseline" in result:
        base = result["baseline"]
        figures |= {f"{prefix}baseline_f1": round(base["all"]["f1"], 4),
                    f"{prefix}baseline_speaker_accuracy": round(base["all"]["speaker_accuracy"], 4),
                    f"{prefix}baseline_direct_f1": round(base["direct"]["f1"], 4)}
    return figures


def evaluate_sets(baseline: bool = True, hard: bool = True) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The flat figures of both gold sets, and each set's full result by name ("old", "hard")."""
    from workers.runtime import Runtime
    from workers.settings import Settings

    runtime = Runtime(Settings())
    full = None
    if baseline:
        import spacy

        # textacy reads lemmas: give it the model's full pipeline (ours leaves the lemmatizer out).
        full = spacy.load(runtime.settings.spacy_model)
    results = {"old": evaluate(load_gold(), runtime, by_part=True, baseline=full)}
    figures = _figures("", results["old"], (("direct", "direct"), ("reported", "reported")))
    if hard and HARD_GOLD.is_dir() and any(HARD_GOLD.glob("*.yaml")):
        results["hard"] = evaluate(load_gold(HARD_GOLD), runtime, by_part=False, baseline=full)
        figures |= _figures("hard_", results["hard"], (("quote", "quotes"), ("direct", "direct"),
                                                        ("reported", "reported"), ("fragment", "fragment")))
    return figures, results


def run(baseline: bool = True, hard: bool = True) -> dict[str, Any]:
    """The flat figures of both gold sets (bench/results/claims.json)."""
    return evaluate_sets(baseline, hard)[0]


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
    r, results = evaluate_sets()
    sections = [_table("The project's gold set, tests/gold/claims (split quotes scored part by part)", results["old"])]
    if "hard" in results:
        sections.append(_table("The hard gold set, tests/gold/claims-hard", results["hard"]))
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
