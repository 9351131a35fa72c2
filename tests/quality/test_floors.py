"""Quality gates: benchmark figures may not fall below pinned floors (a small margin under today's).

A change that makes extraction worse fails here. The floors move up when a change improves them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import CI

SHARED = Path(os.environ.get("WIREWATCH_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))

CLEAN_F1_FLOOR = 0.968
CLEAN_PRECISION_FLOOR = 0.965


def _data(path: Path) -> Path:
    if not path.exists():
        if CI:
            pytest.fail(f"benchmark data missing under CI: {path}")
        pytest.skip(f"benchmark data not here: {path} (set WIREWATCH_SHARED_DIR)")
    return path


def test_clean_extraction_floor() -> None:
    from bench.clean_aeb import run

    result = run(_data(SHARED / "benchmarks" / "aeb"), rounds=1)
    assert result["f1"] >= CLEAN_F1_FLOOR, result
    assert result["precision"] >= CLEAN_PRECISION_FLOOR, result
    assert result["f1"] > result["baseline_f1"], result


DEDUPE_ARI_FLOOR = 0.95
DEDUPE_PAIR_PRECISION_FLOOR = 0.99


def test_dedupe_clustering_floor() -> None:
    from bench.dedupe_bench import run

    result = run()
    assert result["ari"] >= DEDUPE_ARI_FLOOR, result
    assert result["pair_precision"] >= DEDUPE_PAIR_PRECISION_FLOOR, result


CLAIM_F1_FLOOR = 0.93
CLAIM_SPEAKER_ACCURACY_FLOOR = 0.92


def test_claim_extraction_floor() -> None:
    from bench.claims_eval import run

    result = run(baseline=False, hard=False)
    assert result["gold_claims"] >= 250 and result["gold_stories"] >= 60, result
    assert result["f1"] >= CLAIM_F1_FLOOR, result
    assert result["speaker_accuracy"] >= CLAIM_SPEAKER_ACCURACY_FLOOR, result
