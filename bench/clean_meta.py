"""Clean-stage benchmark for page metadata (title, authors, publication day) on bench/data/meta.

Page only (no feed values). Our metadata, trafilatura's ``extract_metadata`` and htmldate's ``find_date``
run on every page in the same process; the metric is the set's own ``score.py`` (title exact after
normalisation, author-set F1, publication day). Usage: python -m bench.clean_meta [--dump answers.json]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import htmldate
import trafilatura
from htmldate import find_date
from trafilatura.utils import decode_file, load_html

from bench import report
from bench.progress import track
from pipeline.metadata import page_metadata

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO / "bench" / "data" / "meta"

Answer = dict[str, Any]


def load_scorer(data: Path) -> ModuleType:
    """The data set's own scoring module, so the figures are the set's metric and nothing else."""
    spec = importlib.util.spec_from_file_location("meta_score", data / "score.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(data / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(scorer: ModuleType, truth: dict[str, Any], answers: dict[str, Answer]) -> dict[str, float]:
    """score.py's main() as a function: the same three figures over the same denominators."""
    title, author, date = [0, 0], [0.0, 0], [0, 0]
    for key, gold in truth.items():
        got = answers.get(key) or {}
        if gold.get("title"):
            title[1] += 1
            title[0] += scorer.norm(got.get("title")) == scorer.norm(gold["title"])
        if gold.get("authors"):
            author[1] += 1
            author[0] += scorer.set_f1(scorer.author_set(got.get("authors")), scorer.author_set(gold["authors"]))
        if gold.get("date"):
            date[1] += 1
            date[0] += (got.get("date") or "")[:10] == gold["date"][:10]
    return {
        "title_exact": round(title[0] / title[1], 4),
        "author_f1": round(author[0] / author[1], 4),
        "date_day": round(date[0] / date[1], 4),
        "title_n": title[1],
        "author_n": author[1],
        "date_n": date[1],
    }


def ours(page: str, url: str) -> Answer:
    meta = page_metadata(page, url)
    return {"title": meta.title, "authors": list(meta.authors), "date": meta.published}


def with_trafilatura(page: str, url: str) -> Answer:
    doc = trafilatura.extract_metadata(load_html(page), default_url=url)
    authors = [a for a in (doc.author or "").split("; ") if a]
    return {"title": doc.title, "authors": authors, "date": doc.date}


def with_htmldate(page: str, url: str) -> Answer:
    tree = load_html(page)
    return {"date": find_date(tree, url=url, original_date=True) if tree is not None else None}


def run(data: Path = DEFAULT_DATA, baselines: bool = True) -> tuple[dict[str, Any], dict[str, dict[str, Answer]]]:
    truth: dict[str, Any] = json.loads((data / "truth.json").read_text())
    scorer = load_scorer(data)
    runners = {"ours": ours}
    if baselines:
        runners |= {"trafilatura": with_trafilatura, "htmldate": with_htmldate}
    answers: dict[str, dict[str, Answer]] = {name: {} for name in runners}
    seconds = {name: 0.0 for name in runners}
    for key, gold in track(sorted(truth.items()), f"meta: {', '.join(runners)} on each page"):
        page = decode_file(gzip.decompress((data / "pages" / f"{key}.html.gz").read_bytes()))
        for name, runner in runners.items():
            t = time.perf_counter()
            answers[name][key] = runner(page, gold["url"])
            seconds[name] += time.perf_counter() - t
    scores = {name: score(scorer, truth, got) for name, got in answers.items()}
    mine = scores["ours"]
    figures: dict[str, Any] = {
        "pages": len(truth),
        "title_exact": mine["title_exact"],
        "author_f1": mine["author_f1"],
        "date_day": mine["date_day"],
        "title_n": mine["title_n"],
        "author_n": mine["author_n"],
        "date_n": mine["date_n"],
        "ms_per_page": round(seconds["ours"] * 1000 / len(truth), 2),
    }
    if baselines:
        traf, hd = scores["trafilatura"], scores["htmldate"]
        figures |= {
            "baseline_title_exact": traf["title_exact"],
            "baseline_author_f1": traf["author_f1"],
            # the better of the two date baselines
            "baseline_date_day": max(traf["date_day"], hd["date_day"]),
            "trafilatura_date_day": traf["date_day"],
            "htmldate_date_day": hd["date_day"],
            "trafilatura_ms_per_page": round(seconds["trafilatura"] * 1000 / len(truth), 2),
            "htmldate_ms_per_page": round(seconds["htmldate"] * 1000 / len(truth), 2),
            "trafilatura_version": trafilatura.__version__,
            "htmldate_version": htmldate.__version__,
        }
    return figures, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--dump", type=Path, help="write every page's answers (ours and baselines) here")
    args = parser.parse_args()
    r, answers = run(args.data)
    if args.dump:
        args.dump.write_text(json.dumps(answers, indent=1, ensure_ascii=False))
    md = f"""## Clean: page metadata on the metadata set ({r['pages']} pages)

`python -m bench.clean_meta` — page only (no feed values), on `bench/data/meta` (the evaluation sets of
trafilatura and htmldate, copied in with their licence), scored with the set's own `score.py`:
title exact after normalisation ({r['title_n']} pages), author-set F1 ({r['author_n']}), publication day ({r['date_n']}).
All three run in the same process on the same decoded page.

| metadata | title exact | author F1 | publication day | ms/page |
|---|---|---|---|---|
| **wirewatch clean** | **{r['title_exact']:.4f}** | **{r['author_f1']:.4f}** | **{r['date_day']:.4f}** | {r['ms_per_page']} |
| trafilatura {r['trafilatura_version']} `extract_metadata` | {r['baseline_title_exact']:.4f} | {r['baseline_author_f1']:.4f} | {r['trafilatura_date_day']:.4f} | {r['trafilatura_ms_per_page']} |
| htmldate {r['htmldate_version']} `find_date` | — | — | {r['htmldate_date_day']:.4f} | {r['htmldate_ms_per_page']} |

Targets: title ≥ 0.70, author F1 ≥ 0.65, day ≥ 0.92, each above its baseline (for the day, the better of
trafilatura and htmldate).
"""
    report.write("meta", r, md)
    print(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
