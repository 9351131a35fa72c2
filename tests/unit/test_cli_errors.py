"""Every mistake a user can make ends in one line: what was wrong and what to do; exit 2 for usage, 1 for runtime.

Walks through the list of issue 18 item by item, on the embedded index (and a real Redis where a command needs one).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.index import story_document
from pipeline.models import Claim, CleanStory, DedupeResult, Entity, Extraction
from tests.harness import free_port
from workers import cli
from workers.adapters.sqlite_index import SqliteIndex
from workers.api import Api

WIREWATCH = [sys.executable, "-m", "workers.cli"]
DRILLS_SID = "d" * 32
LONE_SID = "e" * 32
PAGE = 4096
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux
LONG_SID = "c" * 32  # longer than a pipe holds


def _doc(sid: str, title: str, text: str, claim: str, outlet: str = "Harbour Herald") -> dict[str, Any]:
    story = CleanStory(
        sid,
        f"https://n.example/{sid}",
        f"https://n.example/{sid}",
        "f",
        outlet,
        title,
        text,
        published="2026-11-20T08:00:00+00:00",
        language="en",
    )
    claims = (Claim("Dmitry Peskov", "said", "direct", claim, 0, 10),) if claim else ()
    return story_document(
        story,
        DedupeResult(sid, "0" * 16, sid, True),
        Extraction(sid, (Entity("NATO", "org", "Q7184"),), claims, 0.7),
        "2026-11-20T09:00:00+00:00",
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index with enough stories that piping them fills a pipe (64 KiB), so `| head` really closes early."""
    data = tmp_path_factory.mktemp("cli-data")
    index = SqliteIndex(data / "index" / "stories.sqlite")
    index.ensure_ready()
    filler = " ".join(["Ferry timetables along the coast were revised again this week."] * 6)
    for n in range(300):
        sid = f"{n:032x}"
        index.put(
            _doc(
                sid,
                f"Kaliningrad transit report {n}",
                f"Kaliningrad rail freight note {n}. {filler}",
                f"the rail freight schedule number {n} was routine",
            )
        )
    index.put(
        _doc(
            DRILLS_SID,
            "Kaliningrad drills announced",
            "Missile drills began near Kaliningrad. " + filler,
            "the drills were planned long ago",
        )
    )
    index.put(
        _doc(
            LONE_SID,
            "Lighthouse keepers strike",
            "The lighthouse keepers' union called a strike.",
            "",
            outlet="Coastal Courier",
        )
    )
    index.put(_doc(LONG_SID, "Harbour cranes", "Harbour cranes stood idle in the wind. " * 3000, ""))
    index.close()
    return data


@pytest.fixture
def env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in list(os.environ):
        if key.startswith("WIREWATCH_") and not key.startswith("WIREWATCH_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("WIREWATCH_DATA_DIR", str(data_dir))
    return dict(os.environ)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The command in this process: (exit status, stdout, stderr). argparse's own exits are caught too."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got: {err!r}"
    assert "Traceback" not in err
    return lines[0]


def closed_port() -> int:
    return free_port()  # nothing listens on it


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("localhost:6379", "is not a redis/rediss/unix URL"),  # no scheme
        ("redis://localhost:abc/0", "bad port"),
        ("http://localhost:6379", "is not a redis/rediss/unix URL"),
    ],
)
def test_a_malformed_redis_url_is_refused_even_by_search(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str, said: str
) -> None:
    monkeypatch.setenv("WIREWATCH_REDIS_URL", url)
    code, out, err = run(capsys, "search", "kaliningrad")
    line = one_line(err)
    assert code == 2 and out == ""
    assert said in line and "WIREWATCH_REDIS_URL" in line and "redis://localhost:6379/0" in line


def test_a_password_in_a_malformed_url_is_not_printed(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIREWATCH_REDIS_URL", "redis://:s3cret@localhost:port/0")
    code, _, err = run(capsys, "search", "x")
    assert code == 2 and "s3cret" not in err and "***@localhost" in one_line(err)


def test_unreachable_redis(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIREWATCH_REDIS_URL", f"redis://127.0.0.1:{closed_port()}/0")
    code, _, err = run(capsys, "trace", "https://n.example/a")
    line = one_line(err)
    assert code == 1
    assert (
        line.startswith("wirewatch trace: cannot reach Redis at redis://127.0.0.1:") and "WIREWATCH_REDIS_URL" in line
    )


def test_unreachable_elasticsearch(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIREWATCH_ELASTICSEARCH_URL", f"http://127.0.0.1:{closed_port()}")
    code, _, err = run(capsys, "search", "kaliningrad")
    line = one_line(err)
    assert code == 1
    assert "is unavailable" in line and "Connection refused" in line and "WIREWATCH_ELASTICSEARCH_URL" in line
    assert len(line) < 400  # not four chained client errors


@pytest.mark.parametrize("url", ["localhost:9200", "http://localhost:92x0", "ftp://localhost:9200", "http://:9200"])
def test_malformed_elasticsearch_url(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("WIREWATCH_ELASTICSEARCH_URL", url)
    code, _, err = run(capsys, "search", "kaliningrad")
    assert code == 2 and "WIREWATCH_ELASTICSEARCH_URL" in one_line(err) and "http://localhost:9200" in err


def test_an_unknown_setting_is_a_usage_error(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIREWATCH_REDIS_ULR", "redis://localhost:6379/0")
    code, _, err = run(capsys, "search", "x")
    assert code == 2 and "unknown setting WIREWATCH_REDIS_ULR" in one_line(err)


# --- serve ---------------------------------------------------------------------------------------


def test_serve_with_an_unreachable_index(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIREWATCH_ELASTICSEARCH_URL", f"http://127.0.0.1:{closed_port()}")
    code, _, err = run(capsys, "serve", "--port", "0")
    assert code == 1 and "is unavailable" in one_line(err)


def test_serve_on_a_busy_port(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(capsys, "serve", "--port", str(port))
    line = one_line(err)
    assert code == 1 and f"port {port} on 127.0.0.1 is already in use" in line and "--port" in line


def test_serve_port_out_of_range_is_usage(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "serve", "--port", "70000")
    assert code == 2 and "out of range" in one_line(err)


# --- dates and sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("search", "--from", "yesterday"),
        ("search", "--to", "2026-13-45"),
        ("claims", "--from", "nope"),
        ("search", "--from", "2026-02-30"),
        ("reprocess", "--to", "tomorrow"),
    ],
)
def test_bad_dates(env: dict[str, str], capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    code, out, err = run(capsys, *argv)
    line = one_line(err)
    assert code == 2 and out == ""
    assert line.startswith(f"wirewatch {argv[0]}: argument {argv[1]}: {argv[2]!r} is not a date: use YYYY-MM-DD")
    assert f"`wirewatch {argv[0]} --help`" in line


def test_good_dates_pass(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "search", "lighthouse", "--from", "2026-11-20", "--to", "2026-11-20T23:59Z")
    assert code == 0 and out.startswith("1 matching story\n")


@pytest.mark.parametrize("size", ["ten", "-1", "5000"])
def test_bad_size(env: dict[str, str], capsys: pytest.CaptureFixture[str], size: str) -> None:
    code, _, err = run(capsys, "search", "x", "--size", size)
    assert code == 2 and "argument --size" in one_line(err)


# --- query words ---------------------------------------------------------------------------------


def test_minus_word_excludes_without_quotes(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "search", "kaliningrad", "drills")
    assert code == 0 and out.startswith("1 matching story\n") and "Kaliningrad drills announced" in out
    code, out, err = run(capsys, "search", "kaliningrad", "-drills", "--size", "1000", "--json")
    assert code == 0, err
    import json

    body = json.loads(out)
    assert body["total"] == 300 and DRILLS_SID not in {h["story_id"] for h in body["hits"]}
    code, out, _ = run(capsys, "claims", "drills", "-planned")
    assert code == 0 and out.startswith("0 distinct claims")


def test_an_unknown_option_is_still_an_error(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "search", "kaliningrad", "--sorted", "newest")
    assert code == 2 and "unrecognized arguments: --sorted" in one_line(err)


# --- pipes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("search", "kaliningrad", "--size", "1000", "--all-copies"),
        ("claims", "--size", "1000"),
        ("story", LONG_SID, "--json"),
    ],
)
def test_piping_into_head_ends_quietly(env: dict[str, str], argv: tuple[str, ...]) -> None:
    # A pipe holds 64 KiB by default; a writer whose whole output fits ends with 0 before the reader
    # goes away, whatever it does about a closed pipe. The pipe is shrunk to one page first, and the
    # output checked to be larger, so the writer always meets the closed pipe.
    full = subprocess.run([*WIREWATCH, *argv], capture_output=True, env=env, timeout=120)
    assert full.returncode == 0, full.stderr.decode()
    assert len(full.stdout) > 4 * PAGE, len(full.stdout)
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, PAGE)
    proc = subprocess.Popen([*WIREWATCH, *argv], stdout=write_end, stderr=subprocess.PIPE, env=env)
    os.close(write_end)
    assert proc.stderr is not None
    reader = os.fdopen(read_end, "rb")
    first = reader.readline()  # what `head -1` reads before it exits
    reader.close()
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=60)
    assert first.strip()
    assert err == "", err
    assert code == 141  # as a shell reports a writer whose reader went away


# --- the API -------------------------------------------------------------------------------------


def test_api_not_a_story_id_and_a_bad_size(data_dir: Path) -> None:
    api = Api(SqliteIndex(data_dir / "index" / "stories.sqlite"))
    status, body = api.handle("/api/stories/not-an-id", "")
    assert status == 404 and "a story id is 32 hex digits" in body["error"] and "not-an-id" in body["error"]
    status, body = api.handle("/api/nowhere", "")
    assert status == 404 and "/api/search" in body["error"]
    status, body = api.handle("/api/search", "size=abc")
    assert status == 400 and body["error"] == "size must be an integer: 'abc'"
    status, body = api.handle("/api/search", "to=2026-13-45")
    assert status == 400 and "to must be a date" in body["error"]


# --- reprocess, trace, grammar -------------------------------------------------------------------


def test_reprocess_status_without_jobs(
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    redis_client: Any,
) -> None:
    monkeypatch.setenv("WIREWATCH_REDIS_URL", redis_url)
    code, out, err = run(capsys, "reprocess", "status")
    assert code == 0 and out.strip() == "no reprocess jobs yet: `wirewatch reprocess --stage extract` starts one"


def test_no_job_or_record_to_act_on(
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    redis_client: Any,
) -> None:
    monkeypatch.setenv("WIREWATCH_REDIS_URL", redis_url)
    code, _, err = run(capsys, "reprocess", "cancel")
    assert code == 1 and "no reprocess job to cancel" in one_line(err)
    code, _, err = run(capsys, "dead-letter", "show", "1")
    assert code == 1 and "no dead-letter records to show" in one_line(err)
    code, _, err = run(capsys, "dead-letter", "replay", "first")
    assert code == 2 and "'first' is not a record number" in one_line(err)
    code, out, _ = run(capsys, "dead-letter", "list")
    assert code == 0 and out.startswith("0 dead-letter records")


def test_trace_times_say_utc(
    env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    redis_client: Any,
) -> None:
    from workers.adapters.redis_state import RedisEntryLedger

    monkeypatch.setenv("WIREWATCH_REDIS_URL", redis_url)
    RedisEntryLedger(redis_client).record(DRILLS_SID, "fetch", "ok", "200")
    code, out, _ = run(capsys, "trace", DRILLS_SID)
    assert code == 0
    event = out.splitlines()[1]
    assert event.split()[2] == "UTC" and "fetch" in event


def test_counts_speak_grammar(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "search", "lighthouse")
    assert code == 0 and out.startswith("1 matching story\n")
    code, out, _ = run(capsys, "claims", "planned", "--speaker", "Dmitry Peskov")
    assert code == 0 and out.startswith("1 distinct claim\n")
    assert "repeated in 1 story by 1 outlet\n" in out
    code, out, _ = run(capsys, "search", "kaliningrad", "transit")
    assert out.startswith("300 matching stories\n")


def test_story_errors(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "story", "not-an-id")
    assert code == 2 and "is not a story id" in one_line(err)
    code, _, err = run(capsys, "story", "f" * 32)
    assert code == 1 and f"no story {'f' * 32}" in one_line(err)


# --- help, debug ---------------------------------------------------------------------------------


def _parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_option_and_command_has_help() -> None:
    parser = cli.build_parser()
    assert parser.description and "``" not in parser.description
    missing = [
        f"{prog} {action.option_strings or action.dest}"
        for prog, p in _parsers(parser)
        for action in p._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction) and not action.help
    ]
    assert missing == []
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert all(c.help for c in commands._choices_actions)


def test_debug_shows_the_traceback(env: dict[str, str]) -> None:
    bad = {**env, "WIREWATCH_REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"}
    quiet = subprocess.run([*WIREWATCH, "trace", DRILLS_SID], env=bad, capture_output=True, text=True, timeout=60)
    loud = subprocess.run(
        [*WIREWATCH, "trace", DRILLS_SID, "--debug"], env=bad, capture_output=True, text=True, timeout=60
    )
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr and len(quiet.stderr.strip().splitlines()) == 1
    assert loud.returncode == 1 and "Traceback" in loud.stderr and "ConnectionError" in loud.stderr
