"""Benchmark progress: a bar on a terminal, plain lines in a log, on stderr (stdout keeps the figures)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bench import progress


def test_off_a_terminal_lines_at_start_every_few_seconds_and_end(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(float(t) for t in range(0, 1000, 4))  # each look at the clock moves it 4 s on
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    items = list(progress.track(range(6), "dedupe: stories", every_s=10, console=console))
    assert items == list(range(6))
    lines = out.getvalue().splitlines()
    assert lines[0] == "dedupe: stories: started (6 to do)"
    assert lines[-1].startswith("dedupe: stories: 6/6 in ") and lines[-1].endswith(" s (done)")
    middle = lines[1:-1]
    assert middle, "a step longer than every_s reports while it runs"
    assert all(line.startswith("dedupe: stories: ") and "/6 in " in line for line in middle)
    assert len(middle) < 6  # not a line per item


def test_unknown_total_counts_without_a_denominator() -> None:
    out = io.StringIO()
    with progress.bar("polls", console=Console(file=out, force_terminal=False)) as shown:
        shown.advance(3)
    assert out.getvalue().splitlines() == ["polls: started", "polls: 3 in 0 s (done)"]


def test_on_a_terminal_a_bar_with_the_count() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    for _ in progress.track(range(250), "AEB pages", console=console):
        pass
    rendered = out.getvalue()
    assert "AEB pages" in rendered and "250/250" in rendered
    assert "started" not in rendered  # the bar, not the log lines


def test_the_bar_writes_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    list(progress.track([1, 2], "two things"))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "two things" in captured.err
