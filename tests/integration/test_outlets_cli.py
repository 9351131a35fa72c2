"""`wirewatch outlets`: what the clean stage learned per outlet, as a table and as JSON, on a real Redis."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.boilerplate import paragraph_key, remove_learned_boilerplate
from pipeline.clean import clean
from tests.integration.test_reprocess_jobs import OUTLET_TAIL, outlet_page
from tests.unit.test_cli_errors import closed_port, one_line, run
from workers.runtime import Runtime
from workers.settings import Settings

GAZETTE_TAIL = ("Harbour Gazette readers can have stories like this one sent to their phone every morning by "
                "signing up to the Tideline briefing on our website.")
# Wire background both outlets run under their stories: news, never one outlet's boilerplate.
CREDIT = ("Baltic states have reported hundreds of cases of satellite navigation jamming over their waters since "
          "the spring, which their governments blame on transmitters in Russia.")


@pytest.fixture
def runtime(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    for key in list(os.environ):
        if key.startswith("WIREWATCH_") and not key.startswith("WIREWATCH_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("WIREWATCH_REDIS_URL", redis_url)
    monkeypatch.setenv("WIREWATCH_DATA_DIR", str(tmp_path))
    rt = Runtime(Settings.from_env())
    rt.redis.flushdb()
    yield rt
    rt.redis.flushdb()


def _learn(rt: Runtime, host: str, stories: range, tails: tuple[str, ...]) -> None:
    """Stories of an outlet through what the clean task does with them: cleaned, learned boilerplate
    removed, their paragraphs recorded as evidence."""
    for i in stories:
        page, html = outlet_page(i, host, tails)
        remove_learned_boilerplate(clean(page, html, rt.clean_options), rt.boilerplate, rt.boilerplate_options)


def test_outlets_lists_what_was_learned_per_outlet(runtime: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    need = runtime.boilerplate_options.min_stories
    # One story short of the evidence needed: nothing learned for the Gazette.
    _learn(runtime, "www.harbourgazette.example", range(need - 1), (GAZETTE_TAIL,))
    code, out, err = run(capsys, "outlets")
    assert (code, err) == (0, "")
    assert out == f"nothing learned yet (a paragraph counts after {need} stories of one outlet)\n"
    code, out, _ = run(capsys, "outlets", "--json")
    assert code == 0 and json.loads(out) == {}

    # The Post repeats its tail and a wire paragraph on `need` stories; one story of the Courier carries the
    # wire paragraph too, which makes it wire copy (kept), not the Post's boilerplate.
    _learn(runtime, "www.quaysidepost.example", range(need), (CREDIT, OUTLET_TAIL))
    _learn(runtime, "www.coastalcourier.example", range(1), (CREDIT,))

    code, out, err = run(capsys, "outlets", "--json")
    assert (code, err) == (0, "")
    learned = json.loads(out)
    assert list(learned) == ["quaysidepost.example"]  # nothing for the Gazette (nor the Courier)
    rows = {row["key"]: row for row in learned["quaysidepost.example"]}
    assert rows == {
        paragraph_key(OUTLET_TAIL): {"key": paragraph_key(OUTLET_TAIL), "stories": need, "outlets": 1,
                                     "removed": True, "text": OUTLET_TAIL},
        paragraph_key(CREDIT): {"key": paragraph_key(CREDIT), "stories": need, "outlets": 2, "removed": False,
                                "text": CREDIT},
    }

    code, out, err = run(capsys, "outlets")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "quaysidepost.example" and len(lines) == 3
    assert f"  {need:>4} stories  {'removed':<28} {OUTLET_TAIL[:100]}" in lines[1:]
    assert f"  {need:>4} stories  {'kept: wire copy (2 outlets)':<28} {CREDIT[:100]}" in lines[1:]
    assert "harbourgazette" not in out and GAZETTE_TAIL[:40] not in out and "coastalcourier" not in out

    code, out, _ = run(capsys, "outlets", "--limit", "1", "--json")
    assert code == 0 and len(json.loads(out)["quaysidepost.example"]) == 1


def test_outlets_with_redis_unreachable_says_so_in_one_line(
    runtime: Runtime, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIREWATCH_REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    for argv in (("outlets",), ("outlets", "--json")):
        code, out, err = run(capsys, *argv)
        line = one_line(err)
        assert code == 1 and out == ""
        assert line.startswith("wirewatch outlets: cannot reach Redis at redis://127.0.0.1:")
        assert "WIREWATCH_REDIS_URL" in line
