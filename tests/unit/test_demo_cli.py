"""`wirewatch demo --fresh` removes what a demo left in the data folder, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers import cli
from workers.settings import Settings


def _leftovers(data: Path) -> None:
    for folder in ("index", "redis", "raw/ab", "logs", "metrics"):
        (data / folder).mkdir(parents=True)
        (data / folder / "f").write_text("x")
    for name in ("demo-feeds.yaml", "beat-schedule.dat", "beat-schedule.dir", "notes.txt"):
        (data / name).write_text("x")
    (data / "mine").mkdir()


def test_fresh_removes_only_the_demo_leftovers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _leftovers(tmp_path)
    cli._start_afresh(Settings(data_dir=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "notes.txt"]
    err = capsys.readouterr().err
    assert "starting afresh (removed beat-schedule.dat, beat-schedule.dir, demo-feeds.yaml, index, logs, metrics" in err


def test_fresh_on_real_services_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _leftovers(tmp_path)
    monkeypatch.setenv("WIREWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WIREWATCH_ELASTICSEARCH_URL", "http://127.0.0.1:9")
    assert cli.main(["demo", "--fresh"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--fresh clears the embedded services" in err
    assert (tmp_path / "index" / "f").exists()  # nothing removed
