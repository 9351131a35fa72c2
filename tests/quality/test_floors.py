"""Quality gates: benchmark figures may not fall below pinned floors (a small margin under today's).

A change that makes extraction worse fails here. The floors move up when a change improves them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# The benchmark data is in the repository (bench/data, with its licences): no folder beside the clone.
DATA = Path(__file__).resolve().parents[2] / "bench" / "data"

CLEAN_F1_FLOOR = 0.970
CLEAN_PRECISION_FLOOR = 0.968


def test_clean_extraction_floor() -> None:
    from bench.clean_aeb import run

    result = run(DATA / "aeb", rounds=1)
    assert result["pages"] == 181, result
    assert result["f1"] >= CLEAN_F1_FLOOR, result
    assert result["precision"] >= CLEAN_PRECISION_FLOOR, result
    assert result["f1"] > result["baseline_f1"], result


# A margin under today's figures (bench/results/meta.json); each must also stay above its baseline.
META_TITLE_FLOOR = 0.79
META_AUTHOR_FLOOR = 0.64
META_DATE_FLOOR = 0.87


def test_clean_metadata_floor() -> None:
    from bench.clean_meta import run

    result, _answers = run(DATA / "meta")
    assert result["pages"] == 731, result
    assert result["title_exact"] >= META_TITLE_FLOOR, result
    assert result["author_f1"] >= META_AUTHOR_FLOOR, result
    assert result["date_day"] >= META_DATE_FLOOR, result
    assert result["title_exact"] > result["baseline_title_exact"], result
    assert result["author_f1"] > result["baseline_author_f1"], result
    assert result["date_day"] > result["baseline_date_day"], result


DEDUPE_ARI_FLOOR = 0.95
DEDUPE_PAIR_PRECISION_FLOOR = 0.99


def test_dedupe_clustering_floor() -> None:
    from bench.dedupe_bench import run

    result = run()
    assert result["ari"] >= DEDUPE_ARI_FLOOR, result
    assert result["pair_precision"] >= DEDUPE_PAIR_PRECISION_FLOOR, result


CLAIM_F1_FLOOR = 0.945
CLAIM_SPEAKER_ACCURACY_FLOOR = 0.935


@pytest.fixture(scope="module")
def claim_figures() -> dict[str, Any]:
    """Both gold sets scored once for the two floor tests."""
    from bench.claims_eval import run

    return run(baseline=False, hard=True)


def test_claim_extraction_floor(claim_figures: dict[str, Any]) -> None:
    result = claim_figures
    assert result["gold_claims"] >= 250 and result["gold_stories"] >= 60, result
    assert result["f1"] >= CLAIM_F1_FLOOR, result
    assert result["speaker_accuracy"] >= CLAIM_SPEAKER_ACCURACY_FLOOR, result


# The hard set (tests/gold/claims-hard) was written and annotated by people who never saw the extractor,
# and the extractor was built without looking at it; first measured at F1 0.876, speaker accuracy 0.843.
HARD_CLAIM_F1_FLOOR = 0.875
HARD_CLAIM_SPEAKER_ACCURACY_FLOOR = 0.86


def test_claim_extraction_floor_on_the_hard_set(claim_figures: dict[str, Any]) -> None:
    result = claim_figures
    assert result["hard_gold_claims"] >= 800 and result["hard_gold_stories"] >= 120, result
    assert result["hard_f1"] >= HARD_CLAIM_F1_FLOOR, result
    assert result["hard_speaker_accuracy"] >= HARD_CLAIM_SPEAKER_ACCURACY_FLOOR, result
