"""Progress for long benchmark runs, on stderr so the figures on stdout stay clean.

On a terminal: a rich progress bar (done/total, elapsed, time left). Off a terminal (CI, a log
file): one plain line when the step starts, one every ``every_s`` seconds and one when it ends, so a
run that takes minutes is never silent and a log never fills with redraws.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


def _console() -> Console:
    return Console(file=sys.stderr)


class Bar:
    """One step's progress: ``advance(n)`` as work is done, ``update(done)`` to set it."""

    def __init__(self, description: str, total: int | None, console: Console, every_s: float) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self._console = console
        self._every_s = every_s
        self._started = time.monotonic()
        self._last_line = self._started
        self._progress: Progress | None = None
        self._task: int | None = None
        if console.is_terminal:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(description, total=total)
        else:
            print(f"{description}: started" + (f" ({total:,} to do)" if total is not None else ""),
                  file=console.file, flush=True)

    def update(self, done: int) -> None:
        self.done = done
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done)
            return
        now = time.monotonic()
        if now - self._last_line >= self._every_s:
            self._last_line = now
            print(self.line(), file=self._console.file, flush=True)

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def line(self) -> str:
        of = f"/{self.total:,}" if self.total is not None else ""
        return f"{self.description}: {self.done:,}{of} in {time.monotonic() - self._started:.0f} s"

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        else:
            print(self.line() + " (done)", file=self._console.file, flush=True)


@contextmanager
def bar(description: str, total: int | None = None, every_s: float = 10.0,
        console: Console | None = None) -> Iterator[Bar]:
    """A progress bar for a step whose work is counted by hand."""
    b = Bar(description, total, console or _console(), every_s)
    try:
        yield b
    finally:
        b.close()


def track(items: Iterable[T], description: str, total: int | None = None, every_s: float = 10.0,
          console: Console | None = None) -> Iterator[T]:
    """Iterate ``items`` with a progress bar (``total`` from ``len(items)`` when it has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with bar(description, total, every_s, console) as b:
        for item in items:
            yield item
            b.advance()
