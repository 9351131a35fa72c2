"""Progress of a reprocess job: followed to its end, and shown once by `reprocess status`."""

from __future__ import annotations

from typing import Any

import pytest

from workers import cli


class Jobs:
    """A job that moves on one batch per look, as the workers would move it."""

    def __init__(self, steps: list[tuple[int, str]]) -> None:
        self.steps = steps
        self.looks = 0

    def progress(self, job_id: str) -> dict[str, Any]:
        done, status = self.steps[min(self.looks, len(self.steps) - 1)]
        self.looks += 1
        return {
            "total": 4,
            "done": done,
            "failed": 0,
            "remaining": 4 - done,
            "rate_per_s": 1.0,
            "eta_s": None,
            "status": status,
        }


@pytest.mark.parametrize(("final", "code"), [("done", 0), ("failed", 1), ("cancelled", 1)])
def test_follow_until_the_job_ends(
    final: str, code: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.time, "sleep", lambda _s: None)
    jobs = Jobs([(0, "running"), (2, "running"), (4, final)])
    assert cli._follow_job(jobs, "j1") == code
    assert jobs.looks == 3
    err = capsys.readouterr().err  # not a terminal: plain lines, the first and the last
    assert err.splitlines()[0].startswith("[        ")
    assert err.splitlines()[-1].startswith("[##############################] 100.0%  done 4") and final in err


def test_status_prints_one_line_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    cli._print_progress(Jobs([(2, "running")]).progress("j"))
    assert capsys.readouterr().out == (
        "[###############               ]  50.0%  done 2, failed 0, remaining 2, 1.0/s  (running)\n"
    )


class Migrating:
    """An index whose migration copies 1,200 documents in batches of 500."""

    def migrate(self, on_progress: Any) -> dict[str, Any]:
        for done in (0, 500, 1000, 1200):
            on_progress(done, 1200)
        return {"copied": 1200}


def test_migrate_shows_progress_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli._migrate_with_progress(Migrating()) == {"copied": 1200}
    err = capsys.readouterr().err.splitlines()
    # the first step and the last one (the others come within 5 s of it)
    assert err == ["migrating the index: 0/1,200 documents copied", "migrating the index: 1,200/1,200 documents copied"]
