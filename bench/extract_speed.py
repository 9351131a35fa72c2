"""Extraction speed against bare ``nlp.pipe`` of the same model over the same texts, in one run.

Bare: the spaCy model as loaded for extraction, without our entity ruler, piped over the texts.
Ours: ``extract_many`` (gazetteer ruler, entities, claims, topic score) over the same texts.
Single: ``extract`` one story per call, as the worker calls it, against bare ``nlp.pipe``
(``single_ratio``) and against bare ``nlp`` one text per call (``single_vs_single_ratio``).
Rounds alternate so machine noise hits both alike; the best round of each counts. Times are the
process's CPU time, not wall time: on a shared machine other processes' load would swamp the ratio.
Usage: python -m bench.extract_speed
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import spacy
import yaml

from bench import report
from bench.progress import bar
from pipeline.extract import extract, extract_many
from pipeline.models import CleanStory

REPO = Path(__file__).resolve().parent.parent


def corpus() -> list[str]:
    texts = ["\n\n".join(s["paragraphs"]) for s in
             yaml.safe_load((REPO / "config" / "demo" / "stories.yaml").read_text())["stories"]]
    texts += [yaml.safe_load(p.read_text())["text"] for p in sorted((REPO / "tests" / "gold" / "claims").glob("*.yaml"))]
    negatives = yaml.safe_load((REPO / "bench" / "data" / "dedupe_negatives.yaml").read_text())
    texts += ["\n\n".join(s["paragraphs"]) for g in negatives["groups"] for s in g["stories"]]
    return texts


def run(rounds: int = 3, batch_size: int = 16) -> dict[str, float | int]:
    from workers.runtime import Runtime
    from workers.settings import Settings

    runtime = Runtime(Settings())
    ours_nlp = runtime.nlp
    options = runtime.extract_options
    bare = spacy.load(runtime.settings.spacy_model, exclude=["lemmatizer"])
    texts = corpus()
    stories = [CleanStory(f"{i:032x}", "u", "u", "f", "o", "t", t, language="en") for i, t in enumerate(texts)]
    words = sum(len(t.split()) for t in texts)
    list(bare.pipe(texts[:5]))  # warm both
    list(extract_many(stories[:5], ours_nlp, options))
    bare_s, ours_s, bare_one_s, ours_one_s = [], [], [], []
    with bar("extract speed: 4 passes (bare and ours, batched and one by one) per round", rounds * 4) as shown:
        for _ in range(rounds):
            t = time.process_time()
            for _doc in bare.pipe(texts, batch_size=batch_size):
                pass
            bare_s.append(time.process_time() - t)
            shown.advance()
            t = time.process_time()
            extract_many(stories, ours_nlp, options)
            ours_s.append(time.process_time() - t)
            shown.advance()
            t = time.process_time()
            for text in texts:
                bare(text)
            bare_one_s.append(time.process_time() - t)
            shown.advance()
            t = time.process_time()
            for story in stories:
                extract(story, ours_nlp, options)
            ours_one_s.append(time.process_time() - t)
            shown.advance()
    nlp_rate = len(texts) / min(bare_s)
    ours_rate = len(texts) / min(ours_s)
    nlp_one_rate = len(texts) / min(bare_one_s)
    ours_one_rate = len(texts) / min(ours_one_s)
    return {
        "stories": len(texts),
        "words": words,
        "nlp_pipe_per_s": round(nlp_rate, 2),
        "extract_per_s": round(ours_rate, 2),
        "ratio": round(ours_rate / nlp_rate, 3),
        "nlp_single_per_s": round(nlp_one_rate, 2),
        "extract_single_per_s": round(ours_one_rate, 2),
        "single_ratio": round(ours_one_rate / nlp_rate, 3),
        "single_vs_single_ratio": round(ours_one_rate / nlp_one_rate, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    r = run(args.rounds)
    md = f"""## Extract: speed against bare nlp.pipe ({r['stories']} stories, {r['words']:,} words)

`python -m bench.extract_speed` — one process, one core, rounds alternating, best round each, CPU time.

| | stories/s |
|---|---|
| bare `nlp.pipe` (same model) | {r['nlp_pipe_per_s']} |
| wirewatch `extract_many` (gazetteer, entities, claims, topic) | {r['extract_per_s']} |
| **ratio** | **{r['ratio']}** |
| bare `nlp(text)`, one text per call | {r['nlp_single_per_s']} |
| wirewatch `extract`, one story per call (as the worker calls it) | {r['extract_single_per_s']} |
| **single_ratio** (ours one per call vs bare `nlp.pipe`) | **{r['single_ratio']}** |
| ours one per call vs bare `nlp(text)` one per call | {r['single_vs_single_ratio']} |

Target: ratio and single_ratio ≥ 0.8 (the claim and entity logic costs at most a fifth).
"""
    report.write("extract_speed", r, md)
    print(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
