"""The article-extraction metric of the AEB benchmark (bench/data/aeb): 4-token shingles, per-page
normalised TP/FP/FN, precision and recall averaged over pages, F1 of the means."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

_WORD = re.compile(r"\w+")


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _WORD.findall(text)
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def page_scores(predicted: str, truth: str) -> tuple[float | None, float | None]:
    """(precision, recall) of one page; None where the page is left out of that mean."""
    pred, true = shingles(predicted), shingles(truth)
    if not pred and not true:
        return 1.0, 1.0
    tp = sum((pred & true).values())
    fp = sum(pred.values()) - tp
    fn = sum(true.values()) - tp
    precision = tp / (tp + fp) if pred else None
    recall = tp / (tp + fn) if true else None
    return precision, recall


def aggregate(pairs: Iterable[tuple[str, str]]) -> dict[str, float]:
    precisions, recalls = [], []
    for predicted, truth in pairs:
        p, r = page_scores(predicted, truth)
        if p is not None:
            precisions.append(p)
        if r is not None:
            recalls.append(r)
    precision = sum(precisions) / len(precisions)
    recall = sum(recalls) / len(recalls)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
