"""Dedupe quality: realistic wire-copy variants and hard negatives, clustered on a real Redis.

Base stories are the project's own (the demo corpus, the claims gold set, the hard-negative
groups). Each base gets copies as outlets make them: headline rewritten, paragraphs dropped,
reordered or trimmed, boilerplate and a local intro added, punctuation and quote styles changed.
Hard negatives are different stories on the same event that share a quote or a stock paragraph
(bench/data/dedupe_negatives.yaml): they must stay apart. Reports pair precision, pair recall and
the adjusted Rand index. Usage: python -m bench.dedupe_bench
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import comb
from pathlib import Path

import yaml

from bench import report
from bench.progress import track
from pipeline.dedupe import DedupeOptions, dedupe
from pipeline.models import CleanStory

REPO = Path(__file__).resolve().parent.parent

LOCAL_INTROS = [
    "Residents of the coastal town followed the news closely on Monday, local officials said.",
    "Our correspondent in the region reports that the story has dominated conversation in cafes and markets.",
    "Readers have asked us to follow this developing story; here is the latest from the agencies.",
    "The city council held an emergency briefing after the reports, a spokeswoman for the mayor said.",
]
BOILERPLATE = [
    "Follow our live coverage for the latest updates.",
    "This article was updated with additional details.",
    "Additional reporting by our newsroom staff.",
]


@dataclass(frozen=True)
class Item:
    story_id: str
    truth: str  # the base story it was made from
    text: str


def _load_bases() -> list[tuple[str, list[str]]]:
    bases: list[tuple[str, list[str]]] = []
    demo = yaml.safe_load((REPO / "config" / "demo" / "stories.yaml").read_text())
    bases += [(f"demo:{s['id']}", [" ".join(p.split()) for p in s["paragraphs"]]) for s in demo["stories"]]
    for path in sorted((REPO / "tests" / "gold" / "claims").glob("*.yaml")):
        story = yaml.safe_load(path.read_text())
        paras = [p.strip() for p in story["text"].split("\n\n") if p.strip()]
        if len(paras) >= 3:
            bases.append((f"gold:{story['id']}", paras))
    return bases


def _load_negatives() -> list[tuple[str, list[str]]]:
    data = yaml.safe_load((REPO / "bench" / "data" / "dedupe_negatives.yaml").read_text())
    return [(f"neg:{s['id']}", [" ".join(p.split()) for p in s["paragraphs"]])
            for g in data["groups"] for s in g["stories"]]


def _restyle(text: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        text = re.sub(r'"([^"]*)"', r"“\1”", text)
    if rng.random() < 0.5:
        text = text.replace("'", "’")
    if rng.random() < 0.3:
        text = text.replace(" - ", " — ").replace(",", " ,")
    return text


def make_variant(paras: Sequence[str], rng: random.Random) -> str:
    """One outlet's copy: a random mix of the edits outlets make to wire copy."""
    out = list(paras)
    if len(out) > 4 and rng.random() < 0.5:  # drop paragraphs (often the last ones)
        for _ in range(rng.randint(1, max(1, len(out) // 3))):
            del out[rng.randrange(len(out)) if rng.random() < 0.4 else -1]
    if rng.random() < 0.3:  # reorder two paragraphs
        i, j = rng.sample(range(len(out)), 2)
        out[i], out[j] = out[j], out[i]
    if rng.random() < 0.4:  # trim paragraphs to their first sentence
        out = [re.split(r"(?<=[.!?])\s+", p)[0] if rng.random() < 0.4 else p for p in out]
    if rng.random() < 0.4:
        out.insert(0, rng.choice(LOCAL_INTROS))
    if rng.random() < 0.3:
        out.append(rng.choice(BOILERPLATE))
    return _restyle("\n\n".join(out), rng)


def build_corpus(seed: int = 7) -> list[Item]:
    rng = random.Random(seed)
    items: list[Item] = []
    groups = [(name, paras, rng.randint(2, 5)) for name, paras in _load_bases()]
    groups += [(name, paras, rng.randint(0, 2)) for name, paras in _load_negatives()]
    for name, paras, copies in groups:
        items.append(Item(f"{len(items):032x}", name, "\n\n".join(paras)))
        for _ in range(copies):
            items.append(Item(f"{len(items):032x}", name, make_variant(paras, rng)))
    rng.shuffle(items)  # copies arrive in any order, sometimes before the original
    return items


def pair_scores(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """Pair precision and recall, and the adjusted Rand index, of a clustering."""
    def pairs(labels: Iterable[str]) -> int:
        return sum(comb(n, 2) for n in Counter(labels).values())

    together_truth = pairs(truth)
    together_pred = pairs(predicted)
    together_both = pairs(f"{t}\x00{p}" for t, p in zip(truth, predicted, strict=True))
    total = comb(len(truth), 2)
    expected = together_truth * together_pred / total
    maximum = (together_truth + together_pred) / 2
    ari = (together_both - expected) / (maximum - expected) if maximum != expected else 1.0
    return {
        "pair_precision": together_both / together_pred if together_pred else 1.0,
        "pair_recall": together_both / together_truth if together_truth else 1.0,
        "ari": ari,
    }


def run(seed: int = 7) -> dict[str, float | int]:
    from workers.adapters.redis_state import RedisDedupeState, connect
    from workers.services import EmbeddedRedis

    items = build_corpus(seed)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp))
        server.start()
        try:
            state = RedisDedupeState(connect(server.url), window_s=7 * 86400, options=DedupeOptions())
            predicted = []
            for item in track(items, "dedupe: stories through the Redis dedupe state"):
                story = CleanStory(item.story_id, "u", "u", "f", "o", "t", item.text)
                predicted.append(dedupe(story, state).cluster_id)
        finally:
            server.stop()
    scores = pair_scores([i.truth for i in items], predicted)
    return {
        "stories": len(items),
        "clusters_true": len({i.truth for i in items}),
        "clusters_found": len(set(predicted)),
        "ari": round(scores["ari"], 4),
        "pair_precision": round(scores["pair_precision"], 4),
        "pair_recall": round(scores["pair_recall"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    r = run(args.seed)
    md = f"""## Dedupe: wire-copy variants and hard negatives ({r['stories']} stories)

`python -m bench.dedupe_bench` — {r['clusters_true']} true clusters (project-written base stories with
generated outlet copies, plus {len(_load_negatives())} hard negatives: different stories on one event
sharing a quote or a stock paragraph), assigned one by one in shuffled order through the Redis
adapter (the same Lua check-and-insert as production).

| stories | clusters (true / found) | ARI | pair precision | pair recall |
|---|---|---|---|---|
| {r['stories']} | {r['clusters_true']} / {r['clusters_found']} | **{r['ari']}** | **{r['pair_precision']}** | {r['pair_recall']} |

Targets: ARI ≥ 0.90 with pair precision ≥ 0.98.
"""
    report.write("dedupe", r, md)
    print(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
